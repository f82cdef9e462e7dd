"""Connecting a Gmail mailbox: Google's consent screen and the authorization-code exchange.

What it is
    The helpers the Odoo controller calls to connect a mailbox: :func:`authorization_url` (where
    to send the adviser), :func:`code_from_callback` (read Google's redirect),
    :func:`exchange_code` (trade the code for tokens), :func:`read_identity` (whose mailbox it
    is) and :func:`revoke_token` (disconnect).

How it works
    The consent request asks for offline access (a refresh token) with ``prompt=consent``, so
    Google issues a refresh token even to a user who consented before, and for the two least
    scopes the addon needs: ``gmail.readonly`` to capture and ``gmail.send`` to send. The
    caller passes the ``state`` (it signs and checks it; this module only carries it). The code
    exchange is one form POST to the token endpoint with ``requests``: google-auth refreshes
    tokens but has no public helper for the code grant. Google's answers map to:

    - ``access_denied`` (the user pressed Cancel): :class:`ConsentDenied`;
    - ``invalid_grant`` (code used, expired or revoked): ``AuthorisationLost``;
    - ``invalid_client``, ``redirect_uri_mismatch``, a missing client id: :class:`GmailConfigError`;
    - 5xx or no answer: ``TemporaryError``.

Use
    ::

        url = authorization_url(client_id, redirect_uri, state, login_hint="ada@firm.example")
        code = code_from_callback(request.params)
        grant = exchange_code(client_id, client_secret, code, redirect_uri)
        identity = read_identity(grant, client_id, client_secret)

Caveats
    Google lets a user untick a scope on the consent screen; the grant then lacks it, and
    :attr:`TokenGrant.missing_scopes` says which. Expiry is a naive UTC datetime, as google-auth
    keeps it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import requests

from ..provider import AuthorisationLost, TemporaryError
from .gmail import SCOPES, GmailConfigError, GmailEndpoints, GmailProvider

_logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30


class ConsentDenied(Exception):
    """The user declined, or Google refused, the consent request."""


class OAuthError(Exception):
    """Google answered the consent or the code exchange with an error we cannot act on."""


@dataclass(frozen=True)
class TokenGrant:
    refresh_token: str
    access_token: str
    expiry: datetime
    scopes: tuple

    @property
    def missing_scopes(self):
        """The scopes the addon needs that the user did not grant."""
        return tuple(scope for scope in SCOPES if scope not in self.scopes)


def _require_client(client_id, client_secret=None, need_secret=False):
    if not client_id:
        raise GmailConfigError(
            "No Google OAuth client id is configured. Set it in the Gmail settings first."
        )
    if need_secret and not client_secret:
        raise GmailConfigError(
            "No Google OAuth client secret is configured. Set it in the Gmail settings first."
        )


def authorization_url(
    client_id, redirect_uri, state, *, login_hint=None, endpoints=None, scopes=SCOPES
):
    """The consent-screen URL to send the user to; Google comes back to ``redirect_uri``."""
    _require_client(client_id)
    endpoints = endpoints or GmailEndpoints()
    params = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "access_type": "offline",
        "prompt": "consent",
        "state": state,
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in endpoints.auth_uri else "?"
    return endpoints.auth_uri + separator + urlencode(params)


def code_from_callback(params):
    """The authorization code from the redirect's query ``params`` (a mapping).

    Raises :class:`ConsentDenied` when the user declined, :class:`OAuthError` for any other
    error Google put in the redirect.
    """
    error = params.get("error")
    if error == "access_denied":
        raise ConsentDenied("Access to the mailbox was not granted on Google's consent screen.")
    if error:
        raise OAuthError(f"Google refused the connection: {error}")
    code = params.get("code")
    if not code:
        raise OAuthError("Google's answer carried no authorization code.")
    return code


def _token_error(answer):
    try:
        payload = answer.json()
    except ValueError:
        payload = {}
    code = payload.get("error", "") if isinstance(payload, dict) else ""
    if answer.status_code >= 500:
        return TemporaryError(f"Google's token endpoint answered {answer.status_code}")
    if code == "invalid_grant":
        return AuthorisationLost("The authorization code is no longer valid; connect again.")
    if code == "access_denied":
        return ConsentDenied("Access to the mailbox was not granted.")
    if code in ("invalid_client", "unauthorized_client", "redirect_uri_mismatch"):
        return GmailConfigError(
            f"Google rejected the OAuth client configuration ({code}); check the client id, "
            "secret and authorised redirect URI."
        )
    return OAuthError(f"Google refused the code exchange ({code or answer.status_code})")


def exchange_code(
    client_id,
    client_secret,
    code,
    redirect_uri,
    *,
    endpoints=None,
    session=None,
    timeout=REQUEST_TIMEOUT_SECONDS,
):
    """Trade an authorization code for a :class:`TokenGrant`."""
    _require_client(client_id, client_secret, need_secret=True)
    endpoints = endpoints or GmailEndpoints()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    try:
        answer = (session or requests).post(endpoints.token_uri, data=form, timeout=timeout)
    except requests.RequestException as error:
        raise TemporaryError(f"Google's token endpoint is unreachable: {error}") from error
    if answer.status_code != 200:
        raise _token_error(answer)

    payload = answer.json()
    if not payload.get("refresh_token"):
        # Without it the mailbox could only be read for an hour.
        raise OAuthError("Google issued no refresh token; connect again and accept offline use.")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    _logger.info("Gmail authorization code exchanged for a refresh token")
    return TokenGrant(
        refresh_token=payload["refresh_token"],
        access_token=payload["access_token"],
        expiry=now + timedelta(seconds=int(payload.get("expires_in", 0))),
        scopes=tuple(payload.get("scope", "").split()),
    )


def read_identity(grant, client_id, client_secret, *, endpoints=None, **provider_options):
    """The connected mailbox's address and aliases (``users.getProfile`` and sendAs)."""
    provider = GmailProvider(
        client_id,
        client_secret,
        grant.refresh_token,
        endpoints,
        access_token=grant.access_token,
        expiry=grant.expiry,
        **provider_options,
    )
    return provider.identity()


def revoke_token(token, *, endpoints=None, session=None, timeout=REQUEST_TIMEOUT_SECONDS):
    """Revoke a refresh or access token (the whole grant); False when Google did not know it."""
    endpoints = endpoints or GmailEndpoints()
    try:
        answer = (session or requests).post(
            endpoints.revoke_uri, data={"token": token}, timeout=timeout
        )
    except requests.RequestException as error:
        raise TemporaryError(f"Google's revoke endpoint is unreachable: {error}") from error
    if answer.status_code >= 500:
        raise TemporaryError(f"Google's revoke endpoint answered {answer.status_code}")
    return answer.status_code == 200
