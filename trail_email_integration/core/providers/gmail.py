"""The Gmail provider: a connected Google mailbox, read and written through the Gmail API.

What it is
    :class:`GmailProvider` implements :class:`~..provider.Provider` for one Gmail or Google
    Workspace mailbox with google-api-python-client and google-auth. :class:`GmailEndpoints`
    names every URL it talks to, so production and the local emulator take the same code path.

How it works
    - Backfill: ``messages.list`` with ``q="after:<epoch> -in:spam -in:trash -in:drafts"``,
      newest first as Gmail answers, up to 500 ids a page. The position handed back is JSON
      ``{"pageToken", "lastId"}``; ``lastId`` drops an overlap when a resumed page repeats ids.
    - Fetch: ``messages.get(format=raw)`` in batch requests of at most 50 parts. Parts refused
      for throttling are retried on their own; the parts that succeeded are kept. ``raw`` is
      decoded whether Gmail pads it or not (cases B07, B08), so the bytes are the original's.
    - Scan: ``history.list`` from the stored history id, one page per call; while more pages
      wait, the cursor is the id of the last record read, so every page is a safe resume point.
      A history id Gmail no longer keeps answers 404, reported as CursorExpired (case B01).
    - Labels: a message's user labels are read by name (``label_names``), from one
      ``labels.list`` kept by the provider and read again for a label it has not seen (at most
      once a minute) or after 15 minutes.
    - Send: ``messages.send`` with the complete MIME in ``raw`` (so Bcc survives in the Sent
      copy) and the thread id when replying.
    - Errors are sorted by ``errors[].reason`` (``gmail_errors``); throttling and server errors
      are retried with bounded backoff honouring Retry-After, then raised as TemporaryError.
    - Every call first spends its quota units from a :class:`~.quota.QuotaBucket`, 15,000 a
      rolling minute by default, so the mailbox stays under Gmail's per-user limit; a batch
      spends the units of all its parts.
    - google-auth refreshes the access token when it has expired or a call answers 401 (once);
      ``on_token(access_token, expiry)`` reports each new token so the caller can store it.

Use
    ::

        provider = GmailProvider(client_id, client_secret, refresh_token, GmailEndpoints(),
                                 access_token=stored_token, expiry=stored_expiry,
                                 on_token=store_token, quota=15000)
        page = provider.list_window(start)
        fetched = provider.fetch(page.refs)

    ``quota`` is a shared :class:`~.quota.QuotaBucket` or a units-per-minute figure. For the
    emulator: ``GmailEndpoints.at(emulator.base_url)``. In organisation mode, pass
    ``credentials=`` (service-account credentials with a ``subject``, see ``gmail_org``) and
    ``None`` for the client id, secret and refresh token; ``"me"`` is then the impersonated
    user.

Caveats
    Not thread-safe (httplib2 is not); use one provider per mailbox at a time. The quota bucket
    only knows this process's calls. Expiry datetimes are naive UTC, google-auth's convention.
    A send that fails with a server error is not retried here, since Gmail may have sent it.
"""

import binascii
import json
import logging
import socket
import time
from datetime import timezone

import google_auth_httplib2
import httplib2
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from ..provider import (
    ADDED,
    DELETED,
    LABELS_CHANGED,
    Change,
    ChangeSet,
    CursorExpired,
    Fetched,
    Identity,
    MessageError,
    Page,
    Provider,
    ProviderError,
    SentMessage,
)
from .gmail_errors import (
    INVALID,
    NOT_FOUND,
    RETRYABLE,
    UNAVAILABLE,
    Backoff,
    Failure,
    classify_http_error,
    provider_error,
    refresh_failure,
)
from .gmail_wire import (
    COST_GET_PROFILE,
    COST_HISTORY_LIST,
    COST_LABELS_LIST,
    COST_MESSAGES_GET,
    COST_MESSAGES_LIST,
    COST_SEND,
    COST_SEND_AS_LIST,
    READONLY_SCOPE,
    SCOPES,
    SEND_SCOPE,
    SYSTEM_LABEL_IDS,
    UNITS_PER_MINUTE,
    GmailConfigError,
    GmailEndpoints,
    decode_base64url,
    encode_base64url,
    message_ref,
)
from .quota import QuotaBucket

# Callers take the provider's whole vocabulary from this module, including gmail_wire's names.
__all__ = [
    "READONLY_SCOPE",
    "SCOPES",
    "SEND_SCOPE",
    "GmailConfigError",
    "GmailEndpoints",
    "GmailProvider",
    "decode_base64url",
    "encode_base64url",
]

_logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
MAX_BATCH_PARTS = 50
# The smallest batch sent early to use units that are there rather than wait for a full one.
MIN_BATCH_PARTS = 10
HTTP_TIMEOUT_SECONDS = 60
WINDOW_QUERY = "after:{epoch} -in:spam -in:trash -in:drafts"
HISTORY_TYPES = ["messageAdded", "labelAdded", "labelRemoved", "messageDeleted"]
TRANSPORT_ERRORS = (httplib2.HttpLib2Error, TransportError, OSError, socket.timeout)
# User label names are read again when a label id is new to us (at most this often), and in
# any case once they are this old, so a renamed label reads right within a scan or two.
LABELS_RETRY_SECONDS = 60
LABELS_MAX_AGE_SECONDS = 15 * 60


class _Refused(Exception):
    """A call failed in a way not retried here; the caller maps it to a provider error."""

    def __init__(self, failure):
        super().__init__(failure.describe())
        self.failure = failure


class GmailProvider(Provider):
    """One Gmail mailbox, reached with a refresh token granted to our OAuth client."""

    # Instance-overridable so tests can force small pages.
    history_page_size = MAX_PAGE_SIZE
    batch_size = MAX_BATCH_PARTS

    def __init__(
        self,
        client_id,
        client_secret,
        refresh_token,
        endpoints=None,
        *,
        access_token=None,
        expiry=None,
        on_token=None,
        quota=None,
        sleep=time.sleep,
        clock=time.monotonic,
        timeout=HTTP_TIMEOUT_SECONDS,
        credentials=None,
    ):
        if credentials is None and (not client_id or not client_secret):
            raise GmailConfigError("The Google OAuth client id and secret must both be set.")
        self.endpoints = endpoints or GmailEndpoints()
        self._sleep = sleep
        self._clock = clock
        self._on_token = on_token
        self._label_names = {}
        self._labels_read_at = None
        if quota is None or isinstance(quota, int | float):
            quota = QuotaBucket(quota or UNITS_PER_MINUTE, clock=clock, sleep=sleep)
        self.quota = quota
        # Organisation mode hands in service-account credentials impersonating the user.
        if credentials is None:
            credentials = Credentials(
                access_token,
                refresh_token=refresh_token,
                token_uri=self.endpoints.token_uri,
                client_id=client_id,
                client_secret=client_secret,
                expiry=expiry,
            )
        self._credentials = credentials
        self._known_token = self._credentials.token
        # One refresh per 401: a second 401 right after a fresh token means the grant is gone.
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=httplib2.Http(timeout=timeout), max_refresh_attempts=1
        )
        service = build(
            "gmail",
            "v1",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.endpoints.api_base},
        )
        self._users = service.users()
        self._messages = self._users.messages()

    # Calls

    def _notice_token(self):
        token = self._credentials.token
        if token and token != self._known_token:
            self._known_token = token
            _logger.debug("Gmail access token refreshed")
            if self._on_token is not None:
                self._on_token(token, self._credentials.expiry)

    def _execute(self, request, cost, what, *, retry_unavailable=True):
        """Run one request within the quota, retrying throttling (and server errors)."""
        backoff = Backoff(self._sleep, what)
        while True:
            self.quota.spend(cost)
            try:
                return request.execute()
            except HttpError as error:
                failure = classify_http_error(error)
            except RefreshError as error:
                raise refresh_failure(error) from error
            except TRANSPORT_ERRORS as error:
                failure = Failure(UNAVAILABLE, 0, (type(error).__name__,))
            finally:
                self._notice_token()
            if failure.verdict not in RETRYABLE or (
                failure.verdict == UNAVAILABLE and not retry_unavailable
            ):
                raise _Refused(failure)
            backoff.pause(failure)

    def _call(self, request, cost, what, **options):
        try:
            return self._execute(request, cost, what, **options)
        except _Refused as refused:
            raise provider_error(refused.failure, what) from None

    # Provider interface

    def identity(self):
        profile = self._call(self._users.getProfile(userId="me"), COST_GET_PROFILE, "getProfile")
        address = profile["emailAddress"].lower()
        send_as = self._call(
            self._users.settings().sendAs().list(userId="me"), COST_SEND_AS_LIST, "sendAs.list"
        )
        aliases = []
        for entry in send_as.get("sendAs", []):
            alias = entry.get("sendAsEmail", "").lower()
            if alias and alias != address and alias not in aliases:
                aliases.append(alias)
        return Identity(address, tuple(aliases))

    def label_names(self, labels):
        """System labels as they are, user labels by name (``Label_12`` -> ``Clients/Smith``).

        The names come from one ``labels.list`` (1 quota unit), kept by this provider and read
        again as ``LABELS_RETRY_SECONDS`` and ``LABELS_MAX_AGE_SECONDS`` say. When they cannot
        be read, the ids are kept: a label's name is never a reason to lose a message.
        """
        labels = tuple(labels)
        user_labels = [label for label in labels if label not in SYSTEM_LABEL_IDS]
        if user_labels:
            age = None if self._labels_read_at is None else self._clock() - self._labels_read_at
            unknown = any(label not in self._label_names for label in user_labels)
            if (
                age is None
                or age >= LABELS_MAX_AGE_SECONDS
                or (unknown and age >= LABELS_RETRY_SECONDS)
            ):
                self._read_label_names()
        return tuple(self._label_names.get(label, label) for label in labels)

    def _read_label_names(self):
        self._labels_read_at = self._clock()
        try:
            answer = self._call(
                self._users.labels().list(userId="me"), COST_LABELS_LIST, "labels.list"
            )
        except ProviderError as error:
            _logger.info("Gmail label names could not be read, ids kept: %s", error)
            return
        self._label_names = {
            label["id"]: label.get("name") or label["id"]
            for label in answer.get("labels", [])
            if label.get("type") == "user" and label.get("id")
        }

    def current_cursor(self):
        profile = self._call(self._users.getProfile(userId="me"), COST_GET_PROFILE, "getProfile")
        return str(profile["historyId"])

    def list_window(self, start, position=None, page_size=MAX_PAGE_SIZE):
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        try:
            state = json.loads(position) if position else {}
        except ValueError:
            raise CursorExpired(f"not a backfill position: {position!r}") from None
        page_token = state.get("pageToken")
        request = self._messages.list(
            userId="me",
            q=WINDOW_QUERY.format(epoch=int(start.timestamp())),
            maxResults=max(1, min(page_size, MAX_PAGE_SIZE)),
            pageToken=page_token,
        )
        try:
            answer = self._execute(request, COST_MESSAGES_LIST, "messages.list")
        except _Refused as refused:
            if page_token and refused.failure.verdict == INVALID:
                raise CursorExpired("Gmail no longer accepts the page token") from None
            raise provider_error(refused.failure, "messages.list") from None

        refs = [message_ref(stub) for stub in answer.get("messages", [])]
        ids = [ref.provider_id for ref in refs]
        last_id = state.get("lastId")
        if last_id in ids:
            # The resumed page repeats what the previous one ended with; drop the overlap.
            refs = refs[ids.index(last_id) + 1 :]
        next_position = None
        if answer.get("nextPageToken"):
            next_position = json.dumps(
                {
                    "pageToken": answer["nextPageToken"],
                    "lastId": refs[-1].provider_id if refs else last_id,
                }
            )
        return Page(refs, next_position, answer.get("resultSizeEstimate"))

    def fetch(self, refs):
        results = [None] * len(refs)
        first = 0
        while first < len(refs):
            parts = self._batch_parts(len(refs) - first)
            self._fetch_batch(refs, list(range(first, first + parts)), results)
            first += parts
        return results

    def _batch_parts(self, remaining):
        """How many parts the next batch carries.

        A full batch must fit the quota in one go, so a scaled-down quota shrinks it. When the
        bucket holds less than a full batch but enough for a useful one, the smaller batch goes
        now: waiting for room for a full one would leave the units already there unused.
        """
        fits = self.quota.capacity // COST_MESSAGES_GET
        full = max(1, min(self.batch_size, MAX_BATCH_PARTS, fits, remaining))
        available = self.quota.available() // COST_MESSAGES_GET
        if available < full and available >= min(MIN_BATCH_PARTS, full):
            return available
        return full

    def _fetch_batch(self, refs, pending, results):
        """Fill ``results`` at the ``pending`` indexes, retrying only the throttled parts."""
        backoff = Backoff(self._sleep, "messages.get batch")
        while pending:
            answers = self._run_batch(refs, pending, backoff)
            if answers is None:
                continue
            retry, failures = self._file_answers(refs, pending, answers, results)
            if len(retry) < len(pending):
                backoff.reset()
            pending = retry
            if pending:
                backoff.pause(max(failures, key=lambda failure: failure.retry_after or 0))

    def _run_batch(self, refs, pending, backoff):
        """One batch call: ``{index: (answer, error)}``, or None after pausing for a retry."""
        answers = {}

        def collect(part, answer, error):
            answers[int(part)] = (answer, error)

        batch = BatchHttpRequest(callback=collect, batch_uri=self.endpoints.batch_uri)
        for index in pending:
            request = self._messages.get(userId="me", id=refs[index].provider_id, format="raw")
            batch.add(request, request_id=str(index))
        self.quota.spend(COST_MESSAGES_GET * len(pending))
        try:
            batch.execute()
        except HttpError as error:
            failure = classify_http_error(error)
            if failure.verdict not in RETRYABLE:
                raise provider_error(failure, "messages.get batch") from None
            backoff.pause(failure)
            return None
        except RefreshError as error:
            raise refresh_failure(error) from error
        except TRANSPORT_ERRORS as error:
            backoff.pause(Failure(UNAVAILABLE, 0, (type(error).__name__,)))
            return None
        finally:
            self._notice_token()
        return answers

    def _file_answers(self, refs, pending, answers, results):
        """Store each part's outcome; returns the indexes to retry and why they failed."""
        retry, failures = [], []
        for index in pending:
            answer, error = answers.get(index, (None, None))
            if error is None and answer is not None:
                results[index] = self._fetched(refs[index], answer)
                continue
            if error is None:
                failure = Failure(UNAVAILABLE, 0, ("part missing from the batch answer",))
            else:
                failure = classify_http_error(error)
            if failure.verdict in RETRYABLE:
                retry.append(index)
                failures.append(failure)
            elif failure.verdict in (NOT_FOUND, INVALID):
                results[index] = MessageError(
                    f"messages.get: {failure.describe()}",
                    refs[index].provider_id,
                    gone=failure.verdict == NOT_FOUND,
                )
            else:
                raise provider_error(failure, "messages.get")
        return retry, failures

    @staticmethod
    def _fetched(ref, answer):
        if "raw" not in answer:
            return MessageError("messages.get answered without raw content", ref.provider_id)
        try:
            raw = decode_base64url(answer["raw"])
        except (binascii.Error, ValueError):
            return MessageError("messages.get answered undecodable raw content", ref.provider_id)
        return Fetched(message_ref({"id": ref.provider_id, **answer}), raw)

    def list_changes(self, cursor):
        if not str(cursor).isdigit():
            raise CursorExpired(f"not a Gmail history id: {cursor!r}")
        request = self._users.history().list(
            userId="me",
            startHistoryId=str(cursor),
            historyTypes=HISTORY_TYPES,
            maxResults=self.history_page_size,
        )
        try:
            answer = self._execute(request, COST_HISTORY_LIST, "history.list")
        except _Refused as refused:
            if refused.failure.verdict == NOT_FOUND:
                _logger.debug("Gmail history id %s is no longer kept", cursor)
                raise CursorExpired("Gmail no longer keeps history that old") from None
            raise provider_error(refused.failure, "history.list") from None

        changes = []
        records = answer.get("history", [])
        for record in records:
            changes.extend(self._changes_of(record))
        more = bool(answer.get("nextPageToken")) and bool(records)
        # While pages remain, resume after the last record read: history ids are increasing.
        next_cursor = records[-1]["id"] if more else answer.get("historyId", cursor)
        return ChangeSet(changes, str(next_cursor), more)

    @staticmethod
    def _changes_of(record):
        for item in record.get("messagesAdded", []):
            yield Change(ADDED, message_ref(item["message"]))
        for key in ("labelsAdded", "labelsRemoved"):
            for item in record.get(key, []):
                # The message's labels after the change; the engine decides what they mean.
                yield Change(LABELS_CHANGED, message_ref(item["message"]))
        for item in record.get("messagesDeleted", []):
            yield Change(DELETED, message_ref(item["message"], labels=()))

    def send(self, raw, thread_id=None):
        body = {"raw": encode_base64url(raw)}
        if thread_id:
            body["threadId"] = thread_id
        answer = self._call(
            self._messages.send(userId="me", body=body),
            COST_SEND,
            "messages.send",
            retry_unavailable=False,
        )
        return SentMessage(
            answer["id"], answer.get("threadId", ""), tuple(answer.get("labelIds", ()))
        )
