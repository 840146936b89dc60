"""A hostile estate for the output-safety tests (not part of the demo): servers whose every name lies.

Certificates whose CN, O and OU, SANs and issuer names carry terminal escapes (OSC title, clear
screen, colours, conceal), BEL, C1 controls, bidi overrides and isolates, HTML and SVG markup
with event handlers, spreadsheet formulas, quotes, backslashes and newlines; a SIP ``Server``
banner and an HTTP ``Server`` header made of the same; a CertificateRequest naming CAs with such
names; a plain-text greeting likewise. Real TLS servers on loopback (pyOpenSSL, the lab's own
connection handler), in a background thread, so the real CLI can be pointed at them.

cryptography refuses such names in the ordinary API (a DNSName must be an A-label, a CN at most
64 characters), so the SAN is written as raw DER and the name attributes skip validation: a
hostile server is not bound by what a well-behaved library lets one build.
"""

from __future__ import annotations

import contextlib
import csv
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID
from OpenSSL import SSL

from scanner.lab import Behaviour, Issued, LabService, handle_connection
from tests.addresses import HOSTILE
from tests.factories import NOW

HOST = str(HOSTILE[1])  # SIP 5061, mutual TLS 7001, HTTPS 8443
PLAIN_HOST = str(HOSTILE[2])  # plain text on 5062
SIP_PORT, MTLS_PORT, HTTP_PORT, PLAIN_PORT = 5061, 7001, 8443, 5062

MARK = "INJECTED"  # follows a newline in every payload: no output line may start with it
TERMINAL = "\x1b]0;owned\x07\x1b[2J\x1b[8m\x1b[31;1m\x9b2J\x9d0;c1\x9c\x07"
BIDI = "\u202egnp.exe\u202c\u2066x\u2069"
MARKUP = (
    '<svg id="injected" onload="alert(1)"><ekuscan-injected class="injected"></ekuscan-injected>'
    "<img src=x onerror=alert(2)></td></tr></table><script>alert(3)</script>"
)
QUOTES = "\"'\\"


def payload(field: str, start: str = '=HYPERLINK("http://attacker.invalid","click")') -> str:
    """Everything at once, tagged with the field it is in: formula first, newline and MARK last."""
    return f"{start}{TERMINAL}{field}{BIDI}{MARKUP}{QUOTES}\n{MARK}-{field}"


def banner(field: str, start: str = "=cmd|' /C calc'!A0") -> str:
    """A payload that fits one header line (a header ends at the newline)."""
    return payload(field, start).replace("\n", " ")


SIP_BANNER = banner("sip-server")
HTTP_BANNER = banner("http-server", start="+SUM(1+1)")
PLAIN_GREETING = payload("plain-greeting", start=TERMINAL)
LABEL = "@SUM(1+1)" + TERMINAL + BIDI + "<b>label</b>"  # a target CSV's label: a file's text
PLAIN_LABEL = "-2+3" + TERMINAL + "<i>label</i>"


def _name(prefix: str, *, unit: bool = False) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, payload(f"{prefix}-o"), _validate=False),
        x509.NameAttribute(NameOID.COMMON_NAME, payload(f"{prefix}-cn"), _validate=False),
    ]
    if unit:
        attributes.insert(
            1, x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, payload(f"{prefix}-ou"), _validate=False)
        )
    return x509.Name(attributes)


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def raw_san(names: list[str]) -> x509.UnrecognizedExtension:
    """A subjectAltName of dNSName entries ([2] IA5String) holding any bytes: UTF-8 of ``names``."""
    entries = b"".join(b"\x82" + _der_length(len(n.encode())) + n.encode() for n in names)
    return x509.UnrecognizedExtension(
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30" + _der_length(len(entries)) + entries
    )


def _issue(subject: x509.Name, issuer: Issued | None, *, ca: bool, san: tuple[str, ...] = ()) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=200))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if san:
        builder = builder.add_extension(raw_san(list(san)), critical=False)
    return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


