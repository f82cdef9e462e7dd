from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.addons.trail_email_integration.core.provider import (
    AuthorisationLost,
    CursorExpired,
    MessageError,
    TemporaryError,
)
from odoo.tests import tagged
from odoo.tools import mute_logger

from .capture_common import NOW, OWNER, CaptureCase, make_raw


@tagged("post_install", "-at_install")
class TestBackfillAndScan(CaptureCase):
    def test_backfill_stores_exactly_the_window_newest_first_once(self):
        # 9 years of mail, one message every 30 days; the window is 7 years.
        for days in range(0, 9 * 365, 30):
            self.add(f"Message from {days} days ago", days_ago=days)
        inside = [d for d in range(0, 9 * 365, 30) if NOW - timedelta(days=d) >= self._start()]
        self.run_backfill()

        mails = self.mails().sorted("id")
        self.assertEqual(len(mails), len(inside))
        self.assertEqual(
            sorted(mails.mapped("subject")), sorted(f"Message from {d} days ago" for d in inside)
        )
        dates = mails.mapped("date")
        self.assertEqual(dates, sorted(dates, reverse=True), "newest first")
        self.assertEqual(self.mailbox.state, "active")
        self.assertTrue(self.mailbox.backfill_done)
        self.assertEqual(self.mailbox.backfill_count, len(inside))
        self.assertEqual(self.mailbox.captured_count, len(inside))

        self.run_backfill()
        self.assertEqual(len(self.mails()), len(inside), "a second pass adds nothing")

    def _start(self):
        return self.mailbox.backfill_start.replace(tzinfo=NOW.tzinfo)

    def test_backfill_resumes_from_its_position(self):
        for days in range(120):
            self.add(f"Mail {days}", days_ago=days)
        self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertEqual(len(self.mails()), 50)
        self.assertTrue(self.mailbox.backfill_last_id)
        # A new worker (fresh page cache) goes on where the first stopped.
        self.run_backfill()
        self.assertEqual(len(self.mails()), 120)
        self.assertEqual(self.box.calls["fetch"], 3)

    def test_scan_picks_up_new_mail_and_mail_arriving_during_backfill(self):
        self.add("Old one", days_ago=10)
        self.mailbox._run_guarded(self.mailbox._backfill_step)  # takes the cursor first
        self.add("Arrived during the backfill", days_ago=0)
        self.run_backfill()
        self.run_scan()
        self.add("Arrived later", days_ago=0)
        self.run_scan()
        subjects = sorted(self.mails().mapped("subject"))
        self.assertEqual(subjects, ["Arrived during the backfill", "Arrived later", "Old one"])
        self.assertTrue(self.mailbox.last_scan)
        self.assertGreater(self.mailbox.next_scan, self.mailbox.last_scan)

    def test_each_run_of_the_scan_job_finds_the_mailbox_due(self):
        # The job runs once an interval (30 minutes); a mailbox it scanned must be due at its
        # next run, not one run later, however long the scan took.
        self.run_backfill()
        start = datetime(2026, 12, 1, 9, 0, 0)
        self.mailbox.next_scan = False
        with freeze_time(start):
            self.env["trail.mailbox"]._cron_scan()
        self.assertEqual(self.mailbox.last_scan, start)
        for minutes, due in ((10, False), (24, False), (30, True)):
            with freeze_time(start + timedelta(minutes=minutes)):
                self.assertEqual(self.mailbox._is_due(backfill=False), due, minutes)

        # A mailbox scanned late in a long run counts from the run's start.
        self.mailbox.next_scan = False
        with freeze_time(start + timedelta(minutes=37)):
            self.mailbox.with_context(trail_scan_round=start + timedelta(minutes=30))._scan_step()
        with freeze_time(start + timedelta(minutes=60)):
            self.assertTrue(self.mailbox._is_due(backfill=False))

    def test_spam_trash_and_drafts_are_skipped_and_counted(self):
        self.add("Inbox", labels=("INBOX",))
        self.add("Archived", labels=())
        self.add("Sent", labels=("SENT",), sender=OWNER, to="client@example.com")
        self.run_backfill()
        self.add("Spam", labels=("SPAM",))
        self.add("Trash", labels=("TRASH",))
        self.add("Draft", labels=("DRAFT",))
        self.run_scan()
        self.assertEqual(sorted(self.mails().mapped("subject")), ["Archived", "Inbox", "Sent"])
        self.assertEqual(self.mailbox.skipped_count, 3)

    def test_direction_from_owner_alias_or_sent_label(self):
        self.add("In", sender="client@example.com")
        self.add("Out by label", labels=("SENT",), sender="someone@else.example")
        self.add("Out by alias", labels=(), sender="Ada <ada.alias@firm.example>")
        self.run_backfill()
        by_subject = {m.subject: m.direction for m in self.mails()}
        self.assertEqual(
            by_subject, {"In": "incoming", "Out by label": "outgoing", "Out by alias": "outgoing"}
        )

    def test_label_moves_and_deletions_upstream(self):
        kept, _raw = self.add("Will be trashed")
        gone, _raw = self.add("Will be deleted")
        self.run_backfill()
        self.run_scan()
        self.box.relabel(kept, ("TRASH",))
        self.box.delete(gone)
        self.run_scan()
        mails = {m.subject: m for m in self.mails()}
        self.assertEqual(len(mails), 2, "our copies are kept")
        self.assertEqual(mails["Will be trashed"].location_ids.labels, "TRASH")
        self.assertTrue(mails["Will be deleted"].deleted_upstream)
        self.assertFalse(mails["Will be trashed"].deleted_upstream)


