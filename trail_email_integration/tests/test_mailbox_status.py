from datetime import datetime, timedelta

from odoo import fields
from odoo.addons.trail_email_integration.core.provider import (
    AuthorisationLost,
    MessageError,
    TemporaryError,
)
from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .capture_common import CaptureCase

SYNC_LOGGER = "odoo.addons.trail_email_integration.models.trail_mailbox_sync"
ADDON_MODELS = "odoo.addons.trail_email_integration.models."
# The mailbox's own files, and the one that defines the failure model.
MAILBOX_FILES = ("trail_mailbox", "trail_mail_parts")


@tagged("post_install", "-at_install")
class TestMailboxStatus(CaptureCase):
    def attention_activities(self):
        kind = self.env.ref("trail_email_integration.mail_activity_type_mailbox_attention")
        return self.mailbox.activity_ids.filtered(lambda a: a.activity_type_id == kind)

    def fail_fetch_of(self, provider_id, error="500 broken", gone=False):
        real_fetch = self.provider.fetch

        def fetch(refs):
            return [
                MessageError(error, ref.provider_id, gone=gone)
                if ref.provider_id == provider_id
                else found
                for ref, found in zip(refs, real_fetch(refs), strict=True)
            ]

        self.patch(self.provider, "fetch", fetch)

    # ------------------------------------------------------------------ progress
    def test_progress_rate_and_time_left_of_a_running_backfill(self):
        for days in range(120):
            self.add(f"Message {days}", days_ago=days + 1)
        self.mailbox._run_guarded(self.mailbox._backfill_step, {})
        self.mailbox.backfill_rate_since = fields.Datetime.now() - timedelta(minutes=10)

        self.assertEqual(self.mailbox.backfill_count, 50)
        self.assertEqual(self.mailbox.backfill_total, 120)
        self.assertAlmostEqual(self.mailbox.backfill_progress, 100 * 50 / 120, places=1)
        self.assertAlmostEqual(self.mailbox.backfill_rate, 5.0, places=1)
        # 70 left at 5 a minute.
        self.assertEqual(self.mailbox.backfill_time_left, "about 14 minutes")
        self.assertTrue(self.mailbox.backfill_reached)

        self.run_backfill()
        self.assertEqual(self.mailbox.backfill_progress, 100.0)
        self.assertFalse(self.mailbox.backfill_time_left)

    def test_a_pause_restarts_the_rate_measure(self):
        for days in range(60):
            self.add(f"Message {days}", days_ago=days + 1)
        self.mailbox._run_guarded(self.mailbox._backfill_step, {})
        self.mailbox.action_pause()
        self.assertEqual(self.mailbox.backfill_time_left, "on hold")

        self.mailbox.action_resume()
        self.assertEqual(self.mailbox.state, "backfilling")
        self.assertEqual(self.mailbox.backfill_rate_base, 50)
        self.assertLessEqual(
            fields.Datetime.now() - self.mailbox.backfill_rate_since, timedelta(seconds=5)
        )
        self.assertEqual(self.mailbox.backfill_time_left, "estimating…")

    def test_time_left_after_a_pause_counts_every_message_still_to_import(self):
        for days in range(200):
            self.add(f"Message {days}", days_ago=days + 1)
        pages = {}
        for _step in range(3):
            self.mailbox._run_guarded(self.mailbox._backfill_step, pages)
        self.mailbox.action_pause()
        self.mailbox.action_resume()
        self.mailbox._run_guarded(self.mailbox._backfill_step, pages)
        self.mailbox.backfill_rate_since = fields.Datetime.now() - timedelta(minutes=10)

        self.assertEqual(self.mailbox.state, "backfilling")
        self.assertEqual((self.mailbox.backfill_count, self.mailbox.backfill_total), (200, 200))
        # 50 this run in 10 minutes: 5 a minute, and nothing left to import (not the 150 this
        # run has not done, which read "about 30 minutes").
        self.assertAlmostEqual(self.mailbox.backfill_rate, 5.0, places=1)
        self.assertEqual(self.mailbox.backfill_time_left, "less than a minute")

        # Half-way through a resumed run: what is left of the whole, at this run's rate.
        self.mailbox.write({"backfill_total": 300})
        self.assertEqual(self.mailbox.backfill_time_left, "about 20 minutes")

    def test_duration_in_words(self):
        words = self.mailbox._duration_in_words
        self.assertEqual(words(20), "less than a minute")
        self.assertEqual(words(60), "about a minute")
        self.assertEqual(words(45 * 60), "about 45 minutes")
        self.assertEqual(words(5 * 3600), "about 5 hours")
        self.assertEqual(words(3 * 86400), "about 3 days")

    # ------------------------------------------------------------------ next scan
    def test_next_scan_is_when_the_scan_job_will_look_at_the_mailbox(self):
        now = fields.Datetime.now()
        cron = self.env.ref("trail_email_integration.cron_scan")
        cron.write({"interval_number": 30, "interval_type": "minutes"})
        cron.nextcall = now + timedelta(minutes=10)
        self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]).unlink()
        self.mailbox.write({"state": "active", "retry_after": False})

        def next_run(**values):
            self.mailbox.write(values)
            self.mailbox.invalidate_recordset(["next_scan_run"])
            return self.mailbox.next_scan_run

        # Due before the job's next run: that run scans it.
        self.assertEqual(next_run(next_scan=now + timedelta(minutes=5)), cron.nextcall)
        # Due after it: the job's following run.
        later = cron.nextcall + timedelta(minutes=30)
        self.assertEqual(next_run(next_scan=now + timedelta(minutes=20)), later)
        # The provider asked to wait: not before its retry time.
        self.assertEqual(
            next_run(next_scan=now, retry_after=now + timedelta(minutes=50)),
            cron.nextcall + timedelta(minutes=60),
        )
        # No scan will run: no time at all.
        for state in ("paused", "needs_reconnect", "error", "connecting"):
            self.assertFalse(next_run(state=state, retry_after=False), state)
        cron.active = False
        self.assertFalse(next_run(state="active"))
        cron.active = True

        # Scan now wakes the job at once.
        self.mailbox.action_scan_now()
        self.mailbox.invalidate_recordset(["next_scan_run"])
        self.assertLessEqual(self.mailbox.next_scan_run, fields.Datetime.now())

    # ------------------------------------------------------------------ failures
    def test_failed_message_is_retried_through_the_provider(self):
        self.add("Good")
        bad, _raw = self.add("Quarterly statement", labels=("INBOX", "Label_7"))
        self.fail_fetch_of(bad)
        self.run_backfill()
        failure = self.mailbox.failure_ids
        self.assertEqual(self.mailbox.failed_count, 1)
        self.assertEqual(failure.labels, "INBOX,Label_7")
        self.assertTrue(failure.internal_date)

        self.assertIn("Click Retry", failure.problem)

        # Still failing: the new error is kept on the same failure, and the user is told.
        self.fail_fetch_of(bad, error="500 still broken")
        result = failure.action_retry()
        self.assertEqual(result["params"]["type"], "warning")
        self.assertEqual(result["params"]["message"], "Captured: 0. Still failing: 1.")
        self.assertEqual(len(self.mailbox.failure_ids), 1)
        self.assertEqual(failure.attempts, 2)
        self.assertEqual(failure.error, "500 still broken")
        self.assertFalse(failure.resolved)

        # The provider gives it now: captured once, with its labels, and nothing left to retry.
        self.patch(self.provider, "fetch", type(self.provider).fetch.__get__(self.provider))
        result = failure.action_retry()
        self.assertEqual(result["params"]["type"], "success")
        self.assertTrue(failure.resolved)
        self.assertEqual(failure.resolution, "captured")
        self.assertEqual(self.mailbox.failed_count, 0)
        self.assertIn("Quarterly statement", self.mails().mapped("subject"))
        location = self.mailbox.location_ids.filtered(lambda loc: loc.provider_id == bad)
        self.assertEqual(location.labels, "INBOX,Label_7")

        result = failure.action_retry()
        self.assertEqual(len(self.mails()), 2, "a second retry stores nothing twice")
        self.assertIn("Nothing to retry", result["params"]["message"])

    def test_a_message_gone_from_the_mailbox_is_said_in_words_and_dismissed(self):
        self.add("Kept")
        bad, _raw = self.add("Deleted at Google")
        self.fail_fetch_of(bad, error="messages.get: HTTP 404 (notFound)", gone=True)
        self.run_backfill()
        failure = self.mailbox.failure_ids
        self.assertTrue(failure.gone)
        self.assertEqual(
            failure.problem,
            "This message is no longer in the mailbox (deleted or moved); dismiss it.",
        )
        self.assertEqual(failure.error, "messages.get: HTTP 404 (notFound)")
        self.assertIn("no longer in the mailbox", self.mailbox.advice)
        self.assertNotIn("click Retry", self.mailbox.advice)

        # A retry cannot bring it back, and says so.
        self.box.delete(bad)
        self.patch(self.provider, "fetch", type(self.provider).fetch.__get__(self.provider))
        result = failure.action_retry()
        self.assertEqual(
            result["params"]["message"],
            "Captured: 0. Still failing: 1. "
            "1 of them is no longer in the mailbox (deleted or moved): dismiss it.",
        )
        self.assertTrue(failure.gone)

        # Dismissed: kept on record with who and when, and out of the Failed counter.
        captured = self.mailbox.captured_count
        result = failure.action_dismiss()
        self.assertEqual(result["params"]["type"], "success")
        self.assertIn("dismissed", result["params"]["message"])
        self.assertTrue(failure.exists())
        self.assertTrue(failure.resolved)
        self.assertEqual(failure.resolution, "dismissed")
        self.assertEqual(failure.dismissed_by, self.env.user)
        self.assertTrue(failure.dismissed_on)
        self.assertIn("Dismissed by", failure.problem)
        self.assertEqual(self.mailbox.failed_count, 0)
        self.assertEqual(self.mailbox.captured_count, captured)
        self.assertFalse(self.mailbox.needs_attention)
        self.assertFalse(self.attention_activities())
        self.assertFalse(self.mailbox.advice)

        # Failing again later (a re-listed window) adds the attempt, not a new alarm.
        self.mailbox._record_failure(bad, "messages.get: HTTP 404 (notFound)", gone=True)
        self.assertEqual(failure.resolution, "dismissed")
        self.assertEqual(self.mailbox.failed_count, 0)
        self.assertEqual(failure.attempts, 3)

    def test_mailbox_labels_are_sentences(self):
        # Odoo titles a field's name when it has no string ("Backfill Years"); ours read as
        # sentences, with capitals for names only.
        names = {"Google", "Microsoft", "Odoo", "Gmail", "ID", "Message-ID"}

        def own_fields(model):
            for cls in type(self.env[model]).__mro__:
                module = cls.__module__.rpartition(".")[2]
                if cls.__module__.startswith(ADDON_MODELS) and module.startswith(MAILBOX_FILES):
                    for name, value in vars(cls).items():
                        if isinstance(value, fields.Field) and not value.automatic:
                            yield name

        titled = []
        for model in ("trail.mailbox", "trail.mail.failure", "trail.mailbox.send"):
            for name in set(own_fields(model)):
                label = self.env[model]._fields[name].string
                if any(word[0].isupper() and word not in names for word in label.split()[1:]):
                    titled.append(f"{model}.{name}: {label}")
        self.assertFalse(titled)
        labels = self.env["trail.mailbox"]._fields
        self.assertEqual(labels["backfill_start"].string, "History start")
        self.assertEqual(labels["last_scan"].string, "Last scan")

    def test_failure_labels_say_what_they_show(self):
        labels = {
            name: field.string for name, field in self.env["trail.mail.failure"]._fields.items()
        }
        self.assertEqual(labels["provider_id"], "Message id at the provider")
        self.assertEqual(labels["error"], "Technical details")

    def test_the_owner_retries_from_the_interface(self):
        adviser = self.env["res.users"].create(
            {
                "name": "Ada Adviser",
                "login": "ada.status",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        self.mailbox.user_id = adviser
        bad, _raw = self.add("Signed engagement letter")
        self.fail_fetch_of(bad)
        self.run_backfill()
        self.patch(self.provider, "fetch", type(self.provider).fetch.__get__(self.provider))

        # The card's figures, as the owner reads them (the scan job is read as superuser).
        card = self.mailbox.with_user(adviser).read(["next_scan_run", "advice", "failed_count"])
        self.assertTrue(card[0]["next_scan_run"])
        self.assertIn("click Retry", card[0]["advice"])

        result = self.mailbox.failure_ids.with_user(adviser).action_retry()
        self.assertEqual(result["params"]["message"], "The message was captured.")
        self.assertTrue(self.mailbox.failure_ids.resolved)
        self.assertEqual(self.mails().mapped("subject"), ["Signed engagement letter"])

        other, _raw = self.add("Moved to a shared mailbox")
        self.fail_fetch_of(other, gone=True)
        self.run_scan()
        failure = self.mailbox.failure_ids.filtered(lambda f: f.provider_id == other)
        failure.with_user(adviser).action_dismiss()
        self.assertEqual(failure.dismissed_by, adviser)

    def test_retry_when_the_grant_is_gone_asks_for_a_reconnect(self):
        bad, _raw = self.add("Lost")
        self.fail_fetch_of(bad)
        self.run_backfill()
        self.box.fail("fetch", AuthorisationLost("invalid_grant"))
        self.mailbox.failure_ids.action_retry()
        self.assertEqual(self.mailbox.state, "needs_reconnect")
        self.assertFalse(self.mailbox.failure_ids.resolved)

    def test_retry_of_a_paused_mailbox_is_refused(self):
        bad, _raw = self.add("Paused")
        self.fail_fetch_of(bad)
        self.run_backfill()
        self.mailbox.action_pause()
        with self.assertRaises(UserError):
            self.mailbox.failure_ids.action_retry()

    # ------------------------------------------------------------------ attention
    def test_one_activity_while_the_mailbox_needs_attention(self):
        bad, _raw = self.add("Bad")
        self.fail_fetch_of(bad)
        self.run_backfill()
        self.assertTrue(self.mailbox.needs_attention)
        activity = self.attention_activities()
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.mailbox.user_id)
        self.assertEqual(activity.summary, "Messages could not be captured")
        self.assertEqual(self.env["trail.mailbox"].trail_attention_count(), 1)

        # Worse news updates the same activity; more scans add none.
        self.box.fail("list_changes", AuthorisationLost("invalid_grant"))
        self.run_scan()
        self.run_scan()
        self.assertEqual(self.attention_activities(), activity)
        self.assertEqual(activity.summary, "Reconnect your mailbox")
        self.assertIn("Reconnect", self.mailbox.advice)

        # Healthy again: the activity is done and the badge count drops.
        self.mailbox.write({"state": "active"})
        self.mailbox.failure_ids.resolved = True
        self.assertFalse(self.mailbox.needs_attention)
        self.assertFalse(self.attention_activities())
        self.assertEqual(self.env["trail.mailbox"].trail_attention_count(), 0)

    def test_error_state_advice_says_resume(self):
        self.box.fail("list_window", RuntimeError("disk full"))
        with mute_logger(SYNC_LOGGER):
            self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertEqual(self.mailbox.state, "error")
        self.assertIn("disk full", self.mailbox.advice)
        self.assertIn("Resume", self.mailbox.advice)
        self.assertEqual(self.attention_activities().summary, "Your mailbox stopped on an error")
        self.mailbox.action_resume()
        self.assertFalse(self.attention_activities())
        self.assertFalse(self.mailbox.advice)

    def test_throttling_is_explained_but_needs_nothing(self):
        self.add("One")
        self.box.fail("list_window", TemporaryError("429 slow down", retry_after=120))
        with mute_logger(SYNC_LOGGER):
            self.mailbox._run_guarded(self.mailbox._backfill_step)
        self.assertIn("slow down", self.mailbox.advice)
        self.assertIn("nothing to do", self.mailbox.advice)
        self.assertFalse(self.mailbox.needs_attention)
        self.assertFalse(self.attention_activities())

    def test_a_slow_down_is_said_in_the_readers_time_zone(self):
        adviser = self.env["res.users"].create(
            {
                "name": "Ada Kolkata",
                "login": "ada.kolkata",
                "tz": "Asia/Kolkata",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        self.mailbox.write(
            {
                "user_id": adviser.id,
                "state": "active",
                "last_error": "429 slow down",
                # 16:43:22 UTC is 22:13 in Kolkata (UTC+5:30).
                "retry_after": datetime(2099, 12, 4, 16, 43, 22),
            }
        )

        def card(mailbox):
            mailbox.invalidate_recordset(["state_message", "advice"])
            return mailbox.read(["state_message", "advice"])[0]

        # Babel may put a narrow no-break space before PM: \s matches it.
        mine = card(self.mailbox.with_user(adviser))
        self.assertRegex(
            mine["state_message"],
            r"^The provider asked us to slow down; retrying at 12/4/99, 10:13\sPM\.$",
        )
        self.assertNotIn("16:43", mine["state_message"])
        self.assertRegex(mine["advice"], r"Capture goes on by itself after 10:13\sPM;")
        # The web client's time zone, when it gives one, comes first, as for the advice.
        london = card(self.mailbox.with_user(adviser).with_context(tz="Europe/London"))
        self.assertRegex(london["state_message"], r"retrying at 12/4/99, 4:43\sPM\.$")
        self.assertRegex(london["advice"], r"after 4:43\sPM;")

    # ------------------------------------------------------------------ buttons
    def test_reconnect_runs_the_providers_connect_action(self):
        calls = []
        for provider in ("google", "microsoft"):
            self.patch(
                type(self.mailbox),
                f"action_connect_{provider}",
                lambda mailbox, p=provider: calls.append((p, mailbox.id)) or {"tag": p},
            )
        self.assertEqual(self.mailbox.action_reconnect(), {"tag": "google"})
        self.mailbox.provider = "microsoft"
        self.assertEqual(self.mailbox.action_reconnect(), {"tag": "microsoft"})
        self.assertEqual(calls, [("google", self.mailbox.id), ("microsoft", self.mailbox.id)])

    def test_preferences_offer_reconnect_for_a_connected_provider(self):
        adviser = self.env["res.users"].create(
            {
                "name": "Ada Preferences",
                "login": "ada.preferences",
                "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        self.assertFalse(adviser.trail_has_google_mailbox)
        mailbox = self.env["trail.mailbox"].create({"provider": "google", "user_id": adviser.id})
        self.assertFalse(adviser.trail_has_google_mailbox, "a first sign-in not yet completed")
        mailbox.state = "active"
        self.assertTrue(adviser.trail_has_google_mailbox)
        self.assertFalse(adviser.trail_has_microsoft_mailbox)
        # The preferences form reads them as the user.
        values = adviser.with_user(adviser).read(
            ["trail_has_google_mailbox", "trail_has_microsoft_mailbox"]
        )[0]
        self.assertEqual(
            (values["trail_has_google_mailbox"], values["trail_has_microsoft_mailbox"]),
            (True, False),
        )

    def test_my_mailbox_action_and_menu(self):
        action = self.env.ref("trail_email_integration.action_my_mailbox")
        self.assertEqual(action.view_mode, "kanban,form")
        menu = self.env.ref("trail_email_integration.menu_my_mailbox")
        self.assertEqual(menu.parent_id, self.env.ref("trail_email_integration.menu_root"))
        failures = self.mailbox.action_open_failures()
        self.assertEqual(failures["res_model"], "trail.mail.failure")
        # The web client maps over "views"; without them the card's button crashed.
        self.assertEqual(failures["views"], [(False, "list"), (False, "form")])
