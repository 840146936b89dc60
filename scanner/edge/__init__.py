"""The I/O edge: trio, sockets, processes, files and the terminal; nothing else touches them."""