@tagged("post_install", "-at_install")
class TestDedupe(CaptureCase):
    def test_same_email_in_two_places_is_stored_once(self):
        raw = make_raw("Twice", message_id="<same@example.com>")
        self.box.add(raw, labels=("INBOX",), date=NOW)
        self.box.add(raw, labels=("Label_1",), date=NOW)
        self.run_backfill()
        mail = self.mails()
        self.assertEqual(len(mail), 1)
        self.assertEqual(len(mail.location_ids), 2)

    def test_message_id_whitespace_or_folding_makes_no_new_copy(self):
        raw = make_raw("Folded", message_id="<fold@example.com>")
        folded = raw.replace(
            b"Message-ID: <fold@example.com>", b"Message-ID:\r\n  <fold@example.com> "
        )
        if folded == raw:
            folded = raw.replace(
                b"Message-ID: <fold@example.com>", b"Message-ID:\n <fold@example.com>"
            )
        self.box.add(raw, date=NOW)
        self.box.add(folded, date=NOW)
        self.run_backfill()
        self.assertEqual(len(self.mails()), 1)
        self.assertEqual(self.mails().message_id, "fold@example.com")

    def test_two_different_emails_sharing_a_message_id_are_both_kept(self):
        self.box.add(make_raw("List copy", message_id="<shared@x>", body="one"), date=NOW)
        self.box.add(make_raw("Tracker copy", message_id="<shared@x>", body="two"), date=NOW)
        self.run_backfill()
        mails = self.mails()
        self.assertEqual(len(mails), 2)
        self.assertEqual(set(mails.mapped("message_id")), {"shared@x"})
        self.assertTrue(any("same Message-ID" in (m.parse_notes or "") for m in mails))

    def test_message_without_message_id_gets_a_stable_key(self):
        raw = make_raw("No id", message_id=False)
        self.box.add(raw, date=NOW)
        self.box.add(raw, labels=("Label_2",), date=NOW)
        self.run_backfill()
        mail = self.mails()
        self.assertEqual(len(mail), 1)
        self.assertFalse(mail.message_id)
        self.assertNotIn(b"Message-ID", mail.original_id.raw)

    def test_original_is_byte_exact_and_attachments_kept(self):
        raw = make_raw("With files", attachments=[("a.pdf", b"%PDF-1"), ("b.pdf", b"%PDF-2")])
        self.box.add(raw, date=NOW)
        self.run_backfill()
        mail = self.mails()
        self.assertEqual(mail.original_id.raw, raw)
        self.assertEqual(mail.attachment_count, 2)
        self.assertEqual(sorted(mail.attachment_ids.mapped("name")), ["a.pdf", "b.pdf"])


