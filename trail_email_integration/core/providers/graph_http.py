"""The Microsoft 365 provider's HTTP layer: single Graph calls and ``$batch``, with retries.

What it is
    :class:`GraphClient` sends Graph requests for one mailbox with a bearer token from a
    :class:`~.graph_oauth.TokenSource`, paces them under the mailbox's request budget, and
    retries what Graph asks to be retried. :meth:`GraphClient.call` sends one request;
    :meth:`GraphClient.batch` sends many through ``POST /$batch``.

How it works
    - Every request carries ``Prefer: IdType="ImmutableId"``, so message ids survive moves.
    - A 401 refreshes the access token once and tries again; a second 401 means the grant is
      gone. 429 and 5xx wait (Retry-After when Graph gives it, else exponential) through the
      shared ``Backoff``, then become ``TemporaryError``.
    - ``$batch``: at most 20 requests a batch, one batch at a time. Graph runs a batch's
      requests in parallel, and Outlook refuses more than 4 requests in flight per mailbox
      (429 "MailboxConcurrency", case B04); so the requests are chained with ``dependsOn``
      into ``max_in_flight`` lanes, and never more than that run at once. Requests that come
      back throttled (or 424, skipped because an earlier one in their lane failed) are sent
      again in the next batch on their own; the answers already had are kept.
    - Graph's limit of 10,000 requests per mailbox per 10 minutes is paced with a
      :class:`~.quota.QuotaBucket` over a 10-minute window: each request, batched or not,
      spends one unit first, so a long backfill waits instead of being refused.

Use
    ::

        client = GraphClient(endpoints, tokens, sleep=time.sleep, clock=time.monotonic)
        me = client.call("GET", "/me", what="identity", permission="User.Read").json()
        answers = client.batch([("GET", "/me/messages/ID/$value")], what="fetch")

Caveats
    Not thread-safe. The budget only counts this process's requests. A ``POST`` that fails
    with a server error is not repeated when ``retry_unavailable=False`` (sending mail).
"""

import base64
import json
import logging
from dataclasses import dataclass

import requests

from .gmail_errors import Backoff
from .graph_errors import (
    AUTH_LOST,
    RETRYABLE,
    UNAVAILABLE,
    Failure,
    classify,
    no_answer,
    provider_error,
)
from .graph_wire import PREFER_IMMUTABLE, make_session
from .quota import QuotaBucket

_logger = logging.getLogger(__name__)

HTTP_TIMEOUT_SECONDS = 120
MAX_BATCH_REQUESTS = 20
# Outlook's per-mailbox limits, which Graph applies per application and mailbox.
REQUESTS_PER_WINDOW = 10_000
# Ten minutes, plus a second for the time a request takes to reach the server's clock.
BUDGET_WINDOW_SECONDS = 601.0
DEFAULT_IN_FLIGHT = 4


class Refused(Exception):
    """A call failed in a way not retried here; the caller maps it to a provider error."""

    def __init__(self, failure):
        super().__init__(failure.describe())
        self.failure = failure


@dataclass
class Answer:
    """One request's outcome inside a batch: status, headers and the body (bytes or JSON)."""

    status: int
    headers: dict
    body: object

    @property
    def ok(self):
        return 200 <= self.status < 300

    def failure(self):
        return classify(self.status, self.body, self.headers)


