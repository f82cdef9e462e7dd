"""Microsoft 365 organisation mode: one app registration reading its tenant's mailboxes.

What it is
    The helpers behind an organisation connection to Microsoft 365: :func:`app_credential`
    (a client secret, or a certificate as msal wants it), :func:`app_token_source` (app-only
    tokens shared by every mailbox of the tenant), :func:`check_access` (which application
    permissions lack admin consent, and whether a mailbox can be read) and
    :func:`tenant_users` (the tenant's users, from ``GET /users``).

How it works
    The app uses the client credentials grant with the ``.default`` scope: the token carries,
    in its ``roles`` claim, every application permission an administrator consented to in
    that tenant, and nothing else. :func:`check_access` reads that claim to say which of
    ``Mail.Read`` and ``Mail.Send`` are missing (``Mail.ReadWrite`` counts as ``Mail.Read``),
    then reads one mailbox's Inbox to find a restriction the token does not show, such as an
    Exchange RBAC for Applications scope that leaves that mailbox out. Exchange's own grants
    do not show in the token either: a mailbox that can be read without ``Mail.Read`` in
    ``roles`` means the app is scoped by Exchange RBAC for Applications, which is reported as a
    note rather than as missing consent. Mailboxes are then read
    under ``/users/{id}`` by :class:`~.graph.GraphProvider` with ``user=`` and the shared
    ``token_source``.

Use
    ::

        credential = app_credential(secret="...")            # or private_key=, thumbprint=
        tokens = app_token_source(client_id, credential, tenant_id, endpoints)
        report = check_access(tokens, endpoints, probe_user="ann@contoso.com")
        users = tenant_users(tokens, endpoints)              # needs User.Read.All

Caveats
    Reading ``roles`` assumes Graph's access tokens are JWTs, which they are today; a token
    that cannot be read is taken as granting everything, and the mailbox probe then decides.
"""

import base64
import binascii
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

import msal
import requests

from ..provider import AuthorisationLost, TemporaryError
from .graph_http import GraphClient, Refused
from .graph_oauth import TokenSource, build_app
from .graph_wire import GraphConfigError

_logger = logging.getLogger(__name__)

# Each application permission the addon needs, and the roles that satisfy it.
REQUIRED_ROLES = {
    "Mail.Read": frozenset({"Mail.Read", "Mail.ReadWrite"}),
    "Mail.Send": frozenset({"Mail.Send"}),
}
DIRECTORY_ROLES = frozenset({"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"})
USERS_SELECT = "id,displayName,mail,userPrincipalName,accountEnabled"
USERS_PAGE_SIZE = 999


@dataclass
class AccessReport:
    """What :func:`check_access` found: missing permissions, and problems in words."""

    missing: tuple = ()
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    directory: bool = False

    @property
    def ok(self):
        return not self.missing and not self.problems


def certificate_thumbprint(pem):
    """The SHA-1 thumbprint (hex) of the first certificate in ``pem``, as Entra shows it."""
    text = pem.decode() if isinstance(pem, bytes) else pem
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    if begin not in text or end not in text:
        raise GraphConfigError("No certificate (BEGIN CERTIFICATE) was found in the PEM.")
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise GraphConfigError("The certificate in the PEM cannot be decoded.") from None
    # Microsoft Entra names a certificate by the SHA-1 digest of its DER bytes.
    return hashlib.sha1(der).hexdigest().upper()


def app_credential(secret=None, private_key=None, thumbprint=None):
    """msal's client credential: the secret, or the certificate's private key and thumbprint."""
    if private_key:
        if not thumbprint:
            raise GraphConfigError(
                "A certificate needs its thumbprint: paste the certificate with the key, or "
                "type the thumbprint Microsoft Entra shows for it."
            )
        return {"private_key": private_key, "thumbprint": thumbprint.replace(":", "").upper()}
    if secret:
        return secret
    raise GraphConfigError("Set a client secret or a certificate for the Microsoft app.")


