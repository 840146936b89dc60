"""The application: scan, inspect, history and the rest as plain functions from a request to an outcome.

The CLI (``scanner.cli``) parses options into a request, calls one function here, and turns
the outcome (or a ``UsageFailure`` / ``ScanFailed``) into an exit code.
"""
