"""``GraphEmulator``: Microsoft identity platform v2.0 + Graph v1.0 mail, and its test controls.

What it is: an in-process HTTPS server on 127.0.0.1 that msal and ``requests`` talk to exactly
as they talk to ``login.microsoftonline.com`` and ``graph.microsoft.com``, with different URLs:
the authority is ``https://localhost:PORT/{tenant}`` and Graph is ``https://localhost:PORT/v1.0``.
It holds tenants, users and their mailboxes, the identity server, delta state, upload sessions,
per-mailbox throttling and scripted failures.

How it works: ``handle`` is the entry for every HTTP request: identity paths go to
``identity.py``, ``/v1.0/$batch`` is unpacked here, ``/upload/{token}`` to ``outgoing.py`` and
everything else under ``/v1.0`` to ``handle_api``, which also runs each request of a batch. An
API request passes, in order: scripted failures (``inject_errors``/``fail_next``), bearer token
(401), an app token without any role (403 ``AccessDenied``), the ``/users`` collection
(``directory.py``), target user (``me`` or ``users/{id|upn}``), route (400/405), permission
(403 ``ErrorAccessDenied``), the tenant's application access policy for app tokens (403
``ErrorAccessDenied`` [RAOP]), mailbox concurrency slot and request budget (429 +
Retry-After), optional latency, then the handler under one lock. Batch requests run in
dependency waves, each wave on up to ``batch_concurrency`` threads, so they meet the same
mailbox limits as separate requests.

How to use it::

    with GraphEmulator() as emu:
        emu.add_user("ann@contoso.example", "Ann Lee")
        emu.add_message("ann@contoso.example", raw_bytes, folder="inbox")
        app = msal.ConfidentialClientApplication(
            emu.client_id, client_credential=emu.client_secret,
            authority=emu.authority("common"), instance_discovery=False,
            http_client=session_with_verify(emu.ca_bundle))

Organisation mode: ``create_app(tenant, roles=...)`` registers a single-tenant app with a
secret and a certificate and returns its ``AppCredentials``; ``grant_consent``,
``revoke_consent`` and ``restrict_app`` change what its client-credentials tokens may do.

Caveats: see the modules; notably folders cannot be deleted, only ``receivedDateTime`` filters
are understood, and tokens are unsigned.
"""

import datetime
import logging
import secrets
import threading
import time
import uuid
from collections import deque
from urllib.parse import parse_qsl, urlsplit

from emulators import crypto
from emulators.gmail import GmailEmulator
from emulators.gmail.quota import Clock

from . import batch, directory, loader, outgoing, store, tls
from .api import PROFILE, Call, allowed, match, prefer, split_path
from .apps import AppCredentials
from .delta import DeltaTracker
from .identity import Identity
from .mime import addresses, parse_headers, strip_bcc
from .throttle import Throttle
from .wire import AadError, GraphError, json_response, new_request_id

_logger = logging.getLogger("emulators.graph")
DEFAULT_APP_ROLES = ("Mail.Read", "Mail.ReadWrite", "Mail.Send", "User.Read.All")
DEFAULT_SCOPES = ("Mail.Read", "Mail.ReadWrite", "Mail.Send", "User.Read")
NO_ROLES = "Either scp or roles claim need to be present in the token."
INSUFFICIENT = "Insufficient privileges to complete the operation."
RAOP_DENIED = (
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
    "settings."
)


def _bearer(headers):
    value = headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else ""


def _epoch(value, clock):
    if value is None:
        return clock.time()
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return float(value)


