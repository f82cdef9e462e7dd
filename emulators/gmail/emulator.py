"""``GmailEmulator``: the Gmail API v1 + Google OAuth emulator and its test-control API.

What it is: an in-process server on 127.0.0.1 that google-api-python-client and google-auth talk
to exactly as they talk to Google, with different endpoint URLs. It owns the mailboxes, the
OAuth server, the quota ledger, the discovery route table, and scripted failures.

How it works: ``handle`` is the single entry for every HTTP request (and every inner request of
a batch). OAuth, discovery, Directory and batch URLs are dispatched by path; everything else
must match a discovery method. An API call then goes through, in order: scripted failures
(``inject_errors``/``fail_next``), bearer-token check (401), ``userId`` resolution (403 for
another user's mailbox), query validation against the discovery document (400), scope check
(403 insufficientPermissions), per-user concurrency slot and quota units (429 + Retry-After),
optional latency, then the handler under one lock.

How to use it::

    with GmailEmulator(client_id='cid', client_secret='sec') as emu:
        emu.add_message('a@example.com', raw_bytes, ['INBOX', 'UNREAD'])
        tokens = emu.issue_tokens('a@example.com')
        creds = Credentials(tokens['access_token'], refresh_token=tokens['refresh_token'],
                            token_uri=emu.token_uri, client_id='cid', client_secret='sec')
        gmail = build('gmail', 'v1', credentials=creds, static_discovery=True,
                      client_options={'api_endpoint': emu.base_url})

Organisation mode (see ``workspace.py``)::

    with GmailEmulator() as emu:
        emu.add_domain_user('ann@acme.example', 'Ann Lee', admin=True)
        key = emu.create_service_account(domain='acme.example', scopes=[GMAIL_SCOPE])
        creds = service_account.Credentials.from_service_account_info(
            key, scopes=[GMAIL_SCOPE], subject='ann@acme.example')

Caveats: google-api-python-client keeps the https scheme for media-upload URLs when only
``api_endpoint`` is overridden, so send with ``body={'raw': ...}`` or build the service from
``emu.discovery_document()`` (``build_from_document``) to use ``media_body``.
"""

import base64
import json
import re
import secrets
import threading
import time
from collections import deque
from urllib.parse import parse_qsl, urlsplit

from emulators import crypto

from . import loader, server
from .api import HANDLERS, Call
from .discovery import (
    RouteTable,
    load_discovery_document,
    load_packaged_document,
    rebased_document,
)
from .oauth import DEFAULT_SCOPE, OAuthServer
from .quota import Clock, QuotaLedger
from .store import Mailbox, MessageIds
from .wire import ApiError, Response, error_body, error_for_reason, json_response
from .workspace import ServiceAccount, Workspace, new_client_id, service_account_key

AUTHORIZE_PATHS = ("/o/oauth2/auth", "/o/oauth2/v2/auth")
TOKEN_PATHS = ("/token", "/o/oauth2/token", "/oauth2/v4/token")
REVOKE_PATHS = ("/revoke", "/o/oauth2/revoke")
BATCH_PATHS = ("/batch/gmail/v1", "/batch")
DISCOVERY_PATHS = ("/discovery/v1/apis/gmail/v1/rest", "/$discovery/rest")
DIRECTORY_PREFIX = "/admin/directory/v1/"
DIRECTORY_METHODS = ("list",)
WEEK_SECONDS = 7 * 86400
GOOGLE_TOKEN_AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
)


def _bearer(headers, query):
    value = headers.get("authorization", "")
    if value.lower().startswith("bearer "):
        return value[7:].strip()
    return query.get("access_token") or query.get("oauth_token") or ""


