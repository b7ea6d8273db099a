"""Make the emulator's test key pair: server/keys/test-certificate.pem and test-key.pem.

Run once; the files are committed, so every install encrypts and checks SecurityCredentials
with the same certificate, and a merchant's test suite can keep a copy. The private key is no
secret: it stands in for Safaricom's, and only ever guards test passwords.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEYS = Path(__file__).resolve().parent.parent / "server" / "keys"


def main() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mpesa-handset"),
            x509.NameAttribute(NameOID.COMMON_NAME, "mpesa-handset test certificate (not Safaricom's)"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2046, 1, 1, tzinfo=datetime.UTC))
        .sign(key, hashes.SHA256())
    )
    KEYS.mkdir(exist_ok=True)
    (KEYS / "test-certificate.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (KEYS / "test-key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    print(f"wrote {KEYS / 'test-certificate.pem'} and {KEYS / 'test-key.pem'}")


if __name__ == "__main__":
    main()
