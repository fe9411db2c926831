"""The L2CAP layer (Core 5.4 Vol 3 Part A): a sans-IO core (:mod:`.core`) in the generic
actor shell. See :mod:`.core` for how its modules divide the work."""
