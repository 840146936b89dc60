"""Every rule, once, in report order. Adding a rule means one line here."""

from __future__ import annotations

from scanner.core.rules import (
    chain,
    eku,
    estate,
    handshake,
    pairing,
    preflight,
    purpose,
    release,
    sighting,
    validity,
)
from scanner.core.rules._engine import EstateRule, Rule, SightingRule

ALL_RULES: tuple[Rule, ...] = (
    preflight.client_auth_observation_contradicts,
    preflight.client_cert_rejected,
    chain.cert_unparseable,
    validity.expired,
    validity.not_yet_valid,
    eku.eku_no_clientauth,
    eku.chain_eku_no_clientauth,
    eku.eku_no_serverauth,
    eku.chain_eku_no_serverauth,
    eku.key_usage_mismatch,
    purpose.ns_cert_type_no_client,
    purpose.ns_cert_type_no_server,
    purpose.ns_cert_type_malformed,
    purpose.chain_not_a_ca,
    purpose.chain_ns_cert_type_no_ssl_ca,
    eku.clientauth_sunset,
    eku.clientauth_outside_chrome,
    validity.expires_soon,
    chain.self_signed,
    chain.chain_incomplete,
    chain.hostname_mismatch,
    chain.weak_key,
    chain.weak_signature,
    handshake.public_client_ca_trusted,
    handshake.client_ca_outside_chrome,
    release.affected_release,
    release.separate_client_store,
    release.fixed_release,
    eku.eku_absent,
    handshake.client_cert_requested,
)

ESTATE_RULES: tuple[EstateRule, ...] = (
    estate.expressway_version_mismatch,
    pairing.traversal_ca_not_accepted,
    pairing.traversal_ca_root_not_named,
    pairing.traversal_ca_names_unknown,
    pairing.traversal_client_cert_not_requested,
)

# Rules about the evidence of a report from the history store (``ekuscan report``).
SIGHTING_RULES: tuple[SightingRule, ...] = (
    sighting.stale_observation,
    sighting.endpoint_vanished,
    sighting.not_rejudged,
)

EVERY_RULE: tuple[Rule | EstateRule | SightingRule, ...] = (*ALL_RULES, *ESTATE_RULES, *SIGHTING_RULES)

RULES_BY_CODE: dict[str, Rule | EstateRule | SightingRule] = {r.code: r for r in EVERY_RULE}
