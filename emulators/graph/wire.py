"""Graph- and Azure AD-shaped responses and errors for the Microsoft emulator.

What it is: the vocabulary the other modules answer with. Graph errors are
``{"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}``;
identity-platform errors are the flat OAuth shape AAD adds its own fields to:
``{"error", "error_description": "AADSTS70008: ...", "error_codes", "timestamp", "trace_id",
"correlation_id", "error_uri"}``. Canned bodies reproduce the real-world cases in
``/work/shared/cases/bugs`` (B03 delta 410, B04 MailboxConcurrency 429, B10 reference
attachment ``$value``).

How it works: handlers raise ``GraphError`` or ``AadError``; the dispatcher turns them into a
``Response`` (the Gmail emulator's dataclass, shared) with ``to_response(request_id, ...)``, so
every error carries the request id the ``request-id`` response header also shows.

How to use it::

    raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    raise AadError(400, "invalid_grant", 70008, "The provided authorization code ... expired.")

Caveats: clients must classify on the HTTP status and ``error.code``; Microsoft changes message
texts without notice, and so may this emulator.
"""

import datetime
import json
import time
import uuid

from emulators.gmail.wire import Response

GRAPH_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8"
AAD_JSON = "application/json; charset=utf-8"
ACCESS_DENIED = "Access is denied. Check credentials and try again."


def new_request_id():
    return str(uuid.uuid4())


def utc_iso(timestamp, millis=False):
    """Graph's timestamp format: '2024-01-01T06:31:24Z' (UTC, 'Z' suffix)."""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{moment.microsecond // 1000:03d}Z" if millis else "Z")


def json_response(status, payload, headers=None, content_type=GRAPH_JSON):
    all_headers = {"Content-Type": content_type, "Cache-Control": "no-cache"}
    all_headers.update(headers or {})
    return Response(status, json.dumps(payload).encode("utf-8"), all_headers)


def bytes_response(status, data, content_type, headers=None):
    return Response(status, data, {"Content-Type": content_type, **(headers or {})})


class GraphError(Exception):
    """A Graph error to send back; raise it anywhere below the HTTP layer."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})

    def body(self, request_id, client_request_id=None, now=None):
        inner = {"date": utc_iso(time.time() if now is None else now)[:-1]}
        inner["request-id"] = request_id
        inner["client-request-id"] = client_request_id or request_id
        return {"error": {"code": self.code, "message": self.message, "innerError": inner}}

    def to_response(self, request_id, client_request_id=None, now=None):
        return json_response(
            self.status, self.body(request_id, client_request_id, now), self.headers
        )

    @classmethod
    def bad_request(cls, message, code="BadRequest"):
        return cls(400, code, message)

    @classmethod
    def not_found(cls, message="The specified object was not found in the store."):
        return cls(404, "ErrorItemNotFound", message)

    @classmethod
    def access_denied(cls):
        return cls(403, "ErrorAccessDenied", ACCESS_DENIED)

    @classmethod
    def unauthenticated(cls, message):
        headers = {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'}
        return cls(401, "InvalidAuthenticationToken", message, headers)


# Canned Graph errors seen in production (see /work/shared/cases/README.md).


def sync_state_not_found(generation):
    """B03: a delta token the server no longer knows."""
    message = (
        f"The sync state generation is not found; generation={generation};"
        f"[highest={generation + 8}][{generation + 8}][{generation + 6}][{generation + 7}]."
    )
    return GraphError(410, "SyncStateNotFound", message)


def mailbox_concurrency(retry_after):
    """B04: more than the allowed number of requests in flight for one mailbox."""
    return GraphError(
        429,
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
        {"Retry-After": str(retry_after)},
    )


def mailbox_rate(retry_after):
    """The per-mailbox request budget (10,000 requests per 10 minutes) is spent."""
    return GraphError(
        429,
        "ApplicationThrottled",
        "Application is over its resource limit.",
        {"Retry-After": str(retry_after)},
    )


def reference_value_400():
    """B10: ``$value`` asked of a reference attachment, which has no bytes."""
    return GraphError(
        400, "ErrorInvalidRequest", "$value segment is only supported for file and item attachments"
    )


class AadError(Exception):
    """An identity-platform (token or authorize endpoint) error in AAD's shape."""

    def __init__(self, status, error, aadsts, description):
        super().__init__(f"AADSTS{aadsts}: {description}")
        self.status, self.error, self.aadsts = status, error, aadsts
        self.description = description

    def body(self, now, trace_id=None, correlation_id=None):
        trace_id = trace_id or new_request_id()
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace_id} "
                f"Correlation ID: {correlation_id or trace_id} Timestamp: {utc_iso(now)}"
            ),
            "error_codes": [self.aadsts],
            "timestamp": utc_iso(now).replace("T", " "),
            "trace_id": trace_id,
            "correlation_id": correlation_id or trace_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={self.aadsts}",
        }

    def to_response(self, now, correlation_id=None):
        return json_response(
            self.status, self.body(now, None, correlation_id), content_type=AAD_JSON
        )