def app_token_source(client_id, credential, tenant, endpoints, session=None):
    """A TokenSource of app-only tokens for ``tenant``; msal keeps them in memory."""
    if not tenant or tenant in ("common", "organizations", "consumers"):
        raise GraphConfigError(
            "Organisation mode needs the tenant id (or its primary domain), not "
            f"{tenant or 'nothing'}: client credentials belong to one tenant."
        )
    cache = msal.SerializableTokenCache()

    def build():
        return build_app(client_id, credential, tenant, endpoints, cache, session)

    return TokenSource(build, cache, app_only=True)


def token_roles(access_token):
    """The ``roles`` claim of a JWT access token, or None when the token cannot be read."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return frozenset(roles) if isinstance(roles, list) else frozenset()


def check_access(tokens, endpoints, probe_user=None, **client_options):
    """An :class:`AccessReport` of the app's consent, and of ``probe_user``'s mailbox.

    Raises TemporaryError when Microsoft cannot be reached; a refused app registration is
    reported, not raised.
    """
    report = AccessReport()
    try:
        token = tokens.token()
    except AuthorisationLost as error:
        report.problems.append(_sign_in_problem(str(error)))
        return report
    roles = token_roles(token)
    if roles is not None:
        report.missing = tuple(
            name for name, satisfying in REQUIRED_ROLES.items() if not satisfying & roles
        )
        report.directory = bool(DIRECTORY_ROLES & roles)
    if not probe_user:
        return report
    problem = _probe_mailbox(tokens, endpoints, probe_user, **client_options)
    if problem:
        report.problems.append(problem)
    elif "Mail.Read" in report.missing:
        # The mailbox can be read without the Entra ID consent: Exchange RBAC for Applications
        # grants it, and Exchange's grants do not show in the token.
        report.missing = ()
        report.notes.append(
            f"Mail access is not consented in Microsoft Entra ID, yet the mailbox of {probe_user} "
            "can be read: it is granted through Exchange RBAC for Applications. Sending works "
            "only if Application Mail.Send is assigned there too."
        )
    return report


def _sign_in_problem(text):
    if "7000215" in text or "7000218" in text or "700027" in text:
        return (
            "Microsoft refused the app's credential: the client secret or certificate is wrong, "
            f"expired or not registered on the app ({text})."
        )
    if "700016" in text:
        return (
            "Microsoft does not know this application id in this tenant: check the tenant and "
            f"the application (client) id ({text})."
        )
    return f"Microsoft refused the app's sign-in ({text})."


def _client(endpoints, tokens, session=None, sleep=time.sleep, clock=time.monotonic):
    return GraphClient(endpoints, tokens, session=session, sleep=sleep, clock=clock)


def _probe_mailbox(tokens, endpoints, user, session=None, **options):
    client = _client(endpoints, tokens, session, **options)
    try:
        client.send("GET", f"/users/{user}/mailFolders/inbox?$select=id", what="check access")
    except Refused as refused:
        failure = refused.failure
        if failure.status == 403:
            return (
                f"Microsoft refused to read the mailbox of {user} ({failure.code or 403}): "
                "the app lacks Mail.Read for it, or an Exchange application access policy or "
                "RBAC scope leaves this mailbox out."
            )
        if failure.status == 404:
            return f"Microsoft found no mailbox for {user} ({failure.code or 404})."
        if failure.status == 401:
            return f"Microsoft did not accept the app's token for {user}'s mailbox."
        raise TemporaryError(f"check access: {failure.describe()}", failure.retry_after) from None
    finally:
        if session is None:
            client.session.close()
    return ""


def tenant_users(tokens, endpoints, session=None, **options):
    """The tenant's enabled users as dicts ``{"email", "name", "id"}`` (needs User.Read.All)."""
    client = _client(endpoints, tokens, session, **options)
    users = []
    path = f"/users?$select={USERS_SELECT}&$top={USERS_PAGE_SIZE}"
    try:
        for page in client.pages(path, what="list users", permission="User.Read.All"):
            for user in page.get("value", []):
                address = (user.get("mail") or user.get("userPrincipalName") or "").lower()
                if not address or user.get("accountEnabled") is False:
                    continue
                users.append(
                    {"email": address, "name": user.get("displayName") or address,
                     "id": user.get("id", "")}
                )  # fmt: skip
    except requests.RequestException as error:
        raise TemporaryError(f"Microsoft Graph is unreachable: {error}") from None
    finally:
        if session is None:
            client.session.close()
    return users
