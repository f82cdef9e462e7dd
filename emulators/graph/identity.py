"""Microsoft identity platform v2.0 endpoints of the emulator (what msal talks to).

What it is: ``/{tenant}/v2.0/.well-known/openid-configuration``, the authorize endpoint with an
auto-consent page, and the token endpoint with the authorization_code (PKCE S256 required),
refresh_token (with rotation) and client_credentials grants, for apps registered in the
emulator. ``{tenant}`` is ``common``, ``organizations``, a tenant id or a tenant domain.

How it works: GET ``/{tenant}/oauth2/v2.0/authorize`` validates client_id and redirect_uri (an
error page, as AAD shows, since redirecting to an unverified URI would be unsafe), then
response_type and PKCE (redirected errors). It renders a form with a user picker and the
buttons "Accept" (id ``accept``) and "Cancel" (id ``cancel``), posted to ``.../consent``; with
``auto_consent`` set to 'accept' or 'cancel' it redirects at once. The token endpoint answers
AAD's JSON, including ``id_token`` (an unsigned JWT with oid, tid, preferred_username, aud,
iss and the authorize request's nonce, which msal checks) and ``client_info`` (base64url JSON
``{"uid", "utid"}``, which msal turns into the home account id). Every refresh returns a new
refresh token; the one it replaced keeps working for ``refresh_grace`` seconds, then answers
``invalid_grant``. Access tokens are JWT-shaped but opaque here: the emulator looks them up.

How to use it: through ``GraphEmulator`` (``register_app``, ``issue_tokens``, ``app_token``,
``revoke_user``, ``expire_tokens``); see ``tokens.py`` for the grant bookkeeping.

Client credentials may be a secret or a certificate's signed assertion (see ``apps.py``);
apps are multi-tenant unless registered with a home tenant.

Caveats: tokens are not signed (``alg: none``); no device-code, ROPC or OBO grants;
``response_mode`` is ``query`` (a 302) or ``form_post`` (a page whose form posts the answer).
"""

import base64
import hashlib
import html
import secrets
from urllib.parse import urlencode

from emulators.gmail.wire import html_response, redirect

from .apps import AppRegistration, authenticate_client
from .tokens import GRAPH_RESOURCE, AuthCode, TokenBook, normalize_scopes
from .wire import AadError, json_response

ID_SCOPES = {"openid", "profile", "email", "offline_access"}
CODE_TTL_SECONDS = 600


def _pkce_matches(verifier, challenge):
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii") == challenge