class GraphEmulator:
    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        *,
        client_id="emulator-client-id",
        client_secret="emulator-client-secret",
        redirect_uris=None,
        default_user=None,
        token_ttl=3599,
        refresh_grace=60.0,
        auto_consent=None,
        throttle_scale=1.0,
        concurrency=4,
        delta_max_age=None,
        batch_concurrency=4,
    ):
        self.host, self.port = host, port
        self.clock = Clock()
        self.client_id, self.client_secret = client_id, client_secret
        self.default_user = default_user.lower() if default_user else None
        self.latency = 0.0
        self.batch_concurrency = batch_concurrency
        self.tenants = {}
        self.outbox = []
        self._lock = threading.RLock()
        self._injected = []
        self._fail_next = deque()
        self._server = None
        self._certs = None
        self.throttle = Throttle(self.clock, scale=throttle_scale, concurrency=concurrency)
        self.delta = DeltaTracker(self.clock, delta_max_age)
        self.uploads = outgoing.UploadSessions()
        self.identity = Identity(self, token_ttl, refresh_grace, auto_consent)
        self.identity.register_app(client_id, client_secret, redirect_uris)

    # Lifecycle and URLs

    def start(self):
        if self._server is None:
            self._certs = tls.make_certificates()
            self._server, _ = tls.serve(self.handle, self.host, self.port, self._certs)
            self.port = self._server.server_address[1]
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._certs.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def ca_bundle(self):
        """Path of the PEM file with the emulator's CA, for ``verify=`` (after ``start``)."""
        return self._certs.ca_bundle if self._certs else None

    @property
    def authority_base(self):
        return f"https://localhost:{self.port}"

    def authority(self, tenant="common"):
        return f"{self.authority_base}/{tenant}"

    @property
    def base_url(self):
        return self.authority_base + "/"

    @property
    def graph_base(self):
        return self.authority_base + "/v1.0"

    # Tenants and users

    def add_tenant(self, domain, tenant_id=None, app_roles=DEFAULT_APP_ROLES):
        with self._lock:
            tenant = store.new_tenant(domain.lower(), tenant_id)
            tenant.app_roles[None] = tuple(app_roles)
            self.tenants[tenant.id] = tenant
            return tenant

    def tenant(self, key):
        """The tenant with this id or domain, or None."""
        key = key.lower()
        with self._lock:
            return self.tenants.get(key) or next(
                (t for t in self.tenants.values() if t.domain == key), None
            )

    def add_user(self, upn, display_name=None, tenant=None):
        """Create a user (their tenant is ``tenant``, else the one of their domain)."""
        with self._lock:
            found = self.find_user(upn)
            if found is not None:
                return found
            domain = upn.split("@")[-1]
            owner = self.tenant(tenant) if isinstance(tenant, str) else tenant
            owner = owner or self.tenant(domain) or self.add_tenant(domain)
            return store.new_user(owner, upn, display_name)

    def find_user(self, key):
        """A user by UPN (any case) or object id, or None."""
        key = (key or "").lower()
        with self._lock:
            for tenant in self.tenants.values():
                if key in tenant.users:
                    return tenant.users[key]
                for user in tenant.users.values():
                    if user.id == key:
                        return user
        return None

    def user(self, key):
        found = self.find_user(key)
        if found is None:
            raise KeyError(f"no user {key}")
        return found

    def logins(self, tenant=None):
        tenants = [tenant] if tenant else list(self.tenants.values())
        return [upn for t in tenants for upn in t.users]

    def default_login(self, tenant=None):
        logins = self.logins(tenant)
        if self.default_user in logins:
            return self.default_user
        return logins[0] if logins else None

    def app_roles(self, tenant, client_id):
        return tenant.app_roles.get(client_id, tenant.app_roles.get(None, ()))

    def set_app_roles(self, roles, tenant=None, client_id=None):
        """Admin-consented application roles; ``roles=()`` simulates missing admin consent."""
        tenants = [self.tenant(tenant) if isinstance(tenant, str) else tenant]
        for target in tenants if tenant else self.tenants.values():
            target.app_roles[client_id] = tuple(roles)

    # Folders and messages

    def folder(self, user, key):
        """The folder of ``user`` with this id, well-known name or display path ('A/B')."""
        owner = self.user(user)
        with self._lock:
            found = owner.folder(key)
            if found is not None:
                return found
            parent = owner.folder("msgfolderroot")
            for name in key.split("/"):
                parent = next(
                    (
                        f
                        for f in owner.folders.values()
                        if f.parent_id == parent.id and f.display_name.lower() == name.lower()
                    ),
                    None,
                )
                if parent is None:
                    return None
            return parent

    def add_folder(self, user, path, hidden=False):
        """Create the folders of ``path`` ('Clients/Acme') as needed; return the last's id."""
        owner = self.user(user)
        with self._lock:
            parent = owner.folder("msgfolderroot")
            for index, name in enumerate(path.split("/")):
                existing = self.folder(user, "/".join(path.split("/")[: index + 1]))
                parent = existing or owner.add_folder(name, parent.id, hidden)
            return parent.id

    def add_message(self, user, raw, folder="inbox", received=None, is_read=False):
        """Store MIME bytes in ``folder`` of ``user`` (created on demand); return the ImmutableId.

        ``received`` is a datetime, ISO string or epoch seconds; default is the emulator clock.
        """
        owner = self.add_user(user)
        with self._lock:
            target = self.folder(owner.upn, folder) or owner.folder(self.add_folder(user, folder))
            now = self.clock.time()
            received = _epoch(received, self.clock)
            message = owner.insert(bytes(raw), target, received, now, is_read=is_read)
            return message.immutable_id

    def message(self, user, message_id):
        """The stored message (``.raw``, ``.rest_id``, ``.immutable_id``, ``.folder_id``)."""
        found = self.user(user).message(message_id)
        if found is None:
            raise KeyError(f"no message {message_id}")
        return found

    def move_message(self, user, message_id, folder):
        """Move like Outlook does; returns the message's new REST id."""
        with self._lock:
            message = self.message(user, message_id)
            self.user(user).move(message, self.folder(user, folder), self.clock.time())
            return message.rest_id

    def delete_message(self, user, message_id):
        with self._lock:
            self.user(user).delete(self.message(user, message_id))

    def add_reference_attachment(self, user, message_id, name, source_url, content_type=None):
        """Attach a cloud link (no bytes) to a message; returns the attachment id."""
        with self._lock:
            message = self.message(user, message_id)
            item = {
                "@odata.type": "#microsoft.graph.referenceAttachment",
                "id": store.new_id("AAMkAGref"),
                "lastModifiedDateTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "name": name,
                "contentType": content_type,
                "size": 870,
                "isInline": False,
                "sourceUrl": source_url,
            }
            message.references.append(item)
            self.user(user).update(message, self.clock.time())
            return item["id"]

    def deliver(self, sender, raw, save_to_sent=True):
        """File ``raw`` in the sender's Sent Items and in local recipients' Inboxes (no Bcc)."""
        with self._lock:
            now = self.clock.time()
            recipients = addresses(parse_headers(raw))
            self.outbox.append({"from": sender.upn, "to": recipients, "raw": raw})
            if save_to_sent:
                sender.insert(raw, sender.folder("sentitems"), now, now, is_read=True)
            delivered = strip_bcc(raw)
            for address in recipients:
                recipient = self.find_user(address)
                if recipient is not None and recipient is not sender:
                    recipient.insert(delivered, recipient.folder("inbox"), now, now)

    def load_eml_dir(self, directory, user=None):
        return loader.load_eml_dir(self, directory, user)

    def load_mbox(self, path, user):
        return loader.load_mbox(self, path, user)

    def load_folders(self, user, folders):
        """Import ``{folder: [paths of .eml files]}`` for ``user``."""
        return loader.load_folders(self, user, folders)

    # Identity controls

    def register_app(
        self, client_id, client_secret, redirect_uris=None, *, certificates=(), tenant=None
    ):
        """Register an app: a secret (None: none) and/or certificate PEMs; with ``tenant`` it is
        single-tenant there (AADSTS700016 in any other tenant), else multi-tenant."""
        home = self._tenant_of(tenant) if tenant is not None else None
        return self.identity.register_app(
            client_id, client_secret, redirect_uris, certificates=certificates, tenant=home
        )

    def create_app(
        self,
        tenant,
        *,
        name="Trail email integration",
        secret=True,
        certificate=True,
        roles=(),
        client_id=None,
    ):
        """Register a single-tenant app in ``tenant`` with a fresh secret and/or certificate.

        ``roles`` are the application permissions an administrator consented to (none by
        default: the token then has no ``roles``). Returns an ``apps.AppCredentials``.
        """
        if self._server is None and not self.port:
            raise RuntimeError("start the emulator first: the app's authority needs its port")
        home = self._tenant_of(tenant)
        client_id = client_id or str(uuid.uuid4())
        credentials = AppCredentials(client_id, home.id, self.authority(home.id))
        if secret:
            credentials.client_secret = secrets.token_urlsafe(30)
        if certificate:
            key = crypto.new_private_key()
            credentials.private_key_pem = crypto.private_key_pem(key)
            pem, sha1, sha256 = crypto.self_signed_certificate(key, name)
            credentials.certificate_pem = pem
            credentials.thumbprint, credentials.thumbprint_sha256 = sha1, sha256
        certificates = [credentials.certificate_pem] if certificate else []
        with self._lock:
            self.register_app(
                client_id, credentials.client_secret, certificates=certificates, tenant=home
            )
            home.app_roles[client_id] = tuple(roles)
        return credentials

    def grant_consent(self, tenant, client_id, *roles):
        """Admin consent to application permissions (``Mail.Read``...) of an app in a tenant."""
        target = self._tenant_of(tenant)
        with self._lock:
            current = self.app_roles(target, client_id)
            target.app_roles[client_id] = tuple(dict.fromkeys((*current, *roles)))

    def revoke_consent(self, tenant, client_id, *roles):
        """Withdraw consented application permissions (all of them when none are named)."""
        target = self._tenant_of(tenant)
        with self._lock:
            current = self.app_roles(target, client_id)
            kept = tuple(r for r in current if roles and r not in roles)
            target.app_roles[client_id] = kept

    def restrict_app(self, tenant, client_id, mailboxes):
        """Scope an app to some mailboxes (an application access policy or an Exchange RBAC
        for Applications scope); others answer 403 ``ErrorAccessDenied``. None lifts it."""
        target = self._tenant_of(tenant)
        with self._lock:
            if mailboxes is None:
                target.mailbox_scopes.pop(client_id, None)
            else:
                target.mailbox_scopes[client_id] = {self.user(m).id for m in mailboxes}

    def _tenant_of(self, tenant):
        if isinstance(tenant, str):
            found = self.tenant(tenant)
            if found is None:
                raise KeyError(f"no tenant {tenant}")
            return found
        return tenant

    def issue_tokens(self, user, scopes=DEFAULT_SCOPES, client_id=None):
        """A delegated token response without the browser step (access, refresh, id token)."""
        owner = self.add_user(user)
        scopes = (*scopes, "openid", "profile", "offline_access")
        return self.identity.book.grant_tokens(
            self.authority_base, owner, client_id or self.client_id, scopes
        )

    def app_token(self, tenant=None, client_id=None):
        """An app-only access token for ``tenant`` (default: the first) with its consented roles."""
        target = self.tenant(tenant) if tenant else next(iter(self.tenants.values()))
        client_id = client_id or self.client_id
        roles = self.app_roles(target, client_id)
        return self.identity.book.app_tokens(target, client_id, roles)["access_token"]

    def revoke_user(self, user):
        self.identity.book.revoke_user(self.user(user))

    def expire_tokens(self, user=None):
        self.identity.book.expire_access_tokens(self.user(user) if user else None)

    def expire_refresh_tokens(self, user=None):
        self.identity.book.expire_refresh_tokens(self.user(user) if user else None)

    def expire_delta(self, user, folder=None):
        """Make the delta/skip tokens of ``user`` (for ``folder`` only, if given) answer 410."""
        with self._lock:
            folder_id = self.folder(user, folder).id if folder else None
            self.delta.expire(self.user(user).upn, folder_id)

    # Limits, failures, statistics

    def set_throttle(self, requests_per_window=None, scale=None, concurrency=None, enabled=None):
        for name, value in (
            ("requests_per_window", requests_per_window),
            ("scale", scale),
            ("concurrency", concurrency),
            ("enabled", enabled),
        ):
            if value is not None:
                setattr(self.throttle, name, value)

    def set_latency(self, seconds):
        self.latency = seconds

    # Scripted failures work exactly as in the Gmail emulator (same queues, same matching).
    inject_errors = GmailEmulator.inject_errors
    clear_failures = GmailEmulator.clear_failures
    _scripted = GmailEmulator._scripted
    _scripted_response = staticmethod(GmailEmulator._scripted_response)

    def fail_next(self, n, status=503, code="ServiceNotAvailable", message=None, retry_after=None):
        """Fail the next ``n`` Graph API requests with a Graph-shaped error."""
        error = GraphError(status, code, message or "The service is temporarily unavailable.")
        with self._lock:
            for _ in range(n):
                body = error.body(new_request_id(), None, self.clock.time())
                self._fail_next.append((status, body, retry_after))

    def stats(self):
        """Requests per mailbox and route kind; ``http_requests`` counts a batch once and
        ``batch_inner_requests`` its parts."""
        return self.throttle.stats()

    def reset_stats(self):
        self.throttle.reset_stats()

    # Request dispatch

    def handle(self, method, target, headers, body):
        """Answer one HTTP request (called from the server's worker threads)."""
        try:
            return self._route(method, target, headers, body)
        except Exception:
            # An emulator bug must reach the client as a 500 it can see, not a dropped socket.
            _logger.exception("emulator failure on %s %s", method, target)
            error = GraphError(500, "InternalServerError", "The emulator failed; see its log.")
            return error.to_response(new_request_id(), None, self.clock.time())

    def _route(self, method, target, headers, body):
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        path = split.path
        if path.startswith("/v1.0/"):
            if method == "POST" and path.rstrip("/") == "/v1.0/$batch":
                return batch.run(self, headers, body)
            self.throttle.record_http()
            return self.handle_api(method, target, headers, body)
        self.throttle.record_http()
        if path.startswith("/upload/") and method == "PUT":
            return self._upload(path.rsplit("/", 1)[-1], headers, body)
        scripted = self._scripted(target, api_call=False)
        if scripted is not None:
            return scripted
        return self._identity(method, path, query, headers, body)

    def _identity(self, method, path, query, headers, body):
        tenant, _, rest = path.strip("/").partition("/")
        base = self.authority_base
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        form.setdefault("client-request-id", headers.get("client-request-id", ""))
        routes = {
            ("GET", "v2.0/.well-known/openid-configuration"): lambda: (
                self.identity.openid_configuration(base, tenant)
            ),
            ("GET", "oauth2/v2.0/authorize"): lambda: self.identity.authorize(base, tenant, query),
            ("POST", "oauth2/v2.0/consent"): lambda: self.identity.consent(base, form),
            ("POST", "oauth2/v2.0/token"): lambda: self.identity.token(base, tenant, form),
            ("GET", "discovery/v2.0/keys"): lambda: json_response(200, {"keys": []}),
        }
        route = routes.get((method, rest))
        if route is None:
            return json_response(404, {"error": "not_found", "error_description": path})
        try:
            with self._lock:
                return route()
        except AadError as error:  # discovery or sign-in for an unknown tenant
            return error.to_response(self.clock.time())

    def _upload(self, token, headers, body):
        request_id = new_request_id()
        try:
            with self._lock:
                response = outgoing.upload_chunk(self, token, headers, body)
        except GraphError as error:
            response = error.to_response(request_id, None, self.clock.time())
        response.headers.setdefault("request-id", request_id)
        self.throttle.record(None, "upload", response.status)
        return response

    def _resolve_user(self, token, segments):
        """(target user, link prefix, path after the prefix) of an API path."""
        if segments[:1] == ["me"]:
            if token.app_only:
                raise GraphError.bad_request(
                    "/me request is only valid with delegated authentication flow."
                )
            return token.user, "me", segments[1:]
        if segments[:1] == ["users"] and len(segments) >= 2:
            user = self.find_user(segments[1])
            if user is None or user.tenant is not token.tenant:
                raise GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{segments[1]}' is invalid."
                )
            if not token.app_only and user is not token.user and len(segments) > 2:
                raise GraphError.access_denied()
            return user, f"users/{segments[1]}", segments[2:]
        first = segments[0] if segments else ""
        raise GraphError.bad_request(f"Resource not found for the segment '{first}'.")

    def handle_api(self, method, target, headers, body, inner=False):
        """Answer one Graph request, top-level or from inside a ``$batch``."""
        request_id = new_request_id()
        client_request_id = headers.get("client-request-id")
        mailbox, kind = None, "unknown"
        try:
            scripted = self._scripted(target, api_call=True)
            if scripted is not None:
                response = scripted
            else:
                split = urlsplit(target)
                token = self.identity.book.authenticate(_bearer(headers))
                if token.app_only and not token.roles:
                    raise GraphError(403, "AccessDenied", NO_ROLES)
                segments = split_path(split.path[len("/v1.0") :])
                if segments == ["users"] and method == "GET":
                    kind = "users"
                    query = dict(parse_qsl(split.query, keep_blank_values=True))
                    with self._lock:
                        return self._finish(
                            directory.list_users(self, token, query, headers),
                            request_id, client_request_id, None, kind, inner,
                        )  # fmt: skip
                user, prefix, rest = self._resolve_user(token, segments)
                handler, kind, permission, args = match(method, rest)
                if not allowed(token, permission):
                    if permission == PROFILE:  # the user object is Entra ID's, not Exchange's
                        raise GraphError(403, "Authorization_RequestDenied", INSUFFICIENT)
                    raise GraphError.access_denied()
                if token.app_only and kind != "user":
                    self._check_mailbox_scope(token, user)
                mailbox = user.upn
                with self.throttle.slot(mailbox):
                    self.throttle.charge(mailbox)
                    if self.latency:
                        time.sleep(self.latency)
                    max_page, immutable = prefer(headers)
                    query = dict(parse_qsl(split.query, keep_blank_values=True))
                    call = Call(
                        method, rest, args, query, headers, body, token, user, prefix,
                        self.graph_base, immutable, max_page, self,
                    )  # fmt: skip
                    with self._lock:
                        response = handler(call)
        except GraphError as error:
            response = error.to_response(request_id, client_request_id, self.clock.time())
        return self._finish(response, request_id, client_request_id, mailbox, kind, inner)

    def _finish(self, response, request_id, client_request_id, mailbox, kind, inner):
        response.headers.setdefault("request-id", request_id)
        response.headers.setdefault("client-request-id", client_request_id or request_id)
        self.throttle.record(mailbox, kind, response.status, inner)
        return response

    @staticmethod
    def _check_mailbox_scope(token, user):
        """An application access policy (or RBAC scope) of the tenant may exclude ``user``."""
        allowed_ids = token.tenant.mailbox_scopes.get(token.client_id)
        if allowed_ids is not None and user.id not in allowed_ids:
            raise GraphError(403, "ErrorAccessDenied", RAOP_DENIED)


__all__ = ["DEFAULT_SCOPES", "GraphEmulator"]
