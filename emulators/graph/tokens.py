"""Grant bookkeeping of the identity emulator: codes, refresh tokens, access tokens.

What it is: the state behind ``identity.py``. A ``Grant`` is one user's consent to one app for a
set of delegated scopes; it owns a chain of refresh tokens (each refresh rotates it) and the
access tokens minted from it. App-only access tokens (client credentials) carry application
roles instead of scopes and belong to no grant.

How it works: refresh tokens map to ``(grant, replaced_at)``. A refresh marks the presented
token replaced and issues a new one; a replaced token stays usable for ``refresh_grace``
seconds (a client that lost the response can retry), then answers ``invalid_grant`` AADSTS70008.
Revoking a user's grants (``revoke_user``) kills their refresh and access tokens, like
"revoke sessions" in Entra ID. All times come from the shared emulator clock.

How to use it: through ``Identity`` and ``GraphEmulator``; ``authenticate(token)`` returns the
live ``AccessToken`` or raises Graph's 401.

Caveats: access tokens are JWT-shaped (header.claims.random) so clients treating them as opaque
strings behave as in production; do not decode them for anything but debugging.
"""

import base64
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field

from .wire import AadError, GraphError

GRAPH_RESOURCE = "https://graph.microsoft.com"
OIDC_SCOPES = {"openid", "profile", "email", "offline_access"}


