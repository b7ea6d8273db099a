"""SecurityCredentials made and checked with the emulator's own certificate (spec §8.2).

A Daraja client encrypts the initiator's password with Safaricom's X.509 certificate (RSA,
PKCS#1 v1.5 padding) and sends it base64-encoded. The emulator cannot decrypt what was made
with Safaricom's certificate, so by default it takes any base64 value; with
``security_credential = "check"`` the client encrypts with the emulator's test certificate
instead (served at ``GET /simulator/certificate``, printed by ``handset credential
--certificate``) and the emulator decrypts the password and compares it with the initiator's.
The key pair is committed (``server/keys``), the same for every install, so a merchant's test
suite can keep a copy of the certificate.
"""

from __future__ import annotations

import base64
import binascii
from functools import cache
from importlib import resources

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# A 2048-bit key with PKCS#1 v1.5 padding seals at most 245 bytes; 60 characters are at most 240
# bytes of UTF-8, and a limit in characters is one a JSON Schema (the OpenAPI document) can state.
PASSWORD_MAX_CHARS = 60


@cache
def certificate_pem() -> bytes:
    """The test certificate, PEM-encoded, as a merchant downloads it."""
    return resources.files("server").joinpath("keys/test-certificate.pem").read_bytes()


@cache
def _public_key() -> rsa.RSAPublicKey:
    key = x509.load_pem_x509_certificate(certificate_pem()).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@cache
def _private_key() -> rsa.RSAPrivateKey:
    pem = resources.files("server").joinpath("keys/test-key.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def encrypt(password: str) -> str:
    """The SecurityCredential for ``password``: what the portal's tool makes, with our certificate."""
    return base64.b64encode(_public_key().encrypt(password.encode("utf-8"), padding.PKCS1v15())).decode("ascii")


def decrypt(credential: str) -> str | None:
    """The password inside a SecurityCredential, or None when it was not made with our certificate."""
    try:
        sealed = base64.b64decode(credential.strip(), validate=True)
        # PKCS#1 v1.5 decryption that fails raises; the library's implementation is constant-time.
        return _private_key().decrypt(sealed, padding.PKCS1v15()).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
