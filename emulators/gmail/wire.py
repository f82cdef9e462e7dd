"""HTTP responses and Google-shaped error bodies for the Gmail emulator.

What it is: the small vocabulary every other module uses to answer a request: ``Response`` (status,
headers, body bytes), ``ApiError`` (an exception that carries a Google JSON error), builders for
the ``{"error": {"code", "message", "errors": [...], "status"}}`` envelope Google APIs return, and
canned bodies matching the real-world shapes collected in ``/work/shared/cases/bugs`` (B01, B05).

How it works: handlers raise ``ApiError``; the server turns it into a ``Response`` with
``ApiError.to_response()``. Canned bodies are functions so each caller gets a fresh dict it may
mutate.

How to use it::

    raise ApiError.bad_request('Invalid label: Foo')
    emu.inject_errors(r'/messages/', [(403, wire.user_rate_limit_403(), None)])

Caveats: the message texts are the ones Google documents or is commonly seen returning; Google
changes its wording occasionally, so clients must classify on ``code`` and ``errors[].reason``,
never on ``message``.
"""

import json
from dataclasses import dataclass, field
from http import HTTPStatus

# Google's canonical gRPC status name per HTTP code, as found in the "status" field.
STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
}

# Message text per reason, used by fail_next() so scripted failures read like real ones.
MESSAGE_BY_REASON = {
    "backendError": "Backend Error",
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User-rate limit exceeded.",
    "quotaExceeded": "Quota exceeded",
    "failedPrecondition": "Precondition check failed.",
    "notFound": "Requested entity was not found.",
    "insufficientPermissions": "Insufficient Permission",
    "forbidden": "Forbidden",
    "badRequest": "Bad Request",
    "invalidArgument": "Invalid argument",
    "authError": "Invalid Credentials",
}

JSON_TYPE = "application/json; charset=UTF-8"
LOGIN_HELP = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential. "
    "See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


@dataclass
class Response:
    """One HTTP answer; headers keep insertion order and are written verbatim."""

    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)

    @property
    def reason(self):
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Unknown"


def json_response(status, payload, headers=None):
    body = json.dumps(payload, indent=2).encode("utf-8")
    all_headers = {"Content-Type": JSON_TYPE, "Vary": "Origin, X-Origin, Referer"}
    all_headers.update(headers or {})
    return Response(status, body, all_headers)


def html_response(status, html, headers=None):
    all_headers = {"Content-Type": "text/html; charset=UTF-8"}
    all_headers.update(headers or {})
    return Response(status, html.encode("utf-8"), all_headers)


def redirect(location):
    return Response(302, b"", {"Location": location, "Content-Type": "text/html; charset=UTF-8"})


def error_body(
    code, message, reason, *, domain="global", status=None, detail_message=None, **extra
):
    """Google's v1 error envelope; ``status`` defaults from the HTTP code, '' omits it."""
    item = {"message": detail_message or message, "domain": domain, "reason": reason}
    item.update(extra)
    error = {"code": code, "message": message, "errors": [item]}
    status = STATUS_BY_CODE.get(code) if status is None else status
    if status:
        error["status"] = status
    return {"error": error}


def error_for_reason(code, reason):
    """A plausible body for ``fail_next(n, code, reason)``."""
    message = MESSAGE_BY_REASON.get(reason, reason)
    domain = "usageLimits" if reason in ("userRateLimitExceeded", "quotaExceeded") else "global"
    return error_body(code, message, reason, domain=domain)


class ApiError(Exception):
    """A Google JSON error to send back; raise it anywhere below the HTTP layer."""

    def __init__(self, code, body, headers=None):
        super().__init__(body["error"]["message"] if "error" in body else str(body))
        self.code = code
        self.body = body
        self.headers = headers or {}

    def to_response(self):
        return json_response(self.code, self.body, self.headers)

    @classmethod
    def bad_request(cls, message, reason="badRequest"):
        return cls(400, error_body(400, message, reason))

    @classmethod
    def invalid_argument(cls, message):
        return cls(400, error_body(400, message, "invalidArgument"))

    @classmethod
    def not_found(cls):
        return cls(404, history_not_found())

    @classmethod
    def unauthenticated(cls, missing=False):
        if missing:
            body = error_body(
                401,
                "Request is missing required authentication credential. " + LOGIN_HELP,
                "required",
                detail_message="Login Required.",
                location="Authorization",
                locationType="header",
            )
        else:
            body = error_body(
                401,
                "Request had invalid authentication credentials. " + LOGIN_HELP,
                "authError",
                detail_message="Invalid Credentials",
                location="Authorization",
                locationType="header",
            )
        www = 'Bearer realm="https://accounts.google.com/"'
        if not missing:
            www += ', error="invalid_token"'
        return cls(401, body, {"WWW-Authenticate": www})

    @classmethod
    def insufficient_permissions(cls):
        headers = {
            "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
            'error="insufficient_scope"'
        }
        return cls(403, insufficient_permissions_403(), headers)

    @classmethod
    def unimplemented(cls, method_id):
        message = f"Method {method_id} is not implemented by the Gmail emulator."
        return cls(501, error_body(501, message, "notImplemented"))


# Canned bodies: the real-world shapes from /work/shared/cases/bugs (01 and 05).


def history_not_found():
    """B01: what users.history.list answers for an expired startHistoryId."""
    return error_body(404, "Requested entity was not found.", "notFound")


def user_rate_limit_403(retry_at="2026-01-01T10:00:05.000Z"):
    """B05 #1: the legacy per-user limit, a 403 without a "status" field."""
    return error_body(
        403,
        f"User-rate limit exceeded.  Retry after {retry_at}",
        "userRateLimitExceeded",
        domain="usageLimits",
        status="",
        detail_message="User-rate limit exceeded.",
    )


def quota_message(limit_name="Queries per minute per user"):
    return (
        "Quota exceeded for quota metric 'Queries' and limit "
        f"'{limit_name}' of service 'gmail.googleapis.com' "
        "for consumer 'project_number:000000000000'."
    )


def rate_limit_403():
    """B05 #2: per-minute quota reported as 403 PERMISSION_DENIED."""
    return error_body(
        403,
        quota_message(),
        "rateLimitExceeded",
        status="PERMISSION_DENIED",
        detail_message="Quota exceeded",
    )


def concurrent_429():
    """B05 #3: too many requests in flight for one mailbox."""
    return error_body(429, "Too many concurrent requests for user", "rateLimitExceeded")


def insufficient_permissions_403():
    """B05 #4: a real permission problem; NOT retryable."""
    return error_body(
        403,
        "Request had insufficient authentication scopes.",
        "insufficientPermissions",
        detail_message="Insufficient Permission",
    )


def quota_429():
    """The per-user units-per-minute quota, as the emulator's own limiter answers it."""
    return error_body(
        429,
        quota_message(),
        "rateLimitExceeded",
        domain="usageLimits",
        detail_message="Quota exceeded for quota metric 'Queries'",
    )


def oauth_error(error, description):
    """The flat OAuth 2.0 token-endpoint error shape (RFC 6749 section 5.2)."""
    return {"error": error, "error_description": description}