class GraphClient:
    def __init__(
        self,
        endpoints,
        tokens,
        *,
        sleep,
        clock,
        quota=None,
        max_in_flight=DEFAULT_IN_FLIGHT,
        session=None,
        timeout=HTTP_TIMEOUT_SECONDS,
    ):
        self.endpoints = endpoints
        self.tokens = tokens
        self.sleep = sleep
        self.session = session or make_session(endpoints.ca_bundle)
        self.timeout = timeout
        self.max_in_flight = max(1, int(max_in_flight))
        if quota is None or isinstance(quota, int | float):
            quota = QuotaBucket(
                quota or REQUESTS_PER_WINDOW, window=BUDGET_WINDOW_SECONDS, clock=clock, sleep=sleep
            )
        self.quota = quota
        self._token = None

    # Tokens

    def _bearer(self, force=False):
        if force or self._token is None:
            self._token = self.tokens.token(force=force)
        return self._token

    def _headers(self, extra=None, force=False):
        headers = {"Authorization": f"Bearer {self._bearer(force)}"}
        return {**headers, **with_preferences(extra)}

    def url(self, path):
        if path.startswith("https://") or path.startswith("http://"):
            return path
        return self.endpoints.graph_base.rstrip("/") + "/" + path.lstrip("/")

    # One request

    def call(self, method, path, *, what, permission=None, headers=None, retry_unavailable=True,
             allow=(), **kwargs):  # fmt: skip
        """Send one request; return the response (2xx, or a status listed in ``allow``).

        Raises the provider error its failure maps to; ``permission`` names what a 403 lacks.
        """
        try:
            return self.send(method, path, what=what, headers=headers, allow=allow,
                             retry_unavailable=retry_unavailable, **kwargs)  # fmt: skip
        except Refused as refused:
            raise self.error(refused.failure, what, permission) from None

    def error(self, failure, what, permission=None):
        return provider_error(failure, what, permission, self.tokens.app_only)

    def send(self, method, path, *, what, headers=None, retry_unavailable=True, allow=(),
             **kwargs):  # fmt: skip
        """As :meth:`call`, but raises :class:`Refused` for the caller to read the failure."""
        backoff = Backoff(self.sleep, what)
        refreshed = False
        while True:
            self.quota.spend(1)
            try:
                answer = self.session.request(
                    method, self.url(path), headers=self._headers(headers), timeout=self.timeout,
                    **kwargs,
                )  # fmt: skip
            except requests.RequestException as error:
                failure = no_answer(error)
            else:
                if answer.status_code < 400 or answer.status_code in allow:
                    return answer
                failure = classify(answer.status_code, answer.content, answer.headers)
            if failure.status == 401 and not refreshed:
                refreshed = True
                self._bearer(force=True)
                continue
            retry = failure.verdict in RETRYABLE
            if not retry or (failure.verdict == UNAVAILABLE and not retry_unavailable):
                raise Refused(failure)
            backoff.pause(failure)

    def pages(self, path, *, what, permission=None, headers=None):
        """Yield each page (parsed JSON) of a collection, following ``@odata.nextLink``."""
        link = path
        while link:
            page = self.call("GET", link, what=what, permission=permission, headers=headers)
            body = page.json()
            yield body
            link = body.get("@odata.nextLink")

    # Batches

    def batch(self, requests_, *, what, permission=None):
        """Run ``(method, path[, headers[, body]])`` requests; return one :class:`Answer` each.

        Throttled and unavailable requests are retried until they answer or the retries run
        out (``TemporaryError``); a 401 or 403 raises ``AuthorisationLost``. Other failures
        (404, 400, 410) are returned as answers for the caller to judge.
        """
        results = [None] * len(requests_)
        limit = max(1, min(MAX_BATCH_REQUESTS, self.quota.capacity))
        for first in range(0, len(requests_), limit):
            indexes = list(range(first, min(first + limit, len(requests_))))
            self._run_until_answered(requests_, indexes, results, what, permission)
        return results

    def _run_until_answered(self, requests_, pending, results, what, permission):
        backoff = Backoff(self.sleep, what)
        refreshed = False
        while pending:
            answers, failure = self._post_batch(requests_, pending)
            if failure is not None:
                if failure.status == 401 and not refreshed:
                    refreshed = True
                    self._bearer(force=True)
                    continue
                if failure.verdict not in RETRYABLE:
                    raise self.error(failure, f"{what} batch", permission)
                backoff.pause(failure)
                continue

            retry, worst = self._sort_answers(
                pending, answers, results, refreshed, what, permission
            )
            if any(answers.get(i) and answers[i].status == 401 for i in retry):
                refreshed = True
                self._bearer(force=True)
            if len(retry) < len(pending):
                backoff.reset()
            pending = retry
            if pending and worst is not None:
                backoff.pause(worst)

    def _sort_answers(self, pending, answers, results, refreshed, what, permission):
        """File final answers in ``results``; return the indexes to retry and the longest wait."""
        retry, worst = [], None
        for index in pending:
            answer = answers.get(index) or Answer(0, {}, None)
            verdict = answer.failure().verdict if not answer.ok else None
            if verdict in RETRYABLE:
                retry.append(index)
                if answer.status != 424:
                    worst = _longer_wait(worst, answer.failure())
            elif verdict == AUTH_LOST and answer.status == 401 and not refreshed:
                retry.append(index)
            elif verdict == AUTH_LOST:
                raise self.error(answer.failure(), what, permission)
            else:
                results[index] = answer
        return retry, worst

    def _post_batch(self, requests_, pending):
        """One ``$batch`` call: ``({index: Answer}, None)``, or ``(None, failure)``."""
        lanes = min(self.max_in_flight, len(pending))
        items = []
        for position, index in enumerate(pending):
            method, path, headers, body = (*requests_[index], None, None)[:4]
            item = {"id": str(index), "method": method, "url": self.endpoints.relative(path)}
            item["headers"] = with_preferences(headers)
            if body is not None:
                item["body"] = body
            if position >= lanes:
                item["dependsOn"] = [str(pending[position - lanes])]
            items.append(item)
        self.quota.spend(len(items))
        try:
            answer = self.session.post(
                self.url("/$batch"), json={"requests": items}, headers=self._headers(),
                timeout=self.timeout,
            )  # fmt: skip
        except requests.RequestException as error:
            return None, no_answer(error)
        if answer.status_code != 200:
            return None, classify(answer.status_code, answer.content, answer.headers)
        try:
            responses = answer.json()["responses"]
        except (ValueError, KeyError, TypeError):
            return None, Failure(UNAVAILABLE, 200, "unreadable batch answer")
        return {int(r["id"]): _inner_answer(r) for r in responses}, None


def with_preferences(headers):
    """``headers`` whose Prefer also asks for ImmutableIds (Graph reads one Prefer header)."""
    headers = dict(headers or {})
    asked = headers.get("Prefer")
    headers["Prefer"] = f"{asked}, {PREFER_IMMUTABLE}" if asked else PREFER_IMMUTABLE
    return headers


def _inner_answer(response):
    headers = response.get("headers") or {}
    body = response.get("body")
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if isinstance(body, str) and "json" not in content_type.lower():
        # Graph base64-encodes every body that is not JSON ($value MIME, attachment bytes).
        body = base64.b64decode(body)
    elif isinstance(body, str):
        body = json.loads(body)
    return Answer(int(response.get("status", 0)), headers, body)


def _longer_wait(current, failure):
    if current is None or (failure.retry_after or 0) > (current.retry_after or 0):
        return failure
    return current
