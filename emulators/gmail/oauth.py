"""Google OAuth 2.0 authorization server for the Gmail emulator.

What it is: the authorization-code flow as Google serves it: the consent page at
``/o/oauth2/auth``, the token endpoint ``/token`` (authorization_code and refresh_token grants,
PKCE, and the service-account JWT bearer grant checked by ``workspace.py``), ``/revoke``, and
bearer-token checks for the API. Registered clients, issued codes, refresh tokens (grants) and
access tokens live in memory.

How it works: GET ``/o/oauth2/auth`` validates the client, redirect URI and response type, then
renders a page with one form: a user picker (pre-filled from ``login_hint``, the ``user`` query
parameter or the configured default) and the buttons ``Allow`` (id ``allow``) and ``Deny`` (id
``deny``). Posting it to ``/o/oauth2/approve`` redirects to the client's ``redirect_uri`` with
``code`` and the original ``state``, or ``error=access_denied``. With ``auto_consent`` set to
'allow' or 'deny' the GET redirects at once, for headless demos. Token errors use Google's flat
shape, e.g. ``{"error": "invalid_grant", "error_description": "Token has been expired or
revoked."}`` with status 400. Access tokens expire after ``token_ttl`` seconds of emulator clock;
revoking a refresh token or any of its access tokens kills the whole grant, as Google does.

How to use it (normally through ``GmailEmulator``)::

    server = OAuthServer(clock, known_users=lambda: ['a@example.com'])
    server.register_client('cid', 'secret')
    tokens = server.issue_tokens('a@example.com')    # skips the browser for tests
    grant = server.authenticate(tokens['access_token'])

Caveats: the ``id_token`` (only when ``openid``/``email`` scope is asked) is an unsigned JWT
with ``alg: none``; it is for reading claims, not for signature verification. Codes are
single-use and live ten minutes.
"""

import base64
import hashlib
import html
import json
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode

from .wire import ApiError, html_response, json_response, oauth_error, redirect
from .workspace import JWT_BEARER, GrantError

DEFAULT_SCOPE = "https://mail.google.com/"
CODE_TTL_SECONDS = 600
ID_TOKEN_SCOPES = ("openid", "email", "https://www.googleapis.com/auth/userinfo.email")


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple = None  # None accepts any redirect URI


@dataclass
class Grant:
    refresh_token: str
    user: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    user: str
    client_id: str
    scope: str
    expires_at: float
    grant: Grant = None

    @property
    def scopes(self):
        return set(self.scope.split())


@dataclass
class AuthCode:
    code: str
    user: str
    client_id: str
    redirect_uri: str
    scope: str
    offline: bool
    expires_at: float
    code_challenge: str = ""
    code_challenge_method: str = "plain"
    used: bool = False


def _unsigned_jwt(claims):
    def part(value):
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _append_query(uri, params):
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def _error_page(status, title, detail):
    body = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(detail)}</p></body></html>"
    )
    return html_response(status, body)


