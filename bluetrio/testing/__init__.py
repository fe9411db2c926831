"""Helpers to test applications built on bluetrio, and the stack itself (see the submodules)."""
