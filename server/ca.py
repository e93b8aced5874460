"""`dewan tls init`: a local certificate authority and a server certificate signed by it.

Browsers (kiosks) trust the authority once (Chrome policy or NSS ``certutil``, see the
README); then Dewan's HTTPS and coturn's TURN/TLS (Chrome verifies both the same way, with no
click-through) use the server certificate, whose SANs name every ``--name`` and ``--ip``.

Files, in the folder given (default ``<state_dir>/tls``, where ``dewan serve`` looks):
``ca.pem`` (give this to the kiosks), ``ca-key.pem`` (keep it; it signs new server
certificates: ``dewan tls init`` again reuses it), ``cert.pem`` + ``key.pem`` (the server's;
``cert.pem`` holds the chain: server then CA).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_DAYS = 397  # Chrome refuses longer-lived server certificates from public CAs; keep to it
CA_DAYS = 3650


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def load_or_create_ca(folder: Path, org: str = "Dewan") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, bool]:
    """The authority in ``folder`` (created when absent); the bool says it was created."""
    cert_path, key_path = folder / "ca.pem", folder / "ca-key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return cert, key, False
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"{org} local CA")])
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, True


def issue_server_cert(folder: Path, names: list[str], ips: list[str], days: int = SERVER_DAYS) -> dict:
    """Sign a server certificate for ``names`` (DNS) and ``ips``; returns the file paths."""
    if not names and not ips:
        raise ValueError("give at least one --name or --ip (what the kiosks and the turns: URL use)")
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    for ip in ips:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
        except ValueError:
            raise ValueError(f"not an IP address: {ip!r}") from None
    ca_cert, ca_key, created = load_or_create_ca(folder)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cn = names[0] if names else ips[0]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": folder / "ca.pem", "ca_key": folder / "ca-key.pem",
             "cert": folder / "cert.pem", "key": folder / "key.pem", "ca_created": created}
    _write_private(paths["key"], _key_pem(key))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM)
                              + ca_cert.public_bytes(serialization.Encoding.PEM))
    return paths