class Identity:
    def __init__(self, emulator, token_ttl=3599, refresh_grace=60.0, auto_consent=None):
        self.emulator = emulator
        self.clock = emulator.clock
        self.auto_consent = auto_consent
        self.book = TokenBook(self.clock, token_ttl, refresh_grace)
        self.apps = {}  # client_id -> apps.AppRegistration
        self._pending = {}  # consent request id -> authorize query

    def register_app(
        self, client_id, client_secret, redirect_uris=None, *, certificates=(), tenant=None
    ):
        app = AppRegistration(
            client_id,
            client_secret,
            tuple(redirect_uris) if redirect_uris else None,
            tenant.id if tenant is not None else None,
        )
        for pem in certificates:
            app.add_certificate(pem)
        self.apps[client_id] = app
        return app

    # Discovery

    def openid_configuration(self, base, tenant_key):
        tenant = self._tenant(tenant_key)
        tid = tenant.id if tenant else "{tenantid}"
        prefix = f"{base}/{tenant_key}"
        return json_response(
            200,
            {
                "token_endpoint": f"{prefix}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                ],
                "jwks_uri": f"{prefix}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["none"],
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{tid}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{prefix}/oauth2/v2.0/authorize",
                "end_session_endpoint": f"{prefix}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "oid", "tid"],
                "tenant_region_scope": "EU",
                "cloud_instance_name": "localhost",
                "msgraph_host": base.split("//", 1)[1],
            },
            content_type="application/json; charset=utf-8",
        )

    def _tenant(self, key):
        """The Tenant named by a tenant segment; None for common/organizations; AAD 400 else."""
        if key.lower() in ("common", "organizations"):
            return None
        tenant = self.emulator.tenant(key)
        if tenant is None:
            raise AadError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{key}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )
        return tenant

    # Authorize

    def _check_client(self, query):
        client_id = query.get("client_id", "")
        if client_id not in self.apps:
            raise AadError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory.",
            )
        allowed = self.apps[client_id].redirect_uris
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri or (allowed is not None and redirect_uri not in allowed):
            raise AadError(
                400,
                "invalid_request",
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the "
                f"redirect URIs configured for the application '{client_id}'.",
            )

    def authorize(self, base, tenant_key, query):
        try:
            tenant = self._tenant(tenant_key)
            self._check_client(query)
        except AadError as error:
            return html_response(error.status, f"<h1>Sign in</h1><p>{html.escape(str(error))}</p>")
        problem = self._authorize_problem(query)
        if problem is not None:
            return self._redirect_error(query, "invalid_request", problem)
        if self.auto_consent:
            login = query.get("login_hint") or self.emulator.default_login(tenant)
            decision = "accept" if self.auto_consent == "accept" else "cancel"
            return self._decide(base, query, login, decision)
        request_id = secrets.token_urlsafe(16)
        self._pending[request_id] = (tenant_key, dict(query))
        return html_response(200, self._page(tenant_key, tenant, query, request_id))

    @staticmethod
    def _authorize_problem(query):
        if query.get("response_mode", "query") not in ("query", "form_post"):
            return "AADSTS900144: response_mode must be 'query' or 'form_post'."
        if query.get("response_type") != "code":
            return "AADSTS700054: response_type 'code' is required."
        if not query.get("code_challenge"):
            return "AADSTS9002325: Proof Key for Code Exchange is required."
        if query.get("code_challenge_method", "plain") != "S256":
            return "AADSTS501491: Invalid code_challenge_method; only S256 is accepted."
        return None

    def _page(self, tenant_key, tenant, query, request_id):
        logins = self.emulator.logins(tenant)
        hint = query.get("login_hint") or self.emulator.default_login(tenant) or ""
        options = "".join(
            f'<option value="{html.escape(u)}"{" selected" if u == hint else ""}>'
            f"{html.escape(u)}</option>"
            for u in logins
        )
        return (
            "<!DOCTYPE html><html><head><title>Permissions requested</title></head><body>"
            f"<h1>Permissions requested</h1><p>{html.escape(query.get('client_id', ''))} "
            f"asks for: {html.escape(query.get('scope', ''))}</p>"
            f'<form method="post" action="/{html.escape(tenant_key)}/oauth2/v2.0/consent">'
            f'<input type="hidden" name="request" value="{request_id}">'
            f'<select name="login" id="login">{options}</select>'
            '<button type="submit" name="decision" value="accept" id="accept">Accept</button>'
            '<button type="submit" name="decision" value="cancel" id="cancel">Cancel</button>'
            "</form></body></html>"
        )

    def consent(self, base, form):
        pending = self._pending.pop(form.get("request", ""), None)
        if pending is None:
            return html_response(400, "<p>This sign-in request has expired. Start again.</p>")
        _, query = pending
        return self._decide(base, query, form.get("login", ""), form.get("decision", "cancel"))

    def _decide(self, base, query, login, decision):
        if decision != "accept":
            return self._redirect_error(
                query,
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.",
                error_subcode="cancel",
            )
        user = self.emulator.find_user(login)
        if user is None:
            return self._redirect_error(
                query, "access_denied", f"AADSTS50034: The user account {login} does not exist."
            )
        code = AuthCode(
            secrets.token_urlsafe(48),
            user,
            query["client_id"],
            query["redirect_uri"],
            normalize_scopes(query.get("scope", "")),
            query["code_challenge"],
            query.get("nonce"),
            self.clock.time() + CODE_TTL_SECONDS,
        )
        self.book.add_code(code)
        params = {"code": code.code, "state": query.get("state", "")}
        params["session_state"] = secrets.token_hex(16)
        return self._respond(query, params)

    def _redirect_error(self, query, error, description, **extra):
        params = {"error": error, "error_description": description, **extra}
        if query.get("state"):
            params["state"] = query["state"]
        return self._respond(query, params)

    def _respond(self, query, params):
        """Send the authorization response by redirect, or as an auto-posted form."""
        if query.get("response_mode") != "form_post":
            return redirect(self._with_query(query["redirect_uri"], params))
        fields = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        return html_response(
            200,
            '<html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(query["redirect_uri"])}">{fields}'
            "</form></body></html>",
        )

    @staticmethod
    def _with_query(uri, params):
        return uri + ("&" if "?" in uri else "?") + urlencode(params)

    # Token

    def token(self, base, tenant_key, form):
        try:
            tenant = self._tenant(tenant_key)
            authenticate_client(self.apps, form, tenant, self._token_audiences(base, tenant_key))
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                result = self._by_code(base, tenant, form)
            elif grant_type == "refresh_token":
                result = self.book.refresh(
                    base, form.get("refresh_token", ""), form["client_id"], tenant, form
                )
            elif grant_type == "client_credentials":
                result = self._client_credentials(tenant, form)
            else:
                raise AadError(
                    400,
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant_type}'.",
                )
        except AadError as error:
            return error.to_response(self.clock.time(), form.get("client-request-id"))
        return json_response(200, result, content_type="application/json; charset=utf-8")

    def _token_audiences(self, base, tenant_key):
        """Token endpoint URIs a client assertion may name as ``aud`` for this request."""
        names = {tenant_key}
        tenant = self.emulator.tenant(tenant_key)
        if tenant is not None:
            names.update((tenant.id, tenant.domain))
        return {
            f"{host}/{name}/oauth2/v2.0/token"
            for host in (base, "https://login.microsoftonline.com")
            for name in names
        }

    def _by_code(self, base, tenant, form):
        code = self.book.redeem_code(form.get("code", ""), form["client_id"])
        if form.get("redirect_uri") != code.redirect_uri:
            raise AadError(
                400,
                "invalid_grant",
                500117,
                "The reply uri specified in the request does not match the reply uri used "
                "in the authorization request.",
            )
        if not _pkce_matches(form.get("code_verifier", ""), code.challenge):
            raise AadError(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        if tenant is not None and code.user.tenant is not tenant:
            raise AadError(
                400,
                "invalid_grant",
                50020,
                f"User account '{code.user.upn}' does not exist in tenant '{tenant.domain}'.",
            )
        return self.book.grant_tokens(
            base, code.user, code.client_id, code.scopes, nonce=code.nonce, form=form
        )

    def _client_credentials(self, tenant, form):
        if tenant is None:
            raise AadError(
                400,
                "invalid_request",
                50059,
                "No tenant-identifying information found in either the request or implied "
                "by any provided credentials.",
            )
        scope = form.get("scope", "").strip()
        if scope != f"{GRAPH_RESOURCE}/.default":
            raise AadError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        roles = self.emulator.app_roles(tenant, form["client_id"])
        return self.book.app_tokens(tenant, form["client_id"], roles)
