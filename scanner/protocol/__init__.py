"""Sans-I/O protocol code: the TLS client over memory BIOs, the SIP and HTTP probes, their header block."""