@tagged("post_install", "-at_install")
class TestErrorKinds(CaptureCase):
    def test_temporary_error_backs_off_and_stays_active(self):
        self.add("Later")
        self.box.fail("list_window", TemporaryError("429 slow down", retry_after=120))
        self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertEqual(self.mailbox.state, "backfilling")
        self.assertEqual(self.mailbox.retry_attempts, 1)
        wait = self.mailbox.retry_after - fields.Datetime.now()
        self.assertGreater(wait.total_seconds(), 100)
        self.assertFalse(self.mailbox._is_due(backfill=True))
        self.box.fail("list_window", TemporaryError("503", retry_after=None))
        self.mailbox.retry_after = False
        self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertEqual(self.mailbox.retry_attempts, 2)
        self.mailbox.retry_after = False
        self.run_backfill()
        self.assertEqual(self.mails().subject, "Later")
        self.assertEqual(self.mailbox.retry_attempts, 0)

    def test_cursor_expired_relists_the_window_without_duplicates(self):
        for days in range(5):
            self.add(f"Before {days}", days_ago=days)
        self.run_backfill()
        self.run_scan()
        self.add("Missed while the cursor expired", days_ago=0)
        self.box.expire_history()
        fetches_before = self.box.calls["fetch"]
        self.run_scan()
        self.assertEqual(self.mailbox.state, "backfilling")
        self.run_backfill()
        self.run_scan()
        self.assertEqual(len(self.mails()), 6)
        self.assertIn("Missed while the cursor expired", self.mails().mapped("subject"))
        self.assertEqual(self.box.calls["fetch"] - fetches_before, 1, "known mail is not refetched")
        self.run_scan()
        self.assertEqual(self.mailbox.state, "active", "the re-list does not repeat")

    def test_authorisation_lost_needs_reconnect_and_tells_the_owner(self):
        self.box.fail("list_window", AuthorisationLost("invalid_grant"))
        self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertEqual(self.mailbox.state, "needs_reconnect")
        self.assertIn("Reconnect", self.mailbox.state_message)
        activity = self.mailbox.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.mailbox.user_id)
        self.mailbox._on_authorisation_lost(AuthorisationLost("again"))
        self.assertEqual(len(self.mailbox.activity_ids), 1, "one activity, not one per run")

    def test_one_bad_message_is_recorded_and_the_rest_go_on(self):
        self.add("Good")
        bad, _raw = self.add("Bad")
        real_fetch = self.provider.fetch

        def fetch(refs):
            return [
                MessageError("404 gone", r.provider_id) if r.provider_id == bad else result
                for r, result in zip(refs, real_fetch(refs), strict=True)
            ]

        self.patch(self.provider, "fetch", fetch)
        self.run_backfill()
        self.assertEqual(self.mails().mapped("subject"), ["Good"])
        self.assertEqual(self.mailbox.failed_count, 1)
        self.assertEqual(self.mailbox.failure_ids.provider_id, bad)
        self.assertEqual(self.mailbox.state, "active")

    def test_unexpected_error_is_visible(self):
        self.box.fail("list_window", RuntimeError("boom"))
        with mute_logger("odoo.addons.trail_email_integration.models.trail_mailbox_sync"):
            self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertEqual(self.mailbox.state, "error")
        self.assertIn("boom", self.mailbox.state_message)
        self.mailbox.action_resume()
        self.assertEqual(self.mailbox.state, "backfilling")

    def test_cursor_expired_error_kind_on_scan_keeps_mailbox_active_path(self):
        self.run_backfill()
        self.box.fail("list_changes", CursorExpired("404"))
        self.run_scan()
        self.assertNotEqual(self.mailbox.state, "needs_reconnect")


@tagged("post_install", "-at_install")
class TestFilingOfCapturedMail(CaptureCase):
    def test_mail_is_filed_and_linking_later_files_old_mail(self):
        ada = self.make_contact("Ada", "ada@client.example", linked=False)
        profile = self.make_profile("Ada's file", [(ada, "participant")], "person")
        self.add("From Ada", sender="Ada <ADA@client.example>")
        self.add("From a stranger", sender="stranger@example.com")
        self.run_backfill()
        from_ada = self.mails().filtered(lambda m: m.subject == "From Ada")
        self.assertEqual(from_ada.filing_state, "unfiled")

        ada.email_address_ids.linked = True
        self.assertEqual(from_ada.profile_ids, profile)
        self.assertEqual(from_ada.filing_state, "filed")
        self.assertEqual(self.mailbox.filed_count, 1)
        self.assertEqual(self.mailbox.unfiled_count, 1)

        ada.membership_ids.role = "referrer"
        self.assertFalse(from_ada.profile_ids)

    def test_owner_and_alias_never_file(self):
        me = self.make_contact("Me as contact", OWNER, "ada.alias@firm.example")
        self.make_profile("Wrong place", [(me, "participant")])
        self.add("Sent by me", sender=OWNER, to="nobody@example.com", labels=("SENT",))
        self.run_backfill()
        self.assertEqual(self.mails().filing_state, "unfiled")

    def test_manual_assignment_keeps_who_and_when(self):
        self.add("Hand filed", sender="unknown@example.com")
        self.run_backfill()
        mail = self.mails()
        profile = self.make_profile("Manual")
        mail.profile_ids = profile
        self.assertEqual(mail.filing_state, "filed")
        self.assertEqual(mail.assignment_ids.action, "assign")
        self.assertEqual(mail.assignment_ids.user_id, self.env.user)
        self.assertTrue(mail.assignment_ids.create_date)
        mail.profile_ids = False
        self.assertEqual(mail.filing_state, "unfiled")
        self.assertEqual(mail.assignment_ids.mapped("action"), ["assign", "unassign"])
