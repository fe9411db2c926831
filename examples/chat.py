"""A chat over RFCOMM, one message per line: ``bluetrio chat`` as a script.

    python examples/chat.py                                    # the demo with a friend
    python examples/chat.py -t unix:/tmp/air --listen          # wait for a peer
    python examples/chat.py -t unix:/tmp/air --connect ADDRESS # call one

The parts are in :mod:`bluetrio.cli.chat` (discovery, pairing, SDP and RFCOMM on the stack),
:mod:`bluetrio.cli.conversation` (lines over any Trio stream) and
:mod:`bluetrio.cli.console` (pipes and terminals).
"""

import sys

from bluetrio.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["chat", *sys.argv[1:]]))
