"""Google Workspace organisation mode: a service account reading its domain's mailboxes.

What it is
    The helpers behind an organisation connection to Google Workspace:
    :func:`parse_key` (read and check a service-account JSON key), :func:`delegated_provider`
    (a :class:`~.gmail.GmailProvider` acting as one user of the domain),
    :func:`missing_delegation` (which scopes the domain's administrator has not delegated) and
    :func:`directory_users` (the domain's users, from the Admin SDK Directory API).

How it works
    A Workspace super administrator grants the service account's client id domain-wide
    delegation for a list of scopes (Admin console, Security, API controls). The service
    account then signs a JWT naming a user of the domain as ``sub`` and trades it at Google's
    token endpoint (the JWT-bearer grant, RFC 7523) for an access token that acts as that user;
    google-auth's ``service_account.Credentials`` with ``subject`` does both steps. No refresh
    token exists: a new access token costs one signed request.

    Google answers a token request for a scope that was not delegated with
    ``unauthorized_client``. :func:`missing_delegation` asks for one scope at a time, so it can
    say which ones are missing rather than only that something is.

    Every error a person can fix names its reason (the constants below, with the facts a
    sentence needs; see ``core.provider.Explained``), so the screens can say it in words.

Use
    ::

        info = parse_key(pasted_json)
        missing = missing_delegation(info, "ann@firm.example", GmailEndpoints())
        provider = delegated_provider(info, "ann@firm.example", GmailEndpoints(), quota=bucket)
        users = directory_users(info, "admin@firm.example", "firm.example", endpoints)

Caveats
    The token endpoint is the one configured for Gmail (``GmailEndpoints.token_uri``), not the
    ``token_uri`` written in the key, so tests and the demo can point it at the emulator. The
    Directory API needs the subject to be an administrator allowed to read users.
"""

import json
import logging

import google_auth_httplib2
import httplib2
import requests
from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport.requests import Request
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from ..provider import AuthorisationLost, TemporaryError
from .gmail import HTTP_TIMEOUT_SECONDS, GmailProvider
from .gmail_errors import AUTH_LOST, classify_http_error, provider_error, refresh_failure
from .gmail_wire import SCOPES, GmailConfigError

_logger = logging.getLogger(__name__)

DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
DIRECTORY_BASE = "https://admin.googleapis.com/"
DIRECTORY_PAGE_SIZE = 500
KEY_FIELDS = ("client_email", "private_key", "private_key_id", "client_id")
# Token endpoint errors meaning "this client may not act for this user with this scope".
NOT_DELEGATED = frozenset({"unauthorized_client", "access_denied"})

# Reasons a person can fix, and their facts.
KEY_NOT_JSON = "google_key_not_json"
KEY_NOT_SERVICE_ACCOUNT = "google_key_not_service_account"
KEY_INCOMPLETE = "google_key_incomplete"  # fields: the fields missing
KEY_UNREADABLE = "google_key_unreadable"  # the private key cannot be loaded
DELEGATION_REFUSED = "google_delegation_refused"  # subject, code, client_id
DELEGATION_MISSING = "google_delegation_missing"  # scopes, client_id
DIRECTORY_REFUSED = "google_directory_refused"  # admin, domain, status


