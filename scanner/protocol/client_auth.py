"""What a server did with the client certificate we presented, from what the handshake showed (sans-I/O).

The alert names are the TLS protocol's own (the IANA TLS Alerts registry, RFC 8446 section 6
and RFC 5246 section 7.2): wire constants like a record's content type, not policy. What an
alert *means* for a client certificate is policy data (``policy.json``'s ``client_cert_alerts``),
filled in by the analysis.
"""

from __future__ import annotations

from typing import Final

from scanner.model import ClientAuthOutcome, ClientAuthTest
from scanner.protocol.tls import TLSFacts

ALERT_NAMES: Final[dict[int, str]] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    30: "decompression_failure",
    40: "handshake_failure",
    41: "no_certificate",
    42: "bad_certificate",
    43: "unsupported_certificate",
    44: "certificate_revoked",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    49: "access_denied",
    50: "decode_error",
    51: "decrypt_error",
    60: "export_restriction",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    100: "no_renegotiation",
    109: "missing_extension",
    110: "unsupported_extension",
    111: "certificate_unobtainable",
    112: "unrecognized_name",
    113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value",
    115: "unknown_psk_identity",
    116: "certificate_required",
    120: "no_application_protocol",
}


def alert_name(code: int) -> str:
    return ALERT_NAMES.get(code, f"alert_{code}")


def judge_client_auth(
    facts: TLSFacts, completed: bool, certificate: str, ended: str | None = None
) -> ClientAuthTest:
    """The preflight's answer for one connection that presented ``certificate`` (its SHA-256).

    ``completed``: the handshake reached HandshakeDone (and, for TLS 1.3, whose servers judge the
    certificate after our Finished, the probe then read once, bounded, for their alert);
    ``ended``: why an unfinished exchange stopped, for an error.
    The meaning of a rejection is the analysis's (policy data); this says only what happened.
    """
    if not facts.client_cert_requested:
        return ClientAuthTest(
            certificate,
            ClientAuthOutcome.NOT_REQUESTED,
            None,
            "the server did not ask for a client certificate: nothing was sent",
        )
    if facts.peer_alert is not None:
        name = alert_name(facts.peer_alert)
        return ClientAuthTest(
            certificate, ClientAuthOutcome.REJECTED, name, f"the server ended the handshake with {name}"
        )
    if completed:
        return ClientAuthTest(
            certificate,
            ClientAuthOutcome.ACCEPTED,
            None,
            "the handshake completed with the certificate and the server did not reject it",
        )
    why = ended or "the exchange ended without a verdict"
    return ClientAuthTest(certificate, ClientAuthOutcome.ERROR, None, f"no verdict on the certificate: {why}")