def normalize_scopes(text):
    """Scope names as Graph shows them in ``scp``: 'https://graph.microsoft.com/Mail.Read' and
    'Mail.Read' are the same delegated permission."""
    scopes = []
    for scope in text.split():
        short = (
            scope[len(GRAPH_RESOURCE) + 1 :] if scope.startswith(GRAPH_RESOURCE + "/") else scope
        )
        if short not in scopes:
            scopes.append(short)
    return tuple(scopes)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_jwt(claims):
    header = _b64(json.dumps({"typ": "JWT", "alg": "none"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


@dataclass
class AuthCode:
    code: str
    user: object
    client_id: str
    redirect_uri: str
    scopes: tuple
    challenge: str
    nonce: str
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    user: object
    client_id: str
    scopes: tuple
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    user: object  # store.User, or None for app-only tokens
    tenant: object
    client_id: str
    scopes: frozenset = frozenset()
    roles: frozenset = frozenset()
    expires_at: float = 0.0
    grant: Grant = None
    claims: dict = field(default_factory=dict)

    @property
    def app_only(self):
        return self.user is None


class TokenBook:
    def __init__(self, clock, token_ttl=3599, refresh_grace=60.0):
        self.clock = clock
        self.token_ttl = token_ttl
        self.refresh_grace = refresh_grace
        self._lock = threading.Lock()
        self._codes = {}
        self._refresh = {}  # refresh token -> [grant, replaced_at or None]
        self._access = {}

    # Codes

    def add_code(self, code):
        with self._lock:
            self._codes[code.code] = code

    def redeem_code(self, value, client_id):
        with self._lock:
            code = self._codes.get(value)
            if code is None or code.client_id != client_id:
                raise AadError(400, "invalid_grant", 9002313, "Invalid request. Malformed code.")
            if code.used:
                raise AadError(
                    400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed."
                )
            if self.clock.time() > code.expires_at:
                raise AadError(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity.",
                )
            code.used = True
            return code

    # Issuing

    def _access_token(self, user, tenant, client_id, *, scopes=(), roles=(), grant=None):
        now = int(self.clock.time())
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{tenant.id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl,
            "appid": client_id,
            "tid": tenant.id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if user is not None:
            claims.update(oid=user.id, upn=user.upn, scp=" ".join(scopes))
        else:
            claims.update(idtyp="app", oid=str(uuid.uuid5(uuid.NAMESPACE_URL, client_id)))
            if roles:  # without admin consent the claim is absent, not empty
                claims["roles"] = sorted(roles)
        token = unsigned_jwt(claims)[:-1] + "." + _b64(secrets.token_bytes(32))
        entry = AccessToken(
            token,
            user,
            tenant,
            client_id,
            frozenset(scopes),
            frozenset(roles),
            now + self.token_ttl,
            grant,
            claims,
        )
        with self._lock:
            self._access[token] = entry
        return entry

    def _id_token(self, base, user, client_id, nonce):
        now = int(self.clock.time())
        claims = {
            "aud": client_id,
            "iss": f"{base}/{user.tenant.id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": user.display_name,
            "oid": user.id,
            "preferred_username": user.upn,
            "sub": _b64(f"{user.id}:{client_id}".encode()),
            "tid": user.tenant.id,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return unsigned_jwt(claims)

    def grant_tokens(self, base, user, client_id, scopes, *, nonce=None, form=None, grant=None):
        """The token response of a delegated grant (a new grant unless ``grant`` is given)."""
        api_scopes = tuple(s for s in scopes if s not in OIDC_SCOPES)
        # A refresh always rotates the refresh token; a new grant gets one for offline_access.
        with_refresh = grant is not None or form is None or "offline_access" in scopes
        if grant is None:
            grant = Grant(user, client_id, api_scopes)
        access = self._access_token(user, user.tenant, client_id, scopes=api_scopes, grant=grant)
        shown = list(api_scopes) + [s for s in ("openid", "profile", "email") if s in scopes]
        result = {
            "token_type": "Bearer",
            "scope": " ".join(shown),
            "expires_in": self.token_ttl,
            "ext_expires_in": self.token_ttl,
            "access_token": access.token,
        }
        if with_refresh:
            result["refresh_token"] = "1.A" + secrets.token_urlsafe(64)
            with self._lock:
                self._refresh[result["refresh_token"]] = [grant, None]
        if "openid" in scopes:
            result["id_token"] = self._id_token(base, user, client_id, nonce)
        if form is None or form.get("client_info") == "1":
            info = json.dumps({"uid": user.id, "utid": user.tenant.id}).encode()
            result["client_info"] = _b64(info)
        return result

    def refresh(self, base, refresh_token, client_id, tenant, form):
        grant = self._live_grant(refresh_token, client_id)
        if tenant is not None and grant.user.tenant is not tenant:
            raise AadError(400, "invalid_grant", 50020, "The user is not in this tenant.")
        asked = normalize_scopes(form.get("scope", ""))
        extra = [s for s in asked if s not in OIDC_SCOPES and s not in grant.scopes]
        extra = [s for s in extra if not s.endswith("/.default")]
        if extra:
            raise AadError(
                400,
                "invalid_grant",
                65001,
                f"The user or administrator has not consented to use the application with "
                f"ID '{client_id}'. Send an interactive authorization request for this user "
                f"and resource. Missing: {' '.join(extra)}.",
            )
        scopes = [s for s in asked if not s.endswith("/.default")] or list(grant.scopes)
        scopes = [s for s in scopes if s in grant.scopes] + [s for s in asked if s in OIDC_SCOPES]
        return self.grant_tokens(base, grant.user, client_id, tuple(scopes), form=form, grant=grant)

    def _live_grant(self, refresh_token, client_id):
        with self._lock:
            entry = self._refresh.get(refresh_token)
            if entry is None or entry[0].client_id != client_id:
                raise AadError(
                    400,
                    "invalid_grant",
                    9002313,
                    "Invalid request. Request is malformed or invalid.",
                )
            grant, replaced_at = entry
            if grant.revoked:
                raise AadError(
                    400,
                    "invalid_grant",
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth "
                    "token is needed. The user might have changed or reset their password.",
                )
            now = self.clock.time()
            if replaced_at is not None and now > replaced_at + self.refresh_grace:
                raise AadError(
                    400,
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to "
                    "inactivity. Send a new interactive authorization request for this user "
                    "and resource.",
                )
            if replaced_at is None:
                entry[1] = now
            return grant

    def app_tokens(self, tenant, client_id, roles):
        access = self._access_token(None, tenant, client_id, roles=roles)
        return {
            "token_type": "Bearer",
            "expires_in": self.token_ttl,
            "ext_expires_in": self.token_ttl,
            "access_token": access.token,
        }

    # Checking and revoking

    def authenticate(self, token):
        """The live AccessToken for a bearer value, or Graph's 401."""
        if not token:
            raise GraphError.unauthenticated("Access token is empty.")
        with self._lock:
            entry = self._access.get(token)
        if entry is None or (entry.grant is not None and entry.grant.revoked):
            raise GraphError.unauthenticated("Invalid token.")
        if self.clock.time() >= entry.expires_at:
            raise GraphError.unauthenticated("Lifetime validation failed, the token is expired.")
        return entry

    def revoke_user(self, user):
        with self._lock:
            for grant, _ in self._refresh.values():
                if grant.user is user:
                    grant.revoked = True

    def expire_access_tokens(self, user=None):
        with self._lock:
            for entry in self._access.values():
                if user is None or entry.user is user:
                    entry.expires_at = 0.0

    def expire_refresh_tokens(self, user=None):
        """Make current refresh tokens behave as replaced long ago (invalid_grant 70008)."""
        with self._lock:
            for entry in self._refresh.values():
                if user is None or entry[0].user is user:
                    entry[1] = -1e12
