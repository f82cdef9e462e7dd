"""How the Microsoft 365 provider reads Graph's and the identity platform's errors.

What it is
    :func:`classify` turns one failed Graph answer (status, body, headers), top-level or inside
    a ``$batch``, into a :class:`Failure` with one verdict; :func:`provider_error` maps a
    verdict that is not retried to the provider error kind the engine handles;
    :func:`token_failure` does the same for msal's token answers. Waiting between attempts is
    ``gmail_errors.Backoff``, shared with the Google provider: it only needs a failure's
    ``retry_after`` and ``describe()``.

How it works
    The verdict comes from the HTTP status, refined by ``error.code``:

    ==================================  ===========  =========================================
    answer                              verdict      what the provider does
    ==================================  ===========  =========================================
    429 (ApplicationThrottled,          THROTTLED    wait Retry-After (else exponential), retry
    MailboxConcurrency included)
    5xx, 424 in a batch, no answer      UNAVAILABLE  wait, retry
    401 after one token refresh         AUTH_LOST    AuthorisationLost (reconnect)
    403 (ErrorAccessDenied, ...)        AUTH_LOST    AuthorisationLost naming the permission
    410, SyncStateNotFound,             GONE         restart that folder's delta
    resyncRequired
    404                                 NOT_FOUND    MessageError for one message
    other 4xx                           INVALID      MessageError in a batch, else TemporaryError
    ==================================  ===========  =========================================

    A 424 only means "a request this one waited for failed" (the provider chains batch
    requests to bound their concurrency), so the request itself is simply sent again.

Use
    ::

        failure = classify(answer.status_code, answer.content, answer.headers)
        if failure.verdict in RETRYABLE:
            backoff.pause(failure)
        else:
            raise provider_error(failure, "messages.delta", "Mail.Read")

Caveats
    Classification never reads ``error.message``: Microsoft rewords it without notice.
"""

import json
import logging
from dataclasses import dataclass

from ..provider import AuthorisationLost, CursorExpired, TemporaryError
from .gmail_errors import retry_after_seconds

_logger = logging.getLogger(__name__)

THROTTLED = "throttled"
UNAVAILABLE = "unavailable"
AUTH_LOST = "auth_lost"
GONE = "gone"
NOT_FOUND = "not_found"
INVALID = "invalid"
RETRYABLE = (THROTTLED, UNAVAILABLE)

GONE_CODES = frozenset({"SyncStateNotFound", "resyncRequired", "SyncStateInvalid"})
# Exchange's code for a message deleted or moved since it was listed (usually with a 404).
ITEM_NOT_FOUND = "ErrorItemNotFound"
# Token-endpoint answers after which only a new sign-in (or a fixed app registration) helps.
LOST_GRANT_ERRORS = frozenset(
    {
        "invalid_grant",
        "interaction_required",
        "consent_required",
        "login_required",
        "invalid_client",
        "unauthorized_client",
        "invalid_scope",
        "invalid_tenant",
    }
)


# Reasons (see core.provider.Explained) a person can fix, and their facts.
SIGN_IN_REFUSED = "microsoft_sign_in_refused"  # error, codes, description: as msal gives them
PERMISSION_MISSING = "microsoft_permission_missing"  # permission, code, app_only
TENANT_UNKNOWN = "microsoft_tenant_unknown"  # the authority of the tenant cannot be read


@dataclass(frozen=True)
class Failure:
    verdict: str
    status: int
    code: str = ""
    retry_after: float | None = None

    def describe(self):
        return f"HTTP {self.status} ({self.code or 'no error code'})"


def error_code(content):
    """``error.code`` of a Graph error body (bytes, str or already-parsed JSON), or ''."""
    payload = content
    if isinstance(content, bytes | str):
        try:
            payload = json.loads(content or "{}")
        except (ValueError, UnicodeDecodeError):
            return ""
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or "")
    return str(error or "")


def classify(status, content, headers=None):
    """The verdict for one failed answer; see the module table."""
    status = int(status)
    code = error_code(content)
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    retry_after = retry_after_seconds(lowered)
    if status == 410 or code in GONE_CODES:
        verdict = GONE
    elif status == 429:
        verdict = THROTTLED
    elif status >= 500 or status in (0, 424):
        verdict = UNAVAILABLE
    elif status in (401, 403):
        verdict = AUTH_LOST
    elif status == 404:
        verdict = NOT_FOUND
    else:
        verdict = INVALID
    return Failure(verdict, status, code, retry_after)


def no_answer(error):
    """The failure of a request that got no HTTP answer at all."""
    return Failure(UNAVAILABLE, 0, type(error).__name__)


def lost_authorisation(failure, what, permission=None, app_only=False):
    if failure.status == 403:
        if permission and app_only:
            hint = (
                f"the app lacks the {permission} application permission, or an administrator "
                "has not granted consent for it"
            )
        elif permission:
            hint = f"the grant lacks the {permission} permission; reconnect and accept it"
        else:
            hint = "access is denied"
        return AuthorisationLost(
            f"{what}: Microsoft refused the request ({failure.code}): {hint}",
            reason=PERMISSION_MISSING if permission else None,
            permission=permission,
            code=failure.code,
            app_only=app_only,
        )
    return AuthorisationLost(f"{what}: Microsoft no longer accepts the access; reconnect")


def provider_error(failure, what, permission=None, app_only=False):
    """The provider error for a failure that is not retried here (or no longer)."""
    if failure.verdict == AUTH_LOST:
        return lost_authorisation(failure, what, permission, app_only)
    if failure.verdict == GONE:
        return CursorExpired(f"{what}: Microsoft no longer keeps this sync state")
    return TemporaryError(f"{what}: {failure.describe()}", failure.retry_after)


def token_failure(result, what="token"):
    """The provider error for an msal answer carrying ``error`` (never returns None)."""
    code = result.get("error", "")
    codes = result.get("error_codes") or []
    described = f"{code}, AADSTS{codes[0]}" if codes else code
    # Microsoft's first line says what it refused; trace and correlation ids follow it.
    description = (result.get("error_description") or "").strip().splitlines()[:1]
    facts = {
        "reason": SIGN_IN_REFUSED,
        "error": code,
        "codes": tuple(codes),
        "description": description[0] if description else "",
    }
    if code in LOST_GRANT_ERRORS:
        return AuthorisationLost(
            f"{what}: Microsoft refused the sign-in ({described}); reconnect", **facts
        )
    if code in ("temporarily_unavailable", "server_error") or not code:
        return TemporaryError(f"{what}: Microsoft's token endpoint is unavailable ({described})")
    return AuthorisationLost(f"{what}: Microsoft refused the sign-in ({described})", **facts)
