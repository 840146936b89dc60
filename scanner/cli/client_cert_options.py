"""The preflight options of ``ekuscan scan``: the candidate client certificate to present."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from scanner.app.client_cert import ClientCertFiles

ClientCertOption = Annotated[
    Path | None,
    typer.Option(
        "--client-cert",
        metavar="CERT.pem",
        help="Present this certificate (PEM; a chain after it is sent too) to every endpoint that asks for "
        "a client certificate, in the probe's own connection, and report what the server did with it "
        "(client_auth_test): a preflight before installing a renewed certificate.",
        show_default=False,
    ),
]

ClientKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--client-key",
        metavar="KEY.pem",
        help="The private key of --client-cert (PEM). Kept in memory only: never logged, printed or stored.",
        show_default=False,
    ),
]

ClientChainOption = Annotated[
    Path | None,
    typer.Option(
        "--client-chain",
        metavar="CHAIN.pem",
        help="Intermediate CA certificates (PEM) to send after --client-cert.",
        show_default=False,
    ),
]

ClientKeyPasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--client-key-password-file",
        metavar="FILE",
        help="The passphrase of an encrypted --client-key: the file's first line [default: asked on a "
        "terminal; off a terminal an encrypted key without it is an error].",
        show_default=False,
    ),
]


def _ask(prompt: str) -> str:
    return getpass.getpass(prompt)


def client_cert_files(
    certificate: Path | None, key: Path | None, chain: Path | None, password_file: Path | None
) -> ClientCertFiles | None:
    """The options as the app takes them, with a passphrase prompt where stdin is a terminal."""
    from scanner.app.client_cert import ClientCertFiles  # cryptography: loaded for a scan only

    files = ClientCertFiles(certificate, key, chain, password_file, _ask if sys.stdin.isatty() else None)
    return files if files.given else None
