"""``--client-cert``: the candidate client certificate, its chain and key read and checked once, into memory.

Every problem is a one-line ``UsageFailure`` (exit 2) naming the option at fault. The key is
decrypted here (with ``--client-key-password-file``, or a prompt on a terminal) and kept in
memory as PEM only; no message ever quotes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from scanner.app.errors import UsageFailure
from scanner.protocol.client_credential import ClientCredential

PASSWORD_FILE_LIMIT = 4096  # a passphrase file larger than this is the wrong file


@dataclass(frozen=True, slots=True)
class ClientCertFiles:
    """The preflight options as given; ``ask_password`` prompts on a terminal (None: no terminal)."""

    certificate: Path | None = None
    key: Path | None = None
    chain: Path | None = None
    password_file: Path | None = None
    ask_password: Callable[[str], str] | None = None

    @property
    def given(self) -> bool:
        return any(p is not None for p in (self.certificate, self.key, self.chain, self.password_file))


def read_client_credential(files: ClientCertFiles | None) -> ClientCredential | None:
    """The checked candidate, or None without ``--client-cert``; UsageFailure on any bad input."""
    if files is None or not files.given:
        return None
    if files.certificate is None:
        given = (
            "--client-key" if files.key else "--client-chain" if files.chain else "--client-key-password-file"
        )
        raise UsageFailure(f"{given} needs --client-cert CERT.pem: the certificate to present")
    if files.key is None:
        raise UsageFailure("--client-cert needs --client-key KEY.pem: the private key of the certificate")
    certificates = _certificates("--client-cert", files.certificate)
    chain = _certificates("--client-chain", files.chain) if files.chain is not None else []
    key = _private_key(files)
    leaf = certificates[0]
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
        raise UsageFailure(
            f"--client-key: {files.key} is not the private key of the certificate in {files.certificate}"
        )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # A PEM that holds the chain after the leaf (a full-chain file) sends it too, before --client-chain.
    rest = [c.public_bytes(der) for c in (*certificates[1:], *chain)]
    return ClientCredential(leaf.public_bytes(der), tuple(rest), key_pem)


def _read(option: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageFailure(f"{option}: cannot read {path}: {exc.strerror or exc}") from None


def _certificates(option: str, path: Path) -> list[x509.Certificate]:
    data = _read(option, path)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UsageFailure(f"{option}: {path} is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise UsageFailure(f"{option}: {path} holds a PEM certificate that cannot be parsed") from None


def _private_key(files: ClientCertFiles) -> PrivateKeyTypes:
    assert files.key is not None
    data = _read("--client-key", files.key)
    if b"PRIVATE KEY-----" not in data:
        raise UsageFailure(f"--client-key: {files.key} is not a PEM private key")
    password = _password(files, data)
    try:
        return serialization.load_pem_private_key(data, password)
    except TypeError:  # encrypted and no passphrase, or a passphrase for a key that has none
        if password is None:
            raise UsageFailure(_needs_password(files)) from None
        raise UsageFailure(f"--client-key-password-file: {files.key} is not encrypted") from None
    except ValueError:
        if password is not None:
            raise UsageFailure(f"--client-key: the passphrase does not decrypt {files.key}") from None
        raise UsageFailure(f"--client-key: {files.key} holds a private key that cannot be read") from None
    except Exception:  # an unsupported key type (cryptography's UnsupportedAlgorithm)
        raise UsageFailure(f"--client-key: {files.key} holds a key of a type ekuscan cannot use") from None


def _encrypted(data: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data


def _password(files: ClientCertFiles, data: bytes) -> bytes | None:
    if files.password_file is not None:
        raw = _read("--client-key-password-file", files.password_file)
        if len(raw) > PASSWORD_FILE_LIMIT:
            raise UsageFailure(
                f"--client-key-password-file: {files.password_file} is too large for a passphrase"
            )
        return raw.splitlines()[0] if raw.strip() else b""  # the first line, as openssl's file: does
    if not _encrypted(data):
        return None
    if files.ask_password is None:
        raise UsageFailure(_needs_password(files))
    try:
        return files.ask_password(f"passphrase for {files.key}: ").encode()
    except EOFError:
        raise UsageFailure(_needs_password(files)) from None


def _needs_password(files: ClientCertFiles) -> str:
    return (
        f"--client-key: {files.key} is encrypted: give --client-key-password-file FILE "
        "(or run on a terminal to be asked for the passphrase)"
    )