def parse_key(text):
    """The service-account key ``text`` (JSON) as a dict; GmailConfigError when unusable."""
    try:
        info = json.loads(text or "")
    except ValueError as error:
        raise GmailConfigError(
            f"The service-account key is not valid JSON: {error}", reason=KEY_NOT_JSON
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        kind = info.get("type") if isinstance(info, dict) else type(info).__name__
        raise GmailConfigError(
            f"This is not a service-account key (type {kind!r}).", reason=KEY_NOT_SERVICE_ACCOUNT
        )
    missing = [name for name in KEY_FIELDS if not info.get(name)]
    if missing:
        raise GmailConfigError(
            "The service-account key lacks " + ", ".join(missing) + ".",
            reason=KEY_INCOMPLETE,
            fields=tuple(missing),
        )
    try:
        service_account.Credentials.from_service_account_info(_with_token_uri(info, None))
    except ValueError as error:
        # cryptography's own words ("Could not deserialize key data...") are the detail only.
        raise GmailConfigError(
            f"The service-account key's private key cannot be read: {error}",
            reason=KEY_UNREADABLE,
        ) from None
    return info


def describe_key(info):
    """A short public description of a key: its account and the end of its key id."""
    return f"{info.get('client_email', '?')} (key …{str(info.get('private_key_id', ''))[-4:]})"


def _with_token_uri(info, endpoints):
    token_uri = endpoints.token_uri if endpoints else info.get("token_uri")
    return dict(info, token_uri=token_uri or "https://oauth2.googleapis.com/token")


def delegated_credentials(info, subject, endpoints, scopes=SCOPES):
    """Credentials of the service account acting as ``subject``, for ``scopes``."""
    return service_account.Credentials.from_service_account_info(
        _with_token_uri(info, endpoints), scopes=list(scopes), subject=subject
    )


def delegated_provider(info, subject, endpoints, **options):
    """A GmailProvider reading and sending as ``subject`` through the service account."""
    credentials = delegated_credentials(info, subject, endpoints)
    return GmailProvider(None, None, None, endpoints, credentials=credentials, **options)


def _refresh_error(error):
    """Google's ``(error, error_description)`` for a refused token request."""
    data = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
    code = data.get("error") or str(error).split(":", 1)[0].strip()
    return code, data.get("error_description") or ""


def refused(info, subject, code, description="", scopes=()):
    """The AuthorisationLost for Google refusing the service account acting as ``subject``."""
    detail = f"{code}: {description}" if description else code
    if code in NOT_DELEGATED:
        return AuthorisationLost(
            f"Google refused the service account acting as {subject} ({detail})",
            reason=DELEGATION_MISSING,
            scopes=tuple(scopes),
            client_id=info.get("client_id", ""),
        )
    return AuthorisationLost(
        f"Google refused the service account acting as {subject} ({detail})",
        reason=DELEGATION_REFUSED,
        subject=subject,
        code=code,
        client_id=info.get("client_id", ""),
    )


def missing_delegation(info, subject, endpoints, scopes=SCOPES, session=None):
    """The scopes in ``scopes`` that the service account may not use as ``subject``.

    Raises AuthorisationLost when Google refuses the key or the user itself (a deleted key, a
    user outside the domain), TemporaryError when the token endpoint cannot be reached.
    """
    missing = []
    own_session = session is None
    session = session or requests.Session()
    try:
        for scope in scopes:
            if not _delegated(info, subject, endpoints, scope, session):
                missing.append(scope)
    finally:
        if own_session:
            session.close()
    return tuple(missing)


def _delegated(info, subject, endpoints, scope, session):
    """Whether Google issues a token for ``scope`` acting as ``subject``."""
    credentials = delegated_credentials(info, subject, endpoints, (scope,))
    try:
        credentials.refresh(Request(session))
    except RefreshError as error:
        code, description = _refresh_error(error)
        if code in NOT_DELEGATED:
            return False
        raise refused(info, subject, code, description) from None
    except TransportError as error:
        raise TemporaryError(f"Google's token endpoint is unreachable: {error}") from None
    return True


def directory_users(info, admin, domain, endpoints, directory_base=DIRECTORY_BASE):
    """The domain's users as dicts ``{"email", "name", "id"}``, suspended ones left out.

    ``admin`` is the administrator the service account acts as to read the directory.
    """
    credentials = delegated_credentials(info, admin, endpoints, (DIRECTORY_SCOPE,))
    http = google_auth_httplib2.AuthorizedHttp(
        credentials, http=httplib2.Http(timeout=HTTP_TIMEOUT_SECONDS)
    )
    service = build(
        "admin",
        "directory_v1",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": directory_base},
    )
    users, page_token = [], None
    while True:
        request = service.users().list(
            domain=domain,
            maxResults=DIRECTORY_PAGE_SIZE,
            orderBy="email",
            pageToken=page_token,
        )
        try:
            answer = request.execute()
        except HttpError as error:
            failure = classify_http_error(error)
            if failure.verdict == AUTH_LOST:
                raise AuthorisationLost(
                    f"directory users.list as {admin}: refused by Google, {failure.describe()}",
                    reason=DIRECTORY_REFUSED,
                    admin=admin,
                    domain=domain,
                    status=failure.describe(),
                ) from None
            raise provider_error(failure, "directory users.list") from None
        except RefreshError as error:
            lost = refresh_failure(error)
            if not isinstance(lost, AuthorisationLost):
                raise lost from error
            code, description = _refresh_error(error)
            raise refused(info, admin, code, description, (DIRECTORY_SCOPE,)) from None
        except (httplib2.HttpLib2Error, TransportError, OSError) as error:
            raise TemporaryError(f"Google's Directory API is unreachable: {error}") from None
        for user in answer.get("users", []):
            if user.get("suspended") or not user.get("primaryEmail"):
                continue
            users.append(
                {
                    "email": user["primaryEmail"].lower(),
                    "name": (user.get("name") or {}).get("fullName") or user["primaryEmail"],
                    "id": user.get("id", ""),
                }
            )
        page_token = answer.get("nextPageToken")
        if not page_token:
            return users
