"""The analysis core: pure functions over plain data (no sockets, no clock, no files)."""