class OAuthServer:
    def __init__(self, clock, known_users, token_ttl=3599, default_user=None, auto_consent=None):
        self.clock = clock
        self.known_users = known_users
        self.token_ttl = token_ttl
        self.default_user = default_user
        self.auto_consent = auto_consent
        self.clients = {}
        self.grants = {}
        self.access_tokens = {}
        self.codes = {}
        self.pending = {}
        # Set by the emulator: form -> (user, client id, scope) for the JWT bearer grant.
        self.assertion_grant = None
        self._lock = threading.Lock()

    def register_client(self, client_id, client_secret, redirect_uris=None):
        uris = tuple(redirect_uris) if redirect_uris is not None else None
        self.clients[client_id] = OAuthClient(client_id, client_secret, uris)

    # Issuing and checking tokens

    def _new_access_token(self, user, client_id, scope, grant):
        token = AccessToken(
            "ya29.emu-" + secrets.token_urlsafe(32),
            user,
            client_id,
            scope,
            self.clock.time() + self.token_ttl,
            grant,
        )
        self.access_tokens[token.token] = token
        return token

    def _token_payload(self, access, grant=None, with_id_token=False):
        payload = {
            "access_token": access.token,
            "expires_in": self.token_ttl,
            "scope": access.scope,
            "token_type": "Bearer",
        }
        if grant is not None:
            payload["refresh_token"] = grant.refresh_token
        if with_id_token:
            now = int(self.clock.time())
            payload["id_token"] = _unsigned_jwt(
                {
                    "iss": "https://accounts.google.com",
                    "aud": access.client_id,
                    "sub": hashlib.sha256(access.user.encode()).hexdigest()[:21],
                    "email": access.user,
                    "email_verified": True,
                    "iat": now,
                    "exp": now + self.token_ttl,
                }
            )
        return payload

    def issue_tokens(self, user, client_id=None, scope=DEFAULT_SCOPE, offline=True):
        """Mint a grant and access token directly, as if the user had consented."""
        client_id = client_id or next(iter(self.clients), "emulator-client")
        with self._lock:
            grant = None
            if offline:
                grant = Grant("1//emu-" + secrets.token_urlsafe(40), user.lower(), client_id, scope)
                self.grants[grant.refresh_token] = grant
            access = self._new_access_token(user.lower(), client_id, scope, grant)
            return self._token_payload(access, grant)

    def authenticate(self, token):
        """The live AccessToken for ``token`` or Google's 401 ApiError."""
        if not token:
            raise ApiError.unauthenticated(missing=True)
        access = self.access_tokens.get(token)
        if access is None or access.expires_at <= self.clock.time():
            raise ApiError.unauthenticated()
        if access.grant is not None and access.grant.revoked:
            raise ApiError.unauthenticated()
        return access

    def peek_user(self, token):
        access = self.access_tokens.get(token or "")
        return access.user if access else None

    def revoke(self, token_or_user):
        """Revoke one token (and its whole grant) or every grant of a user; True if found."""
        with self._lock:
            target = token_or_user.lower() if "@" in token_or_user else None
            grants = [g for g in self.grants.values() if target and g.user == target]
            if token_or_user in self.grants:
                grants.append(self.grants[token_or_user])
            access = self.access_tokens.get(token_or_user)
            if access is not None and access.grant is not None:
                grants.append(access.grant)
            for grant in grants:
                grant.revoked = True
            doomed = [
                t
                for t in self.access_tokens.values()
                if t.grant in grants or t is access or (target and t.user == target)
            ]
            for token in doomed:
                del self.access_tokens[token.token]
            return bool(grants or doomed)

    def expire_access_tokens(self, user=None):
        """Make current access tokens expire now (refresh tokens stay valid)."""
        with self._lock:
            for token in self.access_tokens.values():
                if user is None or token.user == user.lower():
                    token.expires_at = self.clock.time()

    # Consent page

    def _authorize_problem(self, query):
        """The page or redirect Google shows for an invalid authorize request, else None."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            return _error_page(401, "Error 401: invalid_client", "The OAuth client was not found.")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri or (
            client.redirect_uris is not None and redirect_uri not in client.redirect_uris
        ):
            return _error_page(
                400,
                "Error 400: redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's OAuth "
                f"2.0 policy. redirect_uri={redirect_uri}",
            )
        if query.get("response_type") != "code":
            # Once the redirect URI is trusted, Google reports the error to the client.
            params = {"error": "unsupported_response_type"}
            if "state" in query:
                params["state"] = query["state"]
            return redirect(_append_query(redirect_uri, params))
        if not query.get("scope"):
            return _error_page(
                400, "Error 400: invalid_request", "Missing required parameter: scope"
            )
        return None

    def authorize(self, query):
        problem = self._authorize_problem(query)
        if problem is not None:
            return problem
        users = list(self.known_users())
        # With a single mailbox there is nobody else to choose, as with one signed-in account.
        sole = users[0] if len(users) == 1 else ""
        hint = query.get("login_hint") or query.get("user") or self.default_user or sole
        user = hint.lower()
        if user and user not in users:
            return _error_page(400, "Error 400: invalid_request", f"Unknown account: {user}")
        consent_id = secrets.token_urlsafe(16)
        self.pending[consent_id] = dict(query)
        if self.auto_consent in ("allow", "deny") and user:
            return self.approve(
                {"consent": consent_id, "decision": self.auto_consent, "user": user}
            )
        client = self.clients[query["client_id"]]
        return html_response(200, self._consent_page(consent_id, client, query, user, users))

    @staticmethod
    def _consent_page(consent_id, client, query, user, users):
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in query["scope"].split())
        options = "".join(f'<option value="{html.escape(u)}">' for u in users)
        return (
            "<!DOCTYPE html><html><head><title>Sign in - Google Accounts (emulator)</title>"
            "</head><body><h1>Gmail emulator consent</h1>"
            f"<p>{html.escape(client.client_id)} wants to access your Google Account:</p>"
            f"<ul>{scopes}</ul>"
            '<form id="consent" method="post" action="/o/oauth2/approve">'
            f'<input type="hidden" name="consent" value="{html.escape(consent_id)}">'
            f'<label>Account <input name="user" id="user" value="{html.escape(user)}" '
            f'list="accounts"></label><datalist id="accounts">{options}</datalist>'
            '<button type="submit" id="allow" name="decision" value="allow">Allow</button>'
            '<button type="submit" id="deny" name="decision" value="deny">Deny</button>'
            "</form></body></html>"
        )

    def approve(self, form):
        request = self.pending.pop(form.get("consent", ""), None)
        if request is None:
            return _error_page(400, "Error 400: invalid_request", "Unknown or used consent.")
        redirect_uri = request["redirect_uri"]
        state = {"state": request["state"]} if "state" in request else {}
        if form.get("decision") != "allow":
            return redirect(_append_query(redirect_uri, {"error": "access_denied", **state}))
        user = (form.get("user") or "").lower()
        if user not in self.known_users():
            return _error_page(400, "Error 400: invalid_request", f"Unknown account: {user}")
        code = AuthCode(
            "4/emu-" + secrets.token_urlsafe(24),
            user,
            request["client_id"],
            redirect_uri,
            request["scope"],
            request.get("access_type") == "offline",
            self.clock.time() + CODE_TTL_SECONDS,
            request.get("code_challenge", ""),
            request.get("code_challenge_method", "plain"),
        )
        self.codes[code.code] = code
        params = {**state, "code": code.code, "scope": code.scope, "authuser": "0"}
        return redirect(_append_query(redirect_uri, params))

    # Token endpoint

    def token(self, form, basic_auth=None):
        if form.get("grant_type") == JWT_BEARER and self.assertion_grant is not None:
            return self._assertion(form)
        client_id, client_secret = basic_auth or (form.get("client_id"), form.get("client_secret"))
        client = self.clients.get(client_id or "")
        if client is None:
            return json_response(
                401, oauth_error("invalid_client", "The OAuth client was not found.")
            )
        if client.client_secret != client_secret:
            return json_response(401, oauth_error("invalid_client", "Unauthorized"))
        grant_type = form.get("grant_type")
        with self._lock:
            if grant_type == "authorization_code":
                return self._exchange_code(client, form)
            if grant_type == "refresh_token":
                return self._refresh(client, form)
        return json_response(
            400, oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        )

    def _assertion(self, form):
        """A service account's JWT bearer grant: an access token, never a refresh token."""
        try:
            user, client_id, scope = self.assertion_grant(form)
        except GrantError as error:
            return error.response()
        with self._lock:
            access = self._new_access_token(user, client_id, scope, None)
        payload = self._token_payload(access)
        del payload["scope"]  # Google leaves it out of service-account token answers
        return json_response(200, payload)

    def _exchange_code(self, client, form):
        code = self.codes.get(form.get("code", ""))
        if code is None:
            return json_response(400, oauth_error("invalid_grant", "Malformed auth code."))
        if code.used or code.expires_at <= self.clock.time() or code.client_id != client.client_id:
            return json_response(400, oauth_error("invalid_grant", "Bad Request"))
        if form.get("redirect_uri") != code.redirect_uri:
            return json_response(400, oauth_error("redirect_uri_mismatch", "Bad Request"))
        if code.code_challenge and not self._pkce_ok(code, form.get("code_verifier", "")):
            return json_response(400, oauth_error("invalid_grant", "Invalid code verifier."))
        code.used = True
        grant = None
        if code.offline:
            grant = Grant(
                "1//emu-" + secrets.token_urlsafe(40), code.user, client.client_id, code.scope
            )
            self.grants[grant.refresh_token] = grant
        access = self._new_access_token(code.user, client.client_id, code.scope, grant)
        wants_id = any(s in ID_TOKEN_SCOPES for s in code.scope.split())
        return json_response(200, self._token_payload(access, grant, with_id_token=wants_id))

    @staticmethod
    def _pkce_ok(code, verifier):
        if code.code_challenge_method == "S256":
            digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
            return base64.urlsafe_b64encode(digest).decode().rstrip("=") == code.code_challenge
        return verifier == code.code_challenge

    def _refresh(self, client, form):
        grant = self.grants.get(form.get("refresh_token", ""))
        if grant is None or grant.revoked:
            return json_response(
                400, oauth_error("invalid_grant", "Token has been expired or revoked.")
            )
        if grant.client_id != client.client_id:
            return json_response(400, oauth_error("unauthorized_client", "Unauthorized"))
        scope = form.get("scope") or grant.scope
        if not set(scope.split()) <= set(grant.scope.split()):
            return json_response(400, oauth_error("invalid_scope", "Bad Request"))
        access = self._new_access_token(grant.user, client.client_id, scope, grant)
        return json_response(200, self._token_payload(access))

    def revoke_endpoint(self, params):
        token = params.get("token", "")
        if not token or "@" in token or not self.revoke(token):
            return json_response(400, oauth_error("invalid_token", "Token expired or revoked"))
        return json_response(200, {})

    def userinfo(self, token):
        access = self.authenticate(token)
        return json_response(
            200,
            {
                "sub": hashlib.sha256(access.user.encode()).hexdigest()[:21],
                "email": access.user,
                "email_verified": True,
            },
        )
