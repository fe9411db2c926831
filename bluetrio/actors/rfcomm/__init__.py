"""The RFCOMM layer (RFCOMM 1.2 over 3GPP TS 07.10): a sans-IO core (:mod:`.core`) in the
generic actor shell. See :mod:`.core` for how its modules divide the work."""