class GmailEmulator:
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
        history_max_age=WEEK_SECONDS,
        quota_units_per_minute=15000,
        quota_scale=1.0,
        concurrency_limit=None,
        auto_consent=None,
        discovery_path=None,
    ):
        self.host, self.port = host, port
        self.clock = Clock()
        self.default_user = default_user.lower() if default_user else None
        self.history_max_age = history_max_age
        self.latency = 0.0
        self.outbox = []
        self.mailboxes = {}
        self._ids = MessageIds()
        self._lock = threading.RLock()
        self._injected = []
        self._fail_next = deque()
        self._server = None
        self.document = load_discovery_document(discovery_path)
        self.routes = RouteTable(self.document)
        self.quota = QuotaLedger(self.clock, quota_units_per_minute, quota_scale, concurrency_limit)
        self.oauth = OAuthServer(
            self.clock,
            lambda: list(self.mailboxes),
            token_ttl,
            self.default_user,
            auto_consent,
        )
        self.oauth.register_client(client_id, client_secret, redirect_uris)
        self.client_id, self.client_secret = client_id, client_secret
        self.workspace = Workspace(self._token_audiences)
        self.oauth.assertion_grant = self._assertion_grant
        self._directory_routes = None
        self._routes = self._local_routes()

    # Lifecycle and URLs

    def start(self):
        if self._server is None:
            self._server, _ = server.serve(self.handle, self.host, self.port)
            self.port = self._server.server_address[1]
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self):
        return f"http://{self.host}:{self.port}/"

    @property
    def batch_url(self):
        return self.base_url + "batch/gmail/v1"

    @property
    def token_uri(self):
        return self.base_url + "token"

    @property
    def auth_uri(self):
        return self.base_url + "o/oauth2/auth"

    @property
    def revoke_uri(self):
        return self.base_url + "revoke"

    def discovery_document(self):
        """gmail.v1.json with rootUrl/batchPath pointing here, for ``build_from_document``."""
        return rebased_document(self.document, self.base_url)

    # Mailboxes and messages

    def mailbox(self, user, create=False):
        key = user.lower()
        with self._lock:
            if key not in self.mailboxes:
                if not create:
                    raise KeyError(f"no mailbox for {user}")
                self.mailboxes[key] = Mailbox(key, self.clock, self._ids)
            return self.mailboxes[key]

    def add_user(self, user, display_name="", aliases=()):
        box = self.mailbox(user, create=True)
        box.display_name = display_name
        box.aliases[0]["displayName"] = display_name
        for alias in aliases:
            box.add_alias(alias)
        return box

    def add_message(
        self,
        user,
        raw_bytes,
        label_ids=("INBOX",),
        internal_date=None,
        *,
        thread_id=None,
        forced_thread_id=None,
    ):
        """Store a message for ``user`` (created on demand); returns its Gmail id.

        ``internal_date`` is epoch milliseconds (an int) or a datetime; default is now.
        Unknown label names become user labels.
        """
        if internal_date is None:
            internal_date = int(self.clock.time() * 1000)
        elif hasattr(internal_date, "timestamp"):
            internal_date = int(internal_date.timestamp() * 1000)
        with self._lock:
            box = self.mailbox(user, create=True)
            labels = [box.label_id_for(label, create=True) for label in label_ids]
            message = box.insert(
                bytes(raw_bytes), labels, int(internal_date), thread_id, forced_thread_id
            )
            return message.id

    def get_message(self, user, message_id):
        with self._lock:
            return self.mailbox(user).get(message_id)

    def delete_message(self, user, message_id):
        with self._lock:
            self.mailbox(user).delete(message_id)

    def modify_labels(self, user, message_id, add=(), remove=()):
        with self._lock:
            box = self.mailbox(user)
            add = [box.label_id_for(label, create=True) for label in add]
            remove = [box.label_id_for(label) or label for label in remove]
            return list(box.modify(message_id, add, remove).label_ids)

    def deliver(self, sender, recipients, raw, internal_ms):
        """Hand a sent message to local recipients' INBOX and record it in ``outbox``."""
        with self._lock:
            self.outbox.append({"from": sender, "to": list(recipients), "raw": raw})
            for recipient in recipients:
                if recipient != sender and recipient in self.mailboxes:
                    self.mailboxes[recipient].insert(raw, ["INBOX", "UNREAD"], internal_ms)

    def load_eml_dir(self, directory, user=None):
        return loader.load_eml_dir(self, directory, user)

    def load_mbox(self, path, user):
        return loader.load_mbox(self, path, user)

    def expire_history(self, user, upto_history_id=None):
        """Make history up to ``upto_history_id`` (default: all so far) answer 404."""
        with self._lock:
            self.mailbox(user).expire_history(upto_history_id)

    # OAuth

    def register_client(self, client_id, client_secret, redirect_uris=None):
        self.oauth.register_client(client_id, client_secret, redirect_uris)

    def issue_tokens(self, user, scope=DEFAULT_SCOPE, client_id=None, offline=True):
        self.mailbox(user, create=True)
        return self.oauth.issue_tokens(user, client_id or self.client_id, scope, offline)

    def revoke(self, token_or_user):
        return self.oauth.revoke(token_or_user)

    def expire_tokens(self, user=None):
        self.oauth.expire_access_tokens(user)

    # Organisation mode (Google Workspace domains and service accounts)

    def add_domain(self, domain, customer_id=None):
        """Register a Workspace domain; returns its customer id (``C0...``)."""
        with self._lock:
            return self.workspace.add_domain(domain, customer_id).customer_id

    def add_domain_user(self, email, display_name="", admin=False):
        """A user of a Workspace domain (the domain is created on demand), with a mailbox."""
        given, _, family = display_name.partition(" ")
        with self._lock:
            self.workspace.add_user(email, given, family, admin)
            if display_name or email.lower() not in self.mailboxes:
                return self.add_user(email, display_name)
            return self.mailbox(email)

    def set_admin(self, email, admin=True):
        """Make a domain user a super administrator of the customer (or not)."""
        with self._lock:
            user = self.workspace.user(email)
            if user is None:
                raise KeyError(f"no domain user {email}")
            user.admin = admin

    def create_service_account(
        self,
        name="trail-sync",
        project_id="trail-project",
        *,
        domain=None,
        scopes=(DEFAULT_SCOPE,),
        client_id=None,
    ):
        """Make a service account with a fresh RSA key and return its JSON key dict.

        With ``domain``, the account's client id is also granted domain-wide delegation for
        ``scopes`` there. The dict is what Google's console downloads; its ``token_uri`` points
        at this emulator, so ``service_account.Credentials.from_service_account_info`` works.
        """
        if self._server is None and not self.port:
            raise RuntimeError("start the emulator first: the key's token_uri needs its port")
        key = crypto.new_private_key()
        client_id = client_id or new_client_id()
        info = service_account_key(
            self.base_url, name, project_id, key, client_id, secrets.token_hex(20)
        )
        account = ServiceAccount(
            info["client_email"], client_id, project_id, info["private_key_id"], key.public_key()
        )
        with self._lock:
            self.workspace.register(account)
            if domain:
                self.workspace.delegate(client_id, domain, scopes)
        return info

    def delegate(self, client_id, domain, scopes):
        """Domain-wide delegation: let ``client_id`` impersonate users of ``domain``."""
        with self._lock:
            self.workspace.delegate(client_id, domain, scopes)

    def revoke_delegation(self, client_id, domain, scopes=None):
        """Take back some delegated ``scopes`` (all, when None) of ``client_id`` in ``domain``."""
        with self._lock:
            self.workspace.revoke_delegation(client_id, domain, scopes)

    def disable_service_account(self, client_email, disabled=True):
        with self._lock:
            self.workspace.accounts[client_email.lower()].disabled = disabled

    def _token_audiences(self):
        # google-auth always signs for Google's own token URI, whatever token_uri it posts to.
        return list(GOOGLE_TOKEN_AUDIENCES) + [
            self.base_url.rstrip("/") + path for path in TOKEN_PATHS
        ]

    def _assertion_grant(self, form):
        with self._lock:
            return self.workspace.jwt_bearer_grant(form)

    # Limits, failures, statistics

    def set_quota(self, units_per_minute=None, scale=None, concurrency_limit=None, enabled=None):
        if units_per_minute is not None:
            self.quota.units_per_minute = units_per_minute
        if scale is not None:
            self.quota.scale = scale
        if concurrency_limit is not None:
            self.quota.concurrency_limit = concurrency_limit or None
        if enabled is not None:
            self.quota.enabled = enabled

    def set_latency(self, seconds):
        self.latency = seconds

    def inject_errors(self, path_regex, responses):
        """Queue scripted answers for requests whose path+query matches ``path_regex``.

        Each response is ``(status, body, retry_after)``; body is a dict (sent as JSON), str
        or bytes; ``retry_after`` (seconds) adds a Retry-After header when not None.
        """
        with self._lock:
            self._injected.append((re.compile(path_regex), deque(responses)))

    def fail_next(self, n, status=500, reason="backendError", retry_after=None):
        """Fail the next ``n`` Gmail API calls with a Google-shaped error."""
        with self._lock:
            for _ in range(n):
                self._fail_next.append((status, error_for_reason(status, reason), retry_after))

    def clear_failures(self):
        with self._lock:
            self._injected.clear()
            self._fail_next.clear()

    def _scripted(self, target, api_call):
        with self._lock:
            for pattern, queue in self._injected:
                if queue and pattern.search(target):
                    return self._scripted_response(*queue.popleft())
            if api_call and self._fail_next:
                return self._scripted_response(*self._fail_next.popleft())
        return None

    @staticmethod
    def _scripted_response(status, body, retry_after=None):
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        if isinstance(body, dict):
            return json_response(status, body, headers)
        data = body.encode() if isinstance(body, str) else (body or b"")
        return Response(status, data, {"Content-Type": "text/plain; charset=UTF-8", **headers})

    def stats(self):
        return self.quota.stats()

    def peak_minute_units(self, user=None):
        return self.quota.peak_minute_units(user.lower() if user else None)

    def reset_stats(self):
        self.quota.reset_stats()

    # Request dispatch

    def _local_routes(self):
        """(method, path) -> fn(query, headers, body) for the non-discovery endpoints."""
        oauth = self.oauth
        routes = {("POST", "/o/oauth2/approve"): lambda q, h, b: oauth.approve(self._form(h, b))}
        for path in AUTHORIZE_PATHS:
            routes["GET", path] = lambda q, h, b: oauth.authorize(q)
        for path in TOKEN_PATHS:
            routes["POST", path] = lambda q, h, b: oauth.token(
                self._form(h, b), self._basic_auth(h)
            )
        for path in REVOKE_PATHS:
            for method in ("GET", "POST"):
                routes[method, path] = lambda q, h, b: oauth.revoke_endpoint(
                    {**q, **self._form(h, b)}
                )
        routes["GET", "/oauth2/v3/userinfo"] = lambda q, h, b: oauth.userinfo(_bearer(h, q))
        for path in DISCOVERY_PATHS:
            routes["GET", path] = lambda q, h, b: json_response(200, self.discovery_document())
        return routes

    def handle(self, method, target, headers, body):
        """Answer one HTTP request (the server calls this from its worker threads)."""
        split = urlsplit(target)
        if method == "POST" and split.path in BATCH_PATHS:
            return self._batch(headers, body)
        if split.path.startswith(DIRECTORY_PREFIX):
            return self._directory(method, target, headers)
        local = self._routes.get((method, split.path))
        if local is None:
            return self.handle_api(method, target, headers, body)
        scripted = self._scripted(target, api_call=False)
        if scripted is not None:
            return scripted
        try:
            return local(dict(parse_qsl(split.query, keep_blank_values=True)), headers, body)
        except ApiError as error:
            return error.to_response()

    @staticmethod
    def _form(headers, body):
        if "json" in headers.get("content-type", ""):
            try:
                return {k: str(v) for k, v in json.loads(body or b"{}").items()}
            except (ValueError, AttributeError):
                return {}
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    @staticmethod
    def _basic_auth(headers):
        value = headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(value[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret

    def _resolve_mailbox(self, user_id, user):
        if user_id not in (None, "me") and user_id.lower() != user:
            raise ApiError(403, error_body(403, f"Delegation denied for {user}", "forbidden"))
        with self._lock:
            box = self.mailboxes.get(user)
        if box is None:
            # A service account acting as itself has no Gmail; Google says only this much.
            own = user in self.workspace.accounts
            message = "Precondition check failed." if own else "Mail service not enabled"
            raise ApiError(400, error_body(400, message, "failedPrecondition"))
        return box

    def _request_body(self, route, headers, body, params):
        if route.upload == "resumable" or params.get("uploadType") == "resumable":
            raise ApiError.unimplemented(route.method_id + " (resumable upload)")
        if route.upload:
            if params.get("uploadType") == "multipart":
                parts = server.split_multipart(headers.get("content-type", ""), body)
                if len(parts) != 2:
                    raise ApiError.bad_request("Multipart upload needs metadata and media parts.")
                try:
                    return json.loads(parts[0][1] or b"{}"), parts[1][1]
                except ValueError:
                    raise ApiError.bad_request("Invalid JSON in upload metadata.") from None
            return {}, body
        if not body:
            return {}, None
        try:
            return json.loads(body), None
        except ValueError:
            raise ApiError.bad_request(
                "Invalid JSON payload received. Unexpected token.", reason="parseError"
            ) from None

    def handle_api(self, method, target, headers, body):
        split = urlsplit(target)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        try:
            route, path_params = self.routes.match(method, split.path)
        except ApiError as error:
            return error.to_response()
        token = _bearer(headers, dict(pairs))
        scripted = self._scripted(target, api_call=True)
        if scripted is not None:
            user = self.oauth.peek_user(token)
            if user:
                self.quota.record_rejection(user, route.method_id)
            return scripted
        try:
            access = self.oauth.authenticate(token)
        except ApiError as error:
            return error.to_response()
        charged = False
        try:
            mailbox = self._resolve_mailbox(path_params.get("userId"), access.user)
            params = self.routes.validate_query(route, pairs)
            if not self.routes.scopes(route) & access.scopes:
                raise ApiError.insufficient_permissions()
            handler = HANDLERS.get(route.method_id)
            if handler is None:
                raise ApiError.unimplemented(route.method_id)
            json_body, media = self._request_body(route, headers, body, params)
            with self.quota.slot(access.user):
                self.quota.charge(access.user, route.method_id)
                charged = True
                if self.latency:
                    time.sleep(self.latency)
                call = Call(self, mailbox, params, path_params, access.scopes, json_body, media)
                with self._lock:
                    result = handler(call)
        except ApiError as error:
            if not charged:
                self.quota.record_rejection(access.user, route.method_id)
            return error.to_response()
        if result is None:
            return Response(204, b"", {"Vary": "Origin, X-Origin, Referer"})
        return json_response(200, result)

    def _directory(self, method, target, headers):
        """Admin SDK Directory API: only ``users.list`` is served."""
        if self._directory_routes is None:
            document = load_packaged_document("admin.directory_v1.json")
            methods = document["resources"]["users"]["methods"]
            subset = {
                "parameters": document.get("parameters", {}),
                "resources": {
                    "users": {"methods": {name: methods[name] for name in DIRECTORY_METHODS}}
                },
            }
            self._directory_routes = RouteTable(subset)
        split = urlsplit(target)
        pairs = parse_qsl(split.query, keep_blank_values=True)
        scripted = self._scripted(target, api_call=False)
        if scripted is not None:
            return scripted
        try:
            route, _ = self._directory_routes.match(method, split.path)
            access = self.oauth.authenticate(_bearer(headers, dict(pairs)))
            params = self._directory_routes.validate_query(route, pairs)
            with self._lock:
                return json_response(200, self.workspace.list_directory_users(access, params))
        except ApiError as error:
            return error.to_response()

    def _batch(self, headers, body):
        token = _bearer(headers, {})
        user = self.oauth.peek_user(token)
        if user:
            self.quota.record_batch(user)
        try:
            parts = server.split_batch(headers.get("content-type", ""), body)
        except ApiError as error:
            return error.to_response()
        answers = []
        for content_id, payload in parts:
            try:
                method, target, inner_headers, inner_body = server.parse_inner_request(payload)
            except ApiError as error:
                answers.append((content_id, error.to_response()))
                continue
            if "authorization" not in inner_headers and "authorization" in headers:
                inner_headers["authorization"] = headers["authorization"]
            answers.append((content_id, self.handle_api(method, target, inner_headers, inner_body)))
        content_type, data = server.render_batch(answers)
        return Response(200, data, {"Content-Type": content_type})
