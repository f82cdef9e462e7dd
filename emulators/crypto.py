"""RSA keys, certificates and signed JWT checks shared by the two emulators.

What it is: the little public-key work that organisation mode needs. Google service accounts
sign a JWT with their RSA key to ask for a token (the JWT bearer grant, RFC 7523); Entra ID apps
may prove who they are with a JWT signed by the key of a certificate (a client assertion). The
emulators hold only the public halves and check those signatures here.

How it works: ``new_private_key`` makes a 2048-bit RSA key with ``cryptography``;
``private_key_pem`` writes it as unencrypted PKCS#8 PEM, the form Google puts in a JSON key file
and msal accepts. ``self_signed_certificate`` wraps a public key in a short X.509 certificate
and reports its SHA-1 and SHA-256 thumbprints, which Entra ID shows and clients send in the
``x5t`` / ``x5t#S256`` header. ``decode_signed_jwt`` splits a compact JWT, decodes header and
claims, and ``verify_signature`` checks RS256 (PKCS#1 v1.5) or PS256 (PSS) signatures.

How to use it::

    key = new_private_key()
    header, claims, signing_input, signature = decode_signed_jwt(token)
    ok = verify_signature(key.public_key(), header["alg"], signing_input, signature)

Caveats: no claim is checked here (audience, lifetime and issuer rules differ between Google and
Microsoft, and so do their error texts); callers do that. Keys are made fresh per call, which
takes some tens of milliseconds.
"""

import base64
import datetime
import json

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SIGNING_ALGORITHMS = ("RS256", "PS256")


class MalformedJwt(ValueError):
    """The text is not a compact JWS with JSON header and claims."""


def new_private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_private_key(pem):
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    return serialization.load_pem_private_key(data, password=None)


def public_key_pem(public_key):
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem):
    """A public key from PEM text: a public key, or a certificate holding one."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def self_signed_certificate(key, common_name, days=365):
    """(certificate PEM, SHA-1 thumbprint hex, SHA-256 thumbprint hex) for ``key``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return (pem, *certificate_thumbprints(pem))


def certificate_thumbprints(pem):
    """(SHA-1, SHA-256) thumbprints of a PEM certificate, upper-case hex as Entra ID shows."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    certificate = x509.load_pem_x509_certificate(data)
    return (
        certificate.fingerprint(hashes.SHA1()).hex().upper(),
        certificate.fingerprint(hashes.SHA256()).hex().upper(),
    )


def b64url_decode(text):
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_signed_jwt(token):
    """(header, claims, signing input bytes, signature bytes) of a compact JWS."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not all(parts):
        raise MalformedJwt("a signed JWT has three non-empty parts")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedJwt(str(error)) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedJwt("header and claims must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def verify_signature(public_key, algorithm, signing_input, signature):
    """True when ``signature`` is a valid RS256 or PS256 signature of ``signing_input``."""
    if algorithm == "RS256":
        scheme = padding.PKCS1v15()
    elif algorithm == "PS256":
        scheme = padding.PSS(
            mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size
        )
    else:
        return False
    try:
        public_key.verify(signature, signing_input, scheme, hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_jwt(key, claims, header=None, algorithm="RS256"):
    """A compact JWS of ``claims`` signed with ``key`` (for tests that forge assertions)."""
    head = {"alg": algorithm, "typ": "JWT", **(header or {})}
    signing_input = (
        b64url(json.dumps(head, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if algorithm == "PS256":
        scheme = padding.PSS(
            mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size
        )
    else:
        scheme = padding.PKCS1v15()
    signature = key.sign(signing_input.encode("ascii"), scheme, hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"