@dataclass(frozen=True)
class HostilePKI:
    """A root (passed as --public-roots), an issuing CA and two leaves (before and after a renewal)."""

    root: Issued
    ca: Issued
    leaf: Issued
    renewed: Issued

    @classmethod
    def generate(cls) -> HostilePKI:
        with warnings.catch_warnings():  # cryptography warns, even unvalidated, of a CN over 64
            warnings.filterwarnings("ignore", "Attribute's length must be", UserWarning)
            root = _issue(_name("root"), None, ca=True)
            ca = _issue(_name("ca"), root, ca=True)
            leaves = [
                _issue(_name(tag, unit=True), ca, ca=False, san=(payload(f"{tag}-san"), "ok.example.test"))
                for tag in ("leaf", "renewed")
            ]
        return cls(root, ca, *leaves)


def server_context(leaf: Issued, pki: HostilePKI, *, client_cas: bool = False) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.use_certificate(leaf.cert)
    ctx.use_privatekey(leaf.key)
    ctx.add_extra_chain_cert(pki.ca.cert)
    if client_cas:  # a traversal port: demands a client certificate from CAs with hostile names
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
        ctx.add_client_ca(pki.root.cert)
        ctx.add_client_ca(pki.ca.cert)
    return ctx


@dataclass
class HostileServers:
    """The servers, in a background thread; ``renew()`` makes them present the renewed leaf."""

    pki: HostilePKI = field(default_factory=HostilePKI.generate)
    _leaf: Issued | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: tuple[trio.lowlevel.TrioToken, trio.CancelScope] | None = None

    def renew(self, renewed: bool = True) -> None:
        """Present the renewed leaf from the next connection on (``False``: the first one again)."""
        self._leaf = self.pki.renewed if renewed else None

    def _context(self, client_cas: bool) -> SSL.Context:
        return server_context(self._leaf or self.pki.leaf, self.pki, client_cas=client_cas)

    def _handler(self, behaviour: Behaviour, banner: str = "", *, client_cas: bool = False):
        service = LabService(0, behaviour, banner=banner)

        async def handler(stream: trio.SocketStream) -> None:
            ctx = None if behaviour is Behaviour.PLAIN else self._context(client_cas)
            await handle_connection(stream, ctx, service)

        return handler

    async def _serve(self) -> None:
        services = [
            (HOST, SIP_PORT, self._handler(Behaviour.SIP, SIP_BANNER)),
            (HOST, MTLS_PORT, self._handler(Behaviour.TLS, client_cas=True)),
            (HOST, HTTP_PORT, self._handler(Behaviour.HTTP, HTTP_BANNER)),
            (PLAIN_HOST, PLAIN_PORT, self._handler(Behaviour.PLAIN, PLAIN_GREETING)),
        ]
        with trio.CancelScope() as scope:
            self._stop = (trio.lowlevel.current_trio_token(), scope)
            async with trio.open_nursery() as nursery:
                for host, port, handler in services:
                    assert host.startswith("127."), "tests serve on loopback only"
                    listeners = await trio.open_tcp_listeners(port, host=host)
                    nursery.start_soon(trio.serve_listeners, handler, listeners)
                self._ready.set()

    def __enter__(self) -> HostileServers:
        self._thread = threading.Thread(target=trio.run, args=(self._serve,), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the hostile servers did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            token, scope = self._stop
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(scope.cancel)
        self._thread.join(10)


def targets_csv() -> str:
    """The hostile estate as a target CSV; the labels are hostile too (text from a file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["target", "ports", "role", "sni", "label"])
    writer.writerow([HOST, f"{SIP_PORT};{MTLS_PORT};{HTTP_PORT}", "", "", LABEL])
    writer.writerow([PLAIN_HOST, str(PLAIN_PORT), "", "", PLAIN_LABEL])
    return out.getvalue()


@contextlib.contextmanager
def running() -> Iterator[HostileServers]:
    with HostileServers() as servers:
        yield servers
