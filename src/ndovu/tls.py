"""The server's TLS certificate: the operator's, or one ndovu makes and keeps.

``--tls-cert`` and ``--tls-key`` name the operator's PEM files. ``--tls-self-signed``
makes a certificate in the state directory on the first start (as BDE's server came with
one on 8443) and keeps it, so clients that pinned it (the CLI's ``--ca-file``) go on
trusting it; its SHA-256 fingerprint is logged at every start, for them to check. The key
is the owner's only (0600), an ECDSA P-256 key made by ``cryptography``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ndovu.errors import NdovuError

SELF_SIGNED_DIR = "tls"
SELF_SIGNED_DAYS = 3 * 365


class TlsError(NdovuError):
    code = "tls_error"


def certificate_files(cert: str, key: str, self_signed: bool, state_dir: Path,
                      host: str) -> tuple[Path, Path] | None:
    """(certificate, key) to serve with, or None for plain HTTP."""
    if self_signed and (cert or key):
        raise TlsError("give either --tls-cert and --tls-key, or --tls-self-signed, not both")
    if bool(cert) != bool(key):
        raise TlsError("--tls-cert and --tls-key go together: give both PEM files")
    if cert:
        for path in (Path(cert), Path(key)):
            if not path.is_file() or not os.access(path, os.R_OK):
                raise TlsError(f"cannot read {path}", hint="give a readable PEM file")
        return Path(cert), Path(key)
    if self_signed:
        return _self_signed(state_dir / SELF_SIGNED_DIR, host)
    return None


def fingerprint(cert: Path) -> str:
    """The certificate's SHA-256 fingerprint, as browsers and openssl show it."""
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    return ":".join(f"{b:02X}" for b in loaded.fingerprint(hashes.SHA256()))


def _self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    cert, key = folder / "server.crt", folder / "server.key"
    if cert.is_file() and key.is_file():
        return cert, key  # kept: clients may have pinned it
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    name = host if host not in ("0.0.0.0", "::", "") else socket.getfqdn()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ndovu")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(_names(name)), critical=False)
        # its own issuer: what a client pins with --ca-file is this very certificate
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(private, hashes.SHA256()))
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _names(host: str) -> list[x509.GeneralName]:
    """The names clients may use: the host (an address or a DNS name), and loopback."""
    names: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        names.insert(0, x509.DNSName(host))
    else:
        if address != ipaddress.ip_address("127.0.0.1"):
            names.insert(0, x509.IPAddress(address))
    return names
