"""The SDP layer (Core 5.4 Vol 3 Part B): the server's record database and request handling,
the client's queries, both over L2CAP PSM 0x0001, in a sans-IO core (:mod:`.core`)."""
