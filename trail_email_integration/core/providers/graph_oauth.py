"""Connecting a Microsoft 365 mailbox, and keeping its tokens fresh, with msal.

What it is
    The helpers the Odoo controller calls to connect a mailbox,
    :func:`initiate_auth_code_flow` (where to send the adviser, plus the flow to keep) and
    :func:`complete_auth_code_flow` (read the redirect, redeem the code, say whose mailbox it
    is), and :class:`TokenSource`, which the provider asks for an access token before each call.

How it works
    Everything goes through one msal ``ConfidentialClientApplication`` per use, built by
    :func:`build_app` with the tenant's authority (``common``, ``organizations`` or a tenant
    id) and a requests session that trusts the endpoints' CA bundle. msal does PKCE, the nonce
    and the state; the caller stores the flow dict server-side between the two calls and signs
    its own ``state`` if it wants more than msal's check. What is kept afterwards is msal's
    serialized token cache (a JSON string holding the refresh token), never a bare token.

    Microsoft rotates the refresh token on every refresh. :class:`TokenSource` hands the new
    serialized cache to ``on_cache`` each time msal changed it, so the stored copy always holds
    the live refresh token; an old one stops working a little later.

    Errors: ``access_denied`` in the redirect is :class:`ConsentDenied`; a state that does not
    match the stored flow is :class:`OAuthError`; a rejected client id, secret or redirect URI
    is ``GraphConfigError``; ``invalid_grant`` (AADSTS70008 expired, 50173 revoked, ...) is
    ``AuthorisationLost``.

Use
    ::

        flow = initiate_auth_code_flow(client_id, secret, "organizations", redirect_uri, state)
        session["flow"] = flow                       # then redirect to flow["auth_uri"]
        grant = complete_auth_code_flow(client_id, secret, "organizations", flow, params)
        store(grant.token_cache, grant.address)     # admin-only field

Caveats
    One token cache holds one mailbox's account; a cache with several uses the first, or the
    one whose username is given. App-only tokens (client credentials) are cached in memory only:
    they need no refresh token, a new one costs one call.
"""

import logging
import warnings
from dataclasses import dataclass

import msal
import requests

from ..provider import AuthorisationLost, TemporaryError
from .graph_errors import TENANT_UNKNOWN, token_failure
from .graph_wire import (
    APP_SCOPE,
    SCOPES,
    GraphConfigError,
    GraphEndpoints,
    make_session,
)

_logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 30
CONFIG_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_tenant"})
# invalid_grant codes that mean the app registration, not the user, is wrong:
# reply URL mismatch, PKCE verifier mismatch.
CONFIG_GRANT_CODES = frozenset({500117, 501481})


class ConsentDenied(Exception):
    """The user declined the consent request, or cancelled the sign-in."""


class OAuthError(Exception):
    """The sign-in answer cannot be used (state mismatch, no code, unexpected error)."""


@dataclass(frozen=True)
class GraphGrant:
    """A connected mailbox: the serialized token cache to store, and whose mailbox it is."""

    token_cache: str
    address: str
    username: str
    home_account_id: str
    scopes: tuple

    @property
    def missing_scopes(self):
        return tuple(scope for scope in SCOPES if scope not in self.scopes)


def build_app(client_id, client_secret, tenant, endpoints=None, token_cache=None, session=None):
    """An msal confidential client for ``tenant``, talking through ``session``."""
    if not client_id or not client_secret:
        raise GraphConfigError("The Microsoft application id and secret must both be set.")
    endpoints = endpoints or GraphEndpoints()
    options = {}
    if not endpoints.is_microsoft:
        # Instance discovery asks Microsoft whether the authority is a known cloud; a private
        # authority (the emulator, a sovereign cloud proxy) is not.
        options["instance_discovery"] = False
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=client_secret,
        authority=endpoints.authority(tenant),
        token_cache=token_cache,
        http_client=session or make_session(endpoints.ca_bundle),
        timeout=REQUEST_TIMEOUT_SECONDS,
        **options,
    )


def _build_for_helpers(client_id, client_secret, tenant, endpoints, cache=None):
    try:
        return build_app(client_id, client_secret, tenant, endpoints, cache)
    except ValueError as error:
        # msal reads the authority's metadata here: an unknown tenant is refused at once.
        raise GraphConfigError(f"Microsoft refused the tenant {tenant!r}: {error}") from error
    except requests.RequestException as error:
        raise TemporaryError(f"Microsoft's sign-in service is unreachable: {error}") from error


def initiate_auth_code_flow(
    client_id, client_secret, tenant, redirect_uri, state=None, *, endpoints=None,
    login_hint=None, scopes=SCOPES, response_mode="form_post",
):  # fmt: skip
    """The flow dict to keep server-side; send the user to its ``auth_uri``.

    With ``form_post`` (msal's advice) Microsoft returns by POSTing the answer to
    ``redirect_uri``, so the code never appears in a URL; ``"query"`` returns by redirect.
    """
    app = _build_for_helpers(client_id, client_secret, tenant, endpoints)
    with warnings.catch_warnings():
        # msal warns on every "query" flow; the caller chose it knowingly (see its docstring).
        warnings.filterwarnings("ignore", message=".*response_mode", category=UserWarning)
        return app.initiate_auth_code_flow(
            list(scopes),
            redirect_uri=redirect_uri,
            state=state,
            login_hint=login_hint,
            prompt="select_account",
            response_mode=response_mode,
        )


