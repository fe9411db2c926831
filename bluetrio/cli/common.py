"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse


def add_transport_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-t",
        "--transport",
        required=True,
        metavar="SPEC",
        help="controller transport: virtual[:NAME], serial:PATH[,BAUD][,rtscts], "
        "usb:[INDEX|VID:PID], tcp:HOST:PORT, unix:PATH",
    )
    parser.add_argument("--snoop", metavar="FILE", help="record HCI traffic as btsnoop")
