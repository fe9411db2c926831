"""The Security Manager Protocol layer (Core 5.4 Vol 3 Part H)."""
