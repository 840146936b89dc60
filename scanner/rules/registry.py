"""Every rule, once, in report order. Adding a rule means one line here."""

from __future__ import annotations

from scanner.rules import chain, eku, handshake, validity
from scanner.rules._engine import Rule

ALL_RULES: tuple[Rule, ...] = (
    chain.cert_unparseable,
    validity.expired,
    validity.not_yet_valid,
    eku.eku_no_clientauth,
    eku.chain_eku_no_clientauth,
    eku.eku_no_serverauth,
    eku.chain_eku_no_serverauth,
    eku.key_usage_mismatch,
    eku.clientauth_sunset,
    validity.expires_soon,
    chain.self_signed,
    chain.chain_incomplete,
    chain.hostname_mismatch,
    chain.weak_key,
    chain.weak_signature,
    eku.eku_absent,
    handshake.client_cert_requested,
)

RULES_BY_CODE: dict[str, Rule] = {r.code: r for r in ALL_RULES}
