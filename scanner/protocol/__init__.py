"""Sans-I/O protocol code: the TLS client handshake over memory BIOs, SIP and HTTP probes."""
