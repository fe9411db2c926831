"""Typed messages exchanged between actors, and wire codecs for each protocol."""
