"""The sync engine: the 7-year backfill and the regular scan, for any provider.

What it is
    Two crons drive every connected mailbox through the provider interface
    (``core/provider.py``). The **backfill** imports the history inside the mailbox's window,
    newest first; the **scan** picks up what changed since the last bookmark (new mail, label
    and folder moves, deletions). The engine never knows which provider it drives.

How it works
    - The scan's bookmark is taken before the backfill starts, so mail that arrives during the
      backfill is picked up by the scan, and anything seen by both is stored once.
    - Work is done in steps of at most ``BATCH_SIZE`` messages. Each step runs on a mailbox
      row locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and ends with a commit, so several
      cron workers can share the load without ever processing one mailbox at once, and a crash
      loses at most the step under way, which is then simply redone.
    - The backfill position is the provider's page position plus the id of the last message
      done on that page; a restart re-lists that page and goes on after that message.
    - A message already seen in the mailbox (same provider id) is never fetched again; one
      already stored from elsewhere (same Message-ID and content) only gains a location.
    - Errors take one path per kind: temporary (back off, honouring the provider's retry-after,
      doubling up to a cap), cursor expired (take a fresh bookmark, then re-list the window,
      deduplicated), authorisation lost ("needs reconnect" and an activity for the owner), and
      one bad message (recorded as a failure; the rest go on).

Use
    The crons in ``data/ir_cron.xml`` call :meth:`_cron_scan` and :meth:`_cron_backfill`.
    Tests call :meth:`_backfill_step` and :meth:`_scan_step` on one mailbox.

Caveats
    A cron run works for at most ``RUN_BUDGET_SECONDS`` and reports its progress, so Odoo
    re-runs it until nothing remains; a very large mailbox takes many runs.
"""

import logging
import threading
import time
from dataclasses import replace
from datetime import timedelta, timezone

import psycopg2

from odoo import api, fields, models

from ..core.capture_policy import decide
from ..core.mime import parse_headers
from ..core.provider import (
    ADDED,
    DELETED,
    LABELS_CHANGED,
    AuthorisationLost,
    CursorExpired,
    MessageError,
    TemporaryError,
)
from .trail_mailbox import ACTIVE, BACKFILLING, ERROR, NEEDS_RECONNECT, SYNCING_STATES
from .trail_mailbox_status import DISMISSED

_logger = logging.getLogger(__name__)

BATCH_SIZE = 50  # messages per provider batch and per committed step
PAGE_SIZE = 500  # messages listed per page of the backfill window
RUN_BUDGET_SECONDS = 120
BACKOFF_BASE_SECONDS = 60
BACKOFF_CAP_SECONDS = 3600
# A scan makes its mailbox due again this long before a whole interval has passed, so that the
# scan job, which runs once an interval, finds it due at its next run (at most half an interval).
SCAN_SLACK_MINUTES = 5
# Context key: when the scan job's run began, which its mailboxes' next scans count from.
SCAN_ROUND = "trail_scan_round"


def _in_test():
    return getattr(threading.current_thread(), "testing", False)