def _token_error(result):
    codes = set(result.get("error_codes") or [])
    if result.get("error") in CONFIG_ERRORS or codes & CONFIG_GRANT_CODES:
        return GraphConfigError(
            "Microsoft rejected the app registration "
            f"({result.get('error')}, AADSTS{min(codes) if codes else '?'}); check the "
            "application id, secret, tenant and redirect URI."
        )
    return token_failure(result, "code redemption")


def complete_auth_code_flow(
    client_id, client_secret, tenant, flow, query_params, *, endpoints=None
):
    """Redeem the redirect's ``query_params`` against ``flow``; return a :class:`GraphGrant`."""
    params = dict(query_params)
    if params.get("error") == "access_denied":
        raise ConsentDenied("Access to the mailbox was not granted on Microsoft's sign-in page.")
    endpoints = endpoints or GraphEndpoints()
    cache = msal.SerializableTokenCache()
    app = _build_for_helpers(client_id, client_secret, tenant, endpoints, cache)
    try:
        result = app.acquire_token_by_auth_code_flow(flow or {}, params)
    except ValueError as error:
        # msal raises ValueError for a state that is missing or not the flow's (CSRF).
        raise OAuthError(f"The sign-in answer does not match this sign-in: {error}") from None
    except requests.RequestException as error:
        raise TemporaryError(f"Microsoft's token endpoint is unreachable: {error}") from error
    if "error" in result:
        if result["error"] == "access_denied":
            raise ConsentDenied("Access to the mailbox was not granted.")
        raise _token_error(result)

    claims = result.get("id_token_claims") or {}
    username = claims.get("preferred_username", "")
    accounts = app.get_accounts(username=username or None) or app.get_accounts()
    me = _read_me(endpoints, result["access_token"])
    address = (me.get("mail") or me.get("userPrincipalName") or username).lower()
    _logger.info("Microsoft 365 mailbox connected (tenant %s)", claims.get("tid", "?"))
    return GraphGrant(
        token_cache=cache.serialize(),
        address=address,
        username=username,
        home_account_id=accounts[0]["home_account_id"] if accounts else "",
        scopes=tuple(result.get("scope", "").split()),
    )


def _read_me(endpoints, access_token):
    session = make_session(endpoints.ca_bundle)
    try:
        answer = session.get(
            endpoints.graph_base.rstrip("/") + "/me",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise TemporaryError(f"Microsoft Graph is unreachable: {error}") from error
    finally:
        session.close()
    if answer.status_code in (401, 403):
        raise AuthorisationLost("Microsoft Graph refused to read the signed-in user (User.Read)")
    if answer.status_code != 200:
        raise TemporaryError(f"Microsoft Graph answered {answer.status_code} for /me")
    return answer.json()


class TokenSource:
    """Access tokens for one mailbox: delegated from a token cache, or app-only.

    ``build()`` makes the msal application (see :func:`build_app`) around ``cache``.
    ``token()`` returns a usable access token, refreshing when msal's copy has expired or
    ``force`` is set (after a 401). Each time msal changed the cache, ``on_cache(serialized)``
    receives the new serialized cache, so rotated refresh tokens are never lost.
    """

    def __init__(
        self, build, cache, *, on_cache=None, app_only=False, username=None, scopes=SCOPES
    ):
        self._build = build
        self._app = None
        self.cache = cache
        self.on_cache = on_cache
        self.app_only = app_only
        self.username = username
        self.scopes = list(scopes)

    @property
    def app(self):
        """The msal application, built on first use: building it reads the authority."""
        if self._app is None:
            try:
                self._app = self._build()
            except ValueError as error:
                # msal reads the authority's metadata here: an unknown tenant is refused at once.
                raise AuthorisationLost(
                    f"Microsoft refused the tenant: {error}", reason=TENANT_UNKNOWN
                ) from error
        return self._app

    def token(self, force=False):
        try:
            result = self._acquire(force)
        except requests.RequestException as error:
            raise TemporaryError(f"Microsoft's token endpoint is unreachable: {error}") from error
        finally:
            self._save_cache()
        if not result:
            raise AuthorisationLost("No Microsoft sign-in is stored for this mailbox; reconnect")
        if "error" in result:
            raise token_failure(result, "token refresh")
        return result["access_token"]

    def _acquire(self, force):
        if self.app_only:
            if force:
                self.app.remove_tokens_for_client()
            return self.app.acquire_token_for_client([APP_SCOPE])
        accounts = self.app.get_accounts(username=self.username) if self.username else []
        accounts = accounts or self.app.get_accounts()
        if not accounts:
            return None
        return self.app.acquire_token_silent_with_error(
            self.scopes, accounts[0], force_refresh=force
        )

    def _save_cache(self):
        if self.app_only or not self.cache.has_state_changed:
            return
        self.cache.has_state_changed = False
        _logger.debug("Microsoft token cache changed; handing it over to be stored")
        if self.on_cache is not None:
            self.on_cache(self.cache.serialize())
