"""The ``bluetrio`` command line."""
