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

    What goes wrong names its reason (the constants below, with the facts a sentence needs;
    see ``core.provider.Explained``): a refused sign-in says whether the credential, the
    application id or the tenant is wrong, and each of :func:`check_access`'s findings is a
    :class:`Finding` with a reason, so the screens can say it in words.

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
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ..provider import AuthorisationLost, TemporaryError
from .graph_errors import SIGN_IN_REFUSED, TENANT_UNKNOWN
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

# AADSTS numbers of a refused app sign-in: the credential (wrong, expired or unknown secret or
# certificate, a badly signed assertion), the application id, the tenant.
CREDENTIAL_CODES = frozenset({7000215, 7000218, 7000222, 700021, 700024, 700027})
UNKNOWN_APP_CODES = frozenset({700016})
UNKNOWN_TENANT_CODES = frozenset({90002})

# Reasons a person can fix, and their facts (see core.provider.Explained).
CREDENTIAL_REFUSED = "microsoft_credential_refused"  # code
APP_UNKNOWN = "microsoft_app_unknown"  # code
# TENANT_UNKNOWN (graph_errors) and SIGN_IN_REFUSED (graph_errors, its error and codes) too.
CERTIFICATE_MISSING = "microsoft_certificate_missing"
CERTIFICATE_UNREADABLE = "microsoft_certificate_unreadable"
PRIVATE_KEY_UNREADABLE = "microsoft_private_key_unreadable"
THUMBPRINT_NEEDED = "microsoft_thumbprint_needed"
CREDENTIAL_NEEDED = "microsoft_credential_needed"
TENANT_NEEDED = "microsoft_tenant_needed"  # tenant: what was given instead
MAILBOX_REFUSED = "microsoft_mailbox_refused"  # user, code
NO_MAILBOX = "microsoft_no_mailbox"  # user, code
TOKEN_NOT_ACCEPTED = "microsoft_token_not_accepted"  # user
RBAC_GRANTED = "microsoft_rbac_granted"  # user: a note, not a problem


@dataclass
class Finding:
    """One thing :func:`check_access` found: in English (``str``), and as a reason with its
    facts for the screens, as an :class:`~..provider.Explained` error carries them."""

    text: str
    reason: str | None = None
    facts: dict = field(default_factory=dict)

    def __str__(self):
        return self.text

    @classmethod
    def of(cls, error):
        return cls(str(error), getattr(error, "reason", None), dict(getattr(error, "facts", {})))


@dataclass
class AccessReport:
    """What :func:`check_access` found: missing permissions, then problems and notes, each a
    :class:`Finding`."""

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
        raise GraphConfigError(
            "No certificate (BEGIN CERTIFICATE) was found in the PEM.",
            reason=CERTIFICATE_MISSING,
        )
    body = text.split(begin, 1)[1].split(end, 1)[0]
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise GraphConfigError(
            f"The certificate in the PEM cannot be decoded: {error}",
            reason=CERTIFICATE_UNREADABLE,
        ) from None
    # Microsoft Entra names a certificate by the SHA-1 digest of its DER bytes.
    return hashlib.sha1(der).hexdigest().upper()


def app_credential(secret=None, private_key=None, thumbprint=None):
    """msal's client credential: the secret, or the certificate's private key and thumbprint."""
    if private_key:
        if not thumbprint:
            raise GraphConfigError("A certificate needs its thumbprint.", reason=THUMBPRINT_NEEDED)
        check_private_key(private_key)
        return {"private_key": private_key, "thumbprint": thumbprint.replace(":", "").upper()}
    if secret:
        return secret
    raise GraphConfigError(
        "No client secret or certificate is set for the Microsoft app.", reason=CREDENTIAL_NEEDED
    )


def check_private_key(pem):
    """Raise GraphConfigError unless ``pem`` holds a private key that can sign (unencrypted)."""
    try:
        load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    except (ValueError, TypeError) as error:
        # msal would only fail later, deep in the JWT library, on the first token request.
        raise GraphConfigError(
            f"The certificate's private key cannot be read: {error}",
            reason=PRIVATE_KEY_UNREADABLE,
        ) from None


def app_token_source(client_id, credential, tenant, endpoints, session=None):
    """A TokenSource of app-only tokens for ``tenant``; msal keeps them in memory."""
    if not tenant or tenant in ("common", "organizations", "consumers"):
        raise GraphConfigError(
            f"Organisation mode needs one tenant, not {tenant or 'nothing'}.",
            reason=TENANT_NEEDED,
            tenant=tenant or "",
        )
    cache = msal.SerializableTokenCache()

    def build():
        return build_app(client_id, credential, tenant, endpoints, cache, session)

    return _AppTokens(build, cache)


class _AppTokens(TokenSource):
    """App-only tokens whose refused sign-in says what is wrong: the credential, the
    application id or the tenant (see :func:`sign_in_reason`)."""

    def __init__(self, build, cache):
        super().__init__(build, cache, app_only=True)

    def token(self, force=False):
        try:
            return super().token(force)
        except AuthorisationLost as error:
            facts = dict(error.facts)
            codes = facts.get("codes", ())
            facts["code"] = f"AADSTS{codes[0]}" if codes else facts.get("error", "")
            # Not the personal sign-in's "reconnect": nobody signs in to an app's credential.
            text = f"Microsoft refused the app's sign-in ({facts.get('error') or 'no code'})"
            text += f": {facts['description']}" if facts.get("description") else f": {error}"
            raise AuthorisationLost(text, reason=sign_in_reason(error), **facts) from None


def sign_in_reason(error):
    """The reason of a refused app sign-in, from msal's AADSTS numbers."""
    codes = set(error.facts.get("codes", ()))
    if error.reason == TENANT_UNKNOWN or codes & UNKNOWN_TENANT_CODES:
        return TENANT_UNKNOWN
    if codes & CREDENTIAL_CODES:
        return CREDENTIAL_REFUSED
    if codes & UNKNOWN_APP_CODES:
        return APP_UNKNOWN
    return error.reason or SIGN_IN_REFUSED


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
        report.problems.append(Finding.of(error))
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
            Finding(
                f"Mail access is not consented in Microsoft Entra ID, yet the mailbox of "
                f"{probe_user} can be read: Exchange RBAC for Applications grants it.",
                RBAC_GRANTED,
                {"user": probe_user},
            )
        )
    return report


def _client(endpoints, tokens, session=None, sleep=time.sleep, clock=time.monotonic):
    return GraphClient(endpoints, tokens, session=session, sleep=sleep, clock=clock)


def _probe_mailbox(tokens, endpoints, user, session=None, **options):
    client = _client(endpoints, tokens, session, **options)
    try:
        client.send("GET", f"/users/{user}/mailFolders/inbox?$select=id", what="check access")
    except Refused as refused:
        failure = refused.failure
        facts = {"user": user, "code": failure.code or str(failure.status)}
        if failure.status == 403:
            text = f"Microsoft refused to read the mailbox of {user} ({facts['code']})"
            return Finding(text, MAILBOX_REFUSED, facts)
        if failure.status == 404:
            text = f"Microsoft found no mailbox for {user} ({facts['code']})"
            return Finding(text, NO_MAILBOX, facts)
        if failure.status == 401:
            text = f"Microsoft did not accept the app's token for {user}'s mailbox"
            return Finding(text, TOKEN_NOT_ACCEPTED, facts)
        raise TemporaryError(f"check access: {failure.describe()}", failure.retry_after) from None
    finally:
        if session is None:
            client.session.close()
    return None


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
