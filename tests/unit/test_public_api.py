"""The public face of the package: one place for the public types, every error in
``bluetrio/errors.py``, exported, and raised somewhere."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import bluetrio
from bluetrio import errors

PACKAGE = Path(bluetrio.__file__).parent
# Exceptions that never leave the module raising them: the virtual controller turns a
# CommandError into the status of its answer; the key store turns _DamagedField into a
# KeyStoreError naming the file.
INTERNAL_EXCEPTIONS = {"CommandError", "FeatureWriteRefused", "_DamagedField", "_PairingAborted"}
# Errors the application raises for the stack to catch (a GATT server callback's chosen ATT
# error), so no raise of the package's own need name them.
RAISED_BY_APPLICATIONS = {"GattApplicationError"}


def all_modules() -> list[str]:
    names = ["bluetrio"]
    for module in pkgutil.walk_packages([str(PACKAGE)], prefix="bluetrio."):
        names.append(module.name)
    return names


def bluetrio_errors() -> set[type[BaseException]]:
    """The error classes the package's modules define (not those they import, nor any class
    a test put into a module's namespace)."""
    found: set[type[BaseException]] = set()
    for name in all_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == name
                and issubclass(value, errors.BluetrioError)
            ):
                found.add(value)
    return found


# These tests read the package's source files and compare them with each other, never with
# the package as imported: a run whose tree changes under it (a checkout or merge while the
# suite runs from that tree) would otherwise compare old objects with new files.


def source_trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))}


def base_names(node: ast.ClassDef) -> set[str]:
    return {
        base.id if isinstance(base, ast.Name) else base.attr
        for base in node.bases
        if isinstance(base, ast.Name | ast.Attribute)
    }


def error_names_in_errors_py(trees: dict[Path, ast.Module]) -> set[str]:
    classes = [n for n in ast.walk(trees[PACKAGE / "errors.py"]) if isinstance(n, ast.ClassDef)]
    names = {"BluetrioError"}
    while grown := {c.name for c in classes if base_names(c) & names} - names:
        names |= grown
    return names


def exported_names(trees: dict[Path, ast.Module]) -> set[str]:
    for node in trees[PACKAGE / "__init__.py"].body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return set(ast.literal_eval(node.value))
    raise AssertionError("bluetrio/__init__.py has no __all__")


def raised_names(trees: dict[Path, ast.Module] | None = None) -> set[str]:
    """Names of the exception classes that some ``raise`` statement of the package raises."""
    names: set[str] = set()
    for path, tree in (trees or source_trees()).items():
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name):
                    names.add(exc.id)
                elif isinstance(exc, ast.Attribute):
                    names.add(exc.attr)
    return names


def test_every_error_is_defined_in_errors_py() -> None:
    misplaced = {e.__qualname__ for e in bluetrio_errors() if e.__module__ != "bluetrio.errors"}
    assert misplaced == set()
    trees = source_trees()
    error_names = error_names_in_errors_py(trees)
    defined_elsewhere = {
        f"{path.relative_to(PACKAGE)}: {node.name}"
        for path, tree in trees.items()
        if path != PACKAGE / "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and base_names(node) & error_names
    }
    assert defined_elsewhere == set()


def test_every_error_is_exported_from_the_package() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.BluetrioError)
    }
    exported = {name for name in bluetrio.__all__ if name in defined}
    assert defined - exported == set()


def test_every_exported_error_is_raised_somewhere() -> None:
    raised = raised_names()
    exported = [
        getattr(bluetrio, name)
        for name in bluetrio.__all__
        if isinstance(getattr(bluetrio, name), type)
        and issubclass(getattr(bluetrio, name), errors.BluetrioError)
    ]
    never = [
        error.__name__
        for error in exported
        # A base class is raised when one of its subclasses is.
        if not any(issubclass(getattr(errors, name, type), error) for name in raised)
        if isinstance(getattr(errors, error.__name__, None), type)
        and error.__name__ not in RAISED_BY_APPLICATIONS
    ]
    assert never == []


def test_every_raised_exception_is_a_builtin_or_an_exported_error() -> None:
    trees = source_trees()
    exported = exported_names(trees)
    unknown = {
        name
        for name in raised_names(trees)
        if name[0].isupper()
        and not hasattr(builtins, name)
        and name not in exported
        and name not in INTERNAL_EXCEPTIONS
        # trio's (the stream and channel contracts of bluetrio.l2cap)
        and name
        not in {
            "WouldBlock",
            "EndOfChannel",
            "ClosedResourceError",
            "BrokenResourceError",
            "BusyResourceError",
        }
        and name != "ArgumentTypeError"  # argparse's, turned by it into a usage error
    }
    assert unknown == set()


def test_the_package_exports_what_it_lists() -> None:
    assert len(bluetrio.__all__) == len(set(bluetrio.__all__))
    for name in bluetrio.__all__:
        assert hasattr(bluetrio, name), name
    for name in ("Link", "AdvertisingData", "LinkTransport", "Address", "PairingDelegate"):
        assert name in bluetrio.__all__
