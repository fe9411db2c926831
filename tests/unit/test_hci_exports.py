"""``bluetrio.messages.hci`` exports the codec (packet classes, their constants, the codec
functions) and nothing it merely imports."""

from __future__ import annotations

import importlib
import inspect
import types

import bluetrio.messages.hci as hci

CODEC_MODULES = ("base", "commands", "data", "events", "features", "status")


def codec_names() -> set[str]:
    """Public names defined (not imported) by the codec's modules, and the package's own."""
    names = {"PacketType", "HciPacket"}
    for module in (hci, *(importlib.import_module(f"{hci.__name__}.{m}") for m in CODEC_MODULES)):
        source = module.__name__
        for name, value in vars(module).items():
            if name.startswith("_") or inspect.ismodule(value) or name == "annotations":
                continue
            defined_here = getattr(value, "__module__", None) == source
            if (inspect.isclass(value) or inspect.isfunction(value)) and not defined_here:
                continue
            # Constants: numbers and tables (not the field types or type variables).
            if not (inspect.isclass(value) or inspect.isfunction(value)) and not isinstance(
                value, int | dict | types.UnionType
            ):
                continue
            names.add(name)
    return names


def test_all_lists_exactly_the_codec() -> None:
    assert set(hci.__all__) == codec_names(), (
        "add new packet classes to bluetrio.messages.hci.__all__"
    )


def test_no_helper_modules_or_typing_names_leak() -> None:
    for name in ("attrs", "struct", "enum", "Any", "Callable", "U8", "TypeVar", "Address"):
        assert name not in hci.__all__
    namespace: dict[str, object] = {}
    exec("from bluetrio.messages.hci import *", namespace)
    assert "attrs" not in namespace and "ReadBdAddr" in namespace
