"""Message tracing, its exporters, and the btsnoop writer."""
