"""The L2CAP layer (Core 5.4 Vol 3 Part A)."""
