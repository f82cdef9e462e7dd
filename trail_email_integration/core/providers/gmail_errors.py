"""How the Gmail provider reads Google's errors, and how long it waits before trying again.

What it is
    :func:`classify` turns one failed Gmail API answer (status, JSON body, headers) into a
    :class:`Failure` with one of a few verdicts; :func:`refresh_failure` does the same for a
    failed token refresh; :class:`Backoff` is the bounded wait-and-retry loop both feed.

How it works
    The verdict comes from ``error.errors[].reason`` first and the HTTP status second, because
    Google reports the same condition under different statuses and different conditions under
    the same status (case B05): a per-user rate limit arrives as 429 or as 403 with
    ``rateLimitExceeded`` / ``userRateLimitExceeded``, while a 403 ``insufficientPermissions``
    means a scope is missing and no amount of waiting helps.

    ============================  ===========  =============================================
    answer                        verdict      what the provider does
    ============================  ===========  =============================================
    429, 403 rate-limit reasons   THROTTLED    wait (Retry-After or exponential), retry
    5xx, network failure          UNAVAILABLE  wait, retry
    403 dailyLimitExceeded        EXHAUSTED    TemporaryError at once, retry in an hour
    401 (after one refresh)       AUTH_LOST    AuthorisationLost
    403 other reasons             AUTH_LOST    AuthorisationLost (scope or policy)
    400 failedPrecondition        AUTH_LOST    AuthorisationLost (no Gmail on the account)
    404                           NOT_FOUND    CursorExpired or MessageError, by call
    other 4xx                     INVALID      MessageError in a batch, else TemporaryError
    ============================  ===========  =============================================

    Two calls read a verdict their own way: a send is not repeated after UNAVAILABLE, since
    Gmail may have sent it already, and INVALID on a resumed backfill page means the page
    token went stale (CursorExpired).

Use
    ::

        failure = classify(status, content, headers)
        if failure.verdict in RETRYABLE:
            backoff.pause(failure)       # sleeps, or raises TemporaryError when out of tries

Caveats
    Classification never reads ``message``: Google rewords it from time to time.
"""

import json
import logging
from dataclasses import dataclass

from ..provider import AuthorisationLost, TemporaryError

_logger = logging.getLogger(__name__)

THROTTLED = "throttled"
UNAVAILABLE = "unavailable"
EXHAUSTED = "exhausted"
AUTH_LOST = "auth_lost"
NOT_FOUND = "not_found"
INVALID = "invalid"
RETRYABLE = (THROTTLED, UNAVAILABLE)

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
DAILY_LIMIT_REASONS = frozenset({"dailyLimitExceeded"})
# Token-endpoint errors after which only a new consent helps.
LOST_GRANT_ERRORS = frozenset(
    {"invalid_grant", "unauthorized_client", "invalid_client", "invalid_scope"}
)

# Reason (see core.provider.Explained) of a token refusal; facts: ``code``, Google's error.
TOKEN_REFUSED = "google_token_refused"

# Retry policy: Google asks for exponential backoff capped around a minute.
MAX_RETRIES = 6
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 64.0
# A longer Retry-After is handed to the engine rather than slept through inside one call.
MAX_INLINE_WAIT_SECONDS = 120.0
DAILY_LIMIT_RETRY_SECONDS = 3600


@dataclass(frozen=True)
class Failure:
    verdict: str
    status: int
    reasons: tuple = ()
    retry_after: float | None = None

    def describe(self):
        reasons = ", ".join(self.reasons) or "no reason given"
        return f"HTTP {self.status} ({reasons})"


def _reasons(content):
    try:
        error = json.loads(content or b"{}").get("error")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ()
    if not isinstance(error, dict):
        return ()
    items = error.get("errors") or []
    return tuple(item.get("reason", "") for item in items if isinstance(item, dict))


def retry_after_seconds(headers):
    """The Retry-After header in seconds, or None when absent or given as a date."""
    value = (headers or {}).get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        # The HTTP-date form is legal but Google does not use it; back off on our own instead.
        return None


