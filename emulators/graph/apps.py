"""Entra ID app registrations of the emulator: client secrets, certificates, home tenant.

What it is: how the token endpoint decides which app is calling. An app has an optional client
secret, any number of certificates (their public keys, found by SHA-1 or SHA-256 thumbprint)
and either a home tenant (a single-tenant app, unknown everywhere else) or none (multi-tenant,
usable in any tenant of the emulator). This is what ``ConfidentialClientApplication`` of msal
proves itself against with ``client_secret`` or ``client_assertion``.

How it works: ``authenticate_client`` reads the form msal posts. A ``client_assertion`` of type
``urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` must be a JWT signed RS256 (msal with
a SHA-1 ``thumbprint``, header ``x5t``) or PS256 (msal with ``public_certificate``, header
``x5t#S256``) by a registered certificate, with ``iss`` = ``sub`` = the client id, ``aud`` =
the token endpoint of the requested tenant, and a current ``nbf``/``exp``. Otherwise the
``client_secret`` must match. Errors are AAD's, with their AADSTS numbers: 700016 unknown app,
7000215 wrong secret, 7000218 no credential, 700027 bad signature or unknown key, 700024 outside
the valid time range, 700021 issuer/subject mismatch, 700212 wrong audience.

How to use it: ``GraphEmulator.register_app(..., certificates=[pem], tenant=...)`` or
``GraphEmulator.create_app(...)``, which makes the key and certificate too.

Caveats: a certificate's validity dates are not checked, only its key; ``jti`` replay is not
tracked.
"""

import binascii
import time
from dataclasses import dataclass, field

from emulators import crypto

from .wire import AadError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300


@dataclass
class AppRegistration:
    client_id: str
    client_secret: str = None
    redirect_uris: tuple = None  # None accepts any redirect URI
    home_tenant: str = None  # tenant id of a single-tenant app
    keys: dict = field(default_factory=dict)  # upper-case hex thumbprint -> public key

    def add_certificate(self, pem):
        """Trust a PEM certificate's key; it is found again by either thumbprint."""
        key = crypto.load_public_key(pem)
        for thumbprint in crypto.certificate_thumbprints(pem):
            self.keys[thumbprint] = key
        return key


@dataclass
class AppCredentials:
    """What an administrator copies out of the Entra admin center for a new app."""

    client_id: str
    tenant_id: str
    authority: str
    client_secret: str = None
    private_key_pem: str = None
    certificate_pem: str = None
    thumbprint: str = None  # SHA-1, upper-case hex, as the admin center shows it
    thumbprint_sha256: str = None

    def msal_credential(self, prefer="certificate"):
        """``client_credential`` for msal's ConfidentialClientApplication."""
        if prefer == "certificate" and self.private_key_pem:
            return {"private_key": self.private_key_pem, "thumbprint": self.thumbprint}
        return self.client_secret


def _not_found(client_id, tenant):
    where = f" in the directory '{tenant.domain}'" if tenant is not None else " in the directory"
    return AadError(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found{where}. This can happen if "
        "the application has not been installed by the administrator of the tenant or "
        "consented to by any user in the tenant. You may have sent your authentication "
        "request to the wrong tenant.",
    )


def find_app(apps, client_id, tenant):
    """The registration of ``client_id`` usable in ``tenant``, or AAD's 700016."""
    app = apps.get(client_id)
    if app is None or (
        tenant is not None and app.home_tenant is not None and app.home_tenant != tenant.id
    ):
        raise _not_found(client_id, tenant)
    return app


def authenticate_client(apps, form, tenant, audiences):
    """Check the client credential of a token request; returns the AppRegistration."""
    client_id = form.get("client_id", "")
    app = find_app(apps, client_id, tenant)
    if form.get("client_assertion") or form.get("client_assertion_type"):
        # msal signs with the wall clock, which the emulator's Clock.advance does not move.
        _check_assertion(app, form, audiences, time.time())
        return app
    secret = form.get("client_secret")
    if secret is None:
        raise AadError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    if app.client_secret is None or secret != app.client_secret:
        raise AadError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request "
            "is the client secret value, not the client secret ID, for a secret added to app "
            f"'{client_id}'.",
        )
    return app


def _thumbprint(header):
    for name in ("x5t#S256", "x5t"):
        if header.get(name):
            try:
                return crypto.b64url_decode(header[name]).hex().upper()
            except (ValueError, binascii.Error):
                return ""
    return ""


def _check_assertion(app, form, audiences, now):
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise AadError(
            400,
            "invalid_request",
            50027,
            "Invalid client_assertion_type; it must be "
            "'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
        )
    try:
        header, claims, signing_input, signature = crypto.decode_signed_jwt(
            form.get("client_assertion", "")
        )
    except crypto.MalformedJwt:
        raise AadError(
            400, "invalid_request", 50027, "JWT token is invalid or malformed."
        ) from None
    thumbprint = _thumbprint(header)
    key = app.keys.get(thumbprint)
    if key is None:
        raise AadError(
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{thumbprint}']",
        )
    if not crypto.verify_signature(key, header.get("alg"), signing_input, signature):
        raise AadError(
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided signature "
            "value did not match the expected signature value.]",
        )
    if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id:
        raise AadError(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )
    if claims.get("aud") not in audiences:
        raise AadError(
            401,
            "invalid_client",
            700212,
            "No matching federated identity record found for presented assertion audience "
            f"'{claims.get('aud')}'.",
        )
    try:
        expires = float(claims["exp"])
        not_before = float(claims.get("nbf", claims.get("iat", now)))
    except (KeyError, TypeError, ValueError):
        expires = not_before = None
    if expires is None or expires < now - CLOCK_SKEW or not_before > now + CLOCK_SKEW:
        raise AadError(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        )