class TrailMailbox(models.Model):
    _inherit = "trail.mailbox"

    # ------------------------------------------------------------------ crons
    @api.model
    def _cron_scan(self):
        # Counted from the run's start, not each mailbox's: the last mailbox of a long run is
        # due at the next run as much as the first.
        started = fields.Datetime.now()
        for mailbox_id in self._due_ids(backfill=False):
            mailbox = self._lock(mailbox_id)
            if mailbox and mailbox._is_due(backfill=False):
                mailbox = mailbox.with_context(**{SCAN_ROUND: started})
                mailbox._run_guarded(mailbox._scan_step)
            self._commit()

    @api.model
    def _cron_backfill(self):
        deadline = time.monotonic() + RUN_BUDGET_SECONDS
        pages = {}
        done = 0
        while time.monotonic() < deadline:
            progressed = False
            for mailbox_id in self._due_ids(backfill=True):
                mailbox = self._lock(mailbox_id)
                if mailbox and mailbox._is_due(backfill=True):
                    done += mailbox._run_guarded(mailbox._backfill_step, pages) or 0
                    progressed = True
                self._commit()
            if not progressed:
                break
        remaining = len(self._due_ids(backfill=True))
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    @api.model
    def _due_domain(self, backfill):
        now = fields.Datetime.now()
        domain = [
            ("active", "=", True),
            "|",
            ("retry_after", "=", False),
            ("retry_after", "<=", now),
        ]
        if backfill:
            return domain + [("state", "=", BACKFILLING), ("backfill_done", "=", False)]
        return domain + [
            ("state", "in", SYNCING_STATES),
            "|",
            ("next_scan", "=", False),
            ("next_scan", "<=", now),
        ]

    @api.model
    def _due_ids(self, backfill):
        return self.sudo().search(self._due_domain(backfill)).ids

    def _is_due(self, backfill):
        self.invalidate_recordset()
        return bool(self.filtered_domain(self._due_domain(backfill)))

    @api.model
    def _lock(self, mailbox_id):
        """Lock one mailbox row for this transaction, or return None if a worker has it."""
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    "SELECT id FROM trail_mailbox WHERE id = %s FOR UPDATE SKIP LOCKED",
                    [mailbox_id],
                )
                row = self.env.cr.fetchone()
        except psycopg2.errors.SerializationFailure:
            # Another worker changed the row since our snapshot: it has (or had) the mailbox.
            return None
        return self.sudo().browse(row[0]) if row else None

    @api.model
    def _commit(self):
        if not _in_test():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _run_guarded(self, step, *args):
        """Run ``step``; turn each kind of provider error into its mailbox state."""
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                result = step(*args)
        except TemporaryError as error:
            self._on_temporary_error(error)
        except CursorExpired as error:
            self._on_cursor_expired(error)
        except AuthorisationLost as error:
            self._on_authorisation_lost(error)
        except Exception as error:
            _logger.exception("Mailbox %s stopped on an unexpected error", self.id)
            self.write({"state": ERROR, "last_error": str(error) or repr(error)})
        else:
            if self.retry_attempts:
                self.write({"retry_attempts": 0, "retry_after": False})
            return result
        return 0

    # ------------------------------------------------------------------ error kinds
    def _on_temporary_error(self, error):
        attempts = self.retry_attempts + 1
        delay = error.retry_after or min(
            BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)
        )
        _logger.warning(
            "Mailbox %s: temporary provider error, retrying in %ss (attempt %s)",
            self.id,
            delay,
            attempts,
        )
        self.write(
            {
                "retry_attempts": attempts,
                "retry_after": fields.Datetime.now() + timedelta(seconds=delay),
                "last_error": str(error),
            }
        )

    def _on_cursor_expired(self, error):
        provider = self._make_provider()
        self.write(
            {
                "cursor": provider.current_cursor(),
                "state": BACKFILLING,
                "backfill_done": False,
                "backfill_page": False,
                "backfill_last_id": False,
                "backfill_count": 0,
                "last_error": str(error),
            }
        )
        _logger.info("Mailbox %s: scan bookmark expired; re-listing the window", self.id)

    def _on_authorisation_lost(self, error):
        _logger.warning("Mailbox %s lost its authorisation: %s", self.id, error)
        self.write({"state": NEEDS_RECONNECT, "last_error": str(error)})
        self._notify_owner_to_reconnect()

    def _notify_owner_to_reconnect(self):
        todo = self.env.ref("mail.mail_activity_data_todo")
        summary = self.env._("Reconnect your mailbox")
        if self.activity_ids.filtered(lambda a: a.summary == summary):
            return
        self.activity_schedule(
            activity_type_id=todo.id,
            summary=summary,
            note=self.env._(
                "Access to %s was revoked or has expired, so no mail is being captured. "
                "Open the mailbox and click Reconnect.",
                self.address,
            ),
            user_id=(self.user_id or self.env.user).id,
        )

    # ------------------------------------------------------------------ steps
    def _ensure_cursor(self, provider):
        """Take the scan's bookmark before anything is imported."""
        if not self.cursor:
            self.cursor = provider.current_cursor()
            if not self.connected_at:
                self.connected_at = fields.Datetime.now()

    def _backfill_step(self, pages=None):
        """Import at most one batch of the window; return how many messages were handled."""
        self.ensure_one()
        provider = self._make_provider()
        self._ensure_cursor(provider)
        pages = {} if pages is None else pages
        start = self.backfill_start.replace(tzinfo=timezone.utc)
        key = (self.id, self.backfill_page or "")
        page = pages.get(key)
        if page is None:
            page = provider.list_window(start, self.backfill_page or None, PAGE_SIZE)
            pages.clear()
            pages[key] = page
        refs = page.refs
        ids = [ref.provider_id for ref in refs]
        if self.backfill_last_id in ids:
            refs = refs[ids.index(self.backfill_last_id) + 1 :]
        chunk = refs[:BATCH_SIZE]
        values = {"backfill_total": max(self.backfill_total, page.estimated_total or 0)}
        if not chunk:
            if page.next_position:
                values.update(backfill_page=page.next_position, backfill_last_id=False)
            else:
                values.update(backfill_done=True, state=ACTIVE)
                _logger.info(
                    "Mailbox %s: backfill finished, %s messages handled, %s failed",
                    self.id,
                    self.backfill_count,
                    self.failed_count,
                )
            self.write(values)
            return 0
        _captured, reached = self._store(provider, chunk)
        values.update(
            backfill_last_id=chunk[-1].provider_id,
            backfill_count=self.backfill_count + len(chunk),
        )
        if reached:
            values["backfill_reached"] = reached.astimezone(timezone.utc).replace(tzinfo=None)
        self.write(values)
        return len(chunk)

    def _scan_step(self):
        """Apply every change since the bookmark; return how many changes were handled."""
        self.ensure_one()
        provider = self._make_provider()
        self._ensure_cursor(provider)
        handled = 0
        more = True
        while more:
            changeset = provider.list_changes(self.cursor)
            self._apply_changes(provider, changeset.changes)
            self.cursor = changeset.cursor
            handled += len(changeset.changes)
            more = changeset.more
        # The Sent folder is captured up to now: a send of unknown outcome can be told.
        self._settle_unknown_sends()
        now = fields.Datetime.now()
        self.write({"last_scan": now, "next_scan": self._next_scan_after(now)})
        return handled

    def _next_scan_after(self, now):
        """When a mailbox scanned ``now`` is due again: an interval after the scan job's run
        began (or ``now``), less a little, so that the job's next run does not skip it."""
        interval = self._scan_interval()
        minutes = (now + interval - now).total_seconds() / 60
        slack = timedelta(minutes=min(SCAN_SLACK_MINUTES, minutes / 2))
        return (self.env.context.get(SCAN_ROUND) or now) + interval - slack

    def _apply_changes(self, provider, changes):
        Location = self.env["trail.mail.location"]
        to_store = {}
        for change in changes:
            ref = change.ref
            location = Location.search(
                [("mailbox_id", "=", self.id), ("provider_id", "=", ref.provider_id)]
            )
            if change.kind == DELETED:
                location.deleted_upstream = True
                to_store.pop(ref.provider_id, None)
            elif location and change.kind in (ADDED, LABELS_CHANGED):
                location.labels = ",".join(self._label_names(provider, ref.labels))
            elif not location:
                to_store[ref.provider_id] = ref
        refs = list(to_store.values())
        for offset in range(0, len(refs), BATCH_SIZE):
            self._store(provider, refs[offset : offset + BATCH_SIZE])

    def _store(self, provider, refs):
        """Fetch and capture ``refs``; skipped and already-seen messages are not fetched.

        Return the number captured and the oldest date among the fetched messages (list pages
        do not always carry dates).
        """
        Location = self.env["trail.mail.location"]
        seen = set(
            Location.search(
                [
                    ("mailbox_id", "=", self.id),
                    ("provider_id", "in", [r.provider_id for r in refs]),
                ]
            ).mapped("provider_id")
        )
        seen |= self._skipped_provider_ids(r.provider_id for r in refs)
        skipped = [r for r in refs if r.skip_reason and r.provider_id not in seen]
        wanted = [r for r in refs if not r.skip_reason and r.provider_id not in seen]
        captured = kept_out = 0
        dates = [r.internal_date for r in refs if r.internal_date]
        results = provider.fetch(wanted) if wanted else []
        policy = self._capture_policy() if results else None
        # Decided on the headers before anything is written: kept-out mail leaves no trace
        # but its provider id, not even its cloud links.
        admitted, headers = [], {}
        for result in results:
            verdict = None
            if not isinstance(result, MessageError):
                # Read once: the capture below takes the same headers.
                headers[result.ref.provider_id] = parse_headers(result.raw)
                verdict = decide(result.raw, policy, headers[result.ref.provider_id])
            if verdict:
                self._record_kept_out(result.ref, verdict)
                kept_out += 1
            else:
                admitted.append(result)
        results = admitted
        links = self._link_attachments(provider, results)
        wanted_by_id = {ref.provider_id: ref for ref in wanted}
        for result in results:
            if isinstance(result, MessageError):
                self._record_failure(
                    result.provider_id,
                    str(result),
                    wanted_by_id.get(result.provider_id),
                    gone=result.gone,
                )
                continue
            found = links.get(result.ref.provider_id, ())
            notes = ()
            if result.ref.has_attachments and result.ref.provider_id not in links:
                notes = ("The cloud links attached to this email could not be read.",)
            try:
                with self.env.cr.savepoint():
                    self.env["trail.mail"]._capture(
                        self,
                        replace(result.ref, labels=self._label_names(provider, result.ref.labels)),
                        result.raw,
                        links=found,
                        notes=notes,
                        headers=headers.get(result.ref.provider_id),
                    )
            except Exception as error:
                _logger.warning(
                    "Mailbox %s: message %s could not be stored: %s",
                    self.id,
                    result.ref.provider_id,
                    error,
                )
                self._record_failure(result.ref.provider_id, str(error) or repr(error), result.ref)
            else:
                captured += 1
                if result.ref.internal_date:
                    dates.append(result.ref.internal_date)
                self.failure_ids.filtered(
                    lambda f, pid=result.ref.provider_id: f.provider_id == pid
                )._mark_captured()
        if skipped or kept_out:
            self.write({"skipped_count": self.skipped_count + len(skipped) + kept_out})
        return captured, min(dates, default=None)

    def _label_names(self, provider, labels):
        """``labels`` as the owner reads them (Gmail label names rather than ids); the labels
        as they are when the provider cannot say."""
        try:
            return provider.label_names(labels)
        except Exception as error:
            _logger.warning("Mailbox %s: label names could not be read: %s", self.id, error)
            return tuple(labels)

    def _link_attachments(self, provider, results):
        """The cloud links of the fetched messages, as ``provider.link_attachments`` gives
        them; ``{}`` when they cannot be had, so the messages are captured without them."""
        refs = [r.ref for r in results if not isinstance(r, MessageError) and r.ref.has_attachments]
        if not refs:
            return {}
        try:
            return provider.link_attachments(refs)
        except Exception as error:
            # The mail matters more than its links: capture it, and say what is missing.
            _logger.warning(
                "Mailbox %s: cloud links of %s messages could not be read: %s",
                self.id,
                len(refs),
                error,
            )
            return {}

    def _record_failure(self, provider_id, error, ref=None, gone=False):
        """Record that ``provider_id`` could not be captured, with what a retry needs.

        ``gone``: the provider no longer has the message. A failure its owner dismissed stays
        dismissed; it only gains the new attempt.
        """
        Failure = self.env["trail.mail.failure"]
        values = {"error": error, "gone": gone, **(Failure._values_from_ref(ref) if ref else {})}
        failure = self.failure_ids.filtered(lambda f: f.provider_id == provider_id)
        if failure:
            values["attempts"] = failure.attempts + 1
            if failure.resolution != DISMISSED:
                values.update(resolved=False, resolution=False)
            failure.write(values)
        else:
            Failure.create({**values, "mailbox_id": self.id, "provider_id": provider_id})