def classify(status, content, headers=None):
    """The verdict for one failed answer; see the module table."""
    status = int(status)
    reasons = _reasons(content)
    retry_after = retry_after_seconds(headers)
    if status == 429 or (status == 403 and RATE_LIMIT_REASONS.intersection(reasons)):
        verdict = THROTTLED
    elif status == 403 and DAILY_LIMIT_REASONS.intersection(reasons):
        verdict = EXHAUSTED
    elif status >= 500:
        verdict = UNAVAILABLE
    elif status in (401, 403) or (status == 400 and "failedPrecondition" in reasons):
        verdict = AUTH_LOST
    elif status == 404:
        verdict = NOT_FOUND
    else:
        verdict = INVALID
    return Failure(verdict, status, reasons, retry_after)


def classify_http_error(error):
    """:func:`classify` for a ``googleapiclient.errors.HttpError``."""
    if error.resp is None:
        # A BatchError: the batch answer itself could not be read.
        return Failure(UNAVAILABLE, 0, ("unreadable batch answer",))
    return classify(error.resp.status, error.content, error.resp)


def lost_authorisation(failure, what):
    if failure.status == 401:
        return AuthorisationLost(f"{what}: Google no longer accepts the access; reconnect")
    if "insufficientPermissions" in failure.reasons:
        return AuthorisationLost(f"{what}: a permission is missing from the grant; reconnect")
    return AuthorisationLost(f"{what}: refused by Google, {failure.describe()}")


def provider_error(failure, what):
    """The provider error for a failure that is not retried here (or no longer)."""
    if failure.verdict == AUTH_LOST:
        return lost_authorisation(failure, what)
    if failure.verdict == EXHAUSTED:
        return TemporaryError(f"{what}: daily Gmail quota used up", DAILY_LIMIT_RETRY_SECONDS)
    return TemporaryError(f"{what}: {failure.describe()}", failure.retry_after)


def refresh_failure(error):
    """The provider error for a ``google.auth.exceptions.RefreshError``."""
    data = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
    code = data.get("error", "")
    if code in LOST_GRANT_ERRORS or "invalid_grant" in str(error):
        code = code or "invalid_grant"
        return AuthorisationLost(
            f"Google refused to refresh the access token ({code})", reason=TOKEN_REFUSED, code=code
        )
    if getattr(error, "retryable", False):
        return TemporaryError("Google's token endpoint is unavailable")
    return AuthorisationLost(
        f"Google refused to refresh the access token ({code or error})",
        reason=TOKEN_REFUSED,
        code=code or str(error),
    )


class Backoff:
    """Bounded waits between attempts of one operation.

    Each :meth:`pause` sleeps once, honouring Retry-After, else doubling from
    ``BACKOFF_BASE_SECONDS`` up to ``BACKOFF_CAP_SECONDS``; after ``max_retries`` pauses
    without a :meth:`reset` it raises :class:`TemporaryError` instead.
    """

    def __init__(self, sleep, what, max_retries=MAX_RETRIES):
        self.sleep = sleep
        self.what = what
        self.max_retries = max_retries
        self.attempt = 0

    def reset(self):
        """Progress was made: later failures start a fresh series of retries."""
        self.attempt = 0

    def pause(self, failure):
        exponential = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**self.attempt)
        delay = failure.retry_after if failure.retry_after is not None else exponential
        if self.attempt >= self.max_retries:
            raise TemporaryError(
                f"{self.what}: {failure.describe()} after {self.attempt} retries", delay
            )
        if delay > MAX_INLINE_WAIT_SECONDS:
            raise TemporaryError(f"{self.what}: {failure.describe()}", delay)
        self.attempt += 1
        _logger.warning(
            "%s: %s; retry %s of %s in %.1f s",
            self.what,
            failure.describe(),
            self.attempt,
            self.max_retries,
            delay,
        )
        self.sleep(delay)
