"""A self-signed certificate for loopback TLS tests (``cryptography``), and client
contexts that trust it.

The certificate names ``localhost`` and ``127.0.0.1`` (subject alternative names), so a
client verifying the hostname against ``127.0.0.1`` accepts it; it is valid from an hour
ago for a day. Nothing is fetched from anywhere.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(directory: Path, name: str = "ceres-test") -> tuple[Path, Path]:
    """Write ``NAME.crt`` and ``NAME.key`` (PEM) into ``directory``; returns their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def client_context(cert_path: Path) -> ssl.SSLContext:
    """A client context that trusts exactly this certificate (hostname checked)."""
    return ssl.create_default_context(cafile=str(cert_path))


def tls_config(cert_path: Path, key_path: Path, extra: str = "") -> str:
    return f'[tls]\ncert = "{cert_path}"\nkey = "{key_path}"\n{extra}'
