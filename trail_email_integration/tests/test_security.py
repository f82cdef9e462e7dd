"""Who may see what: unfiled mail, its files, share levels, tokens and settings secrets.

Checked through the ORM and through HTTP as the web client does it (JSON-RPC ``call_kw`` and
``/web/content``), for a colleague and for a portal user.
"""

import json
import logging
from contextlib import contextmanager
from urllib.parse import urlencode

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, HttpCase, TransactionCase, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from .google_common import GoogleCase
from .microsoft_common import ADA as ADA_MS
from .microsoft_common import CLIENT_SECRET as MS_CLIENT_SECRET
from .microsoft_common import MicrosoftCase
from .security_common import PDF, AccessFixture

MAIL_FIELDS = ["subject", "body_text", "body_html", "email_from", "attachment_ids", "original_id"]


@tagged("post_install", "-at_install")
class TestMailAccess(AccessFixture, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_access()

    def as_user(self, user, model="trail.mail"):
        return self.env[model].with_user(user)

    def test_owner_sees_own_unfiled_mail_and_its_files(self):
        mails = self.as_user(self.ada).search([])
        self.assertIn(self.unfiled, mails)
        self.assertIn(self.filed, mails)
        mail = self.unfiled.with_user(self.ada)
        self.assertIn("Unfiled private body", mail.body_text)
        self.assertEqual(mail.attachment_ids.with_user(self.ada).raw, PDF)
        self.assertTrue(mail.original_id.with_user(self.ada).raw.startswith(b"From:"))

    def test_colleague_is_denied_unfiled_mail_and_its_files(self):
        Mail = self.as_user(self.bob)
        self.assertNotIn(self.unfiled, Mail.search([]))
        self.assertEqual(Mail.search_count([("id", "=", self.unfiled.id)]), 0)
        with self.assertRaises(AccessError):
            self.unfiled.with_user(self.bob).read(["subject"])
        with self.assertRaises(AccessError):
            Mail.browse(self.unfiled.id).export_data(["subject"])
        for attachment in self.unfiled_files:
            with self.assertRaises(AccessError):
                attachment.with_user(self.bob).read(["raw", "datas"])
        Attachment = self.as_user(self.bob, "ir.attachment")
        found = Attachment.search([("res_model", "=", "trail.mail")])
        self.assertFalse(found & self.unfiled_files)
        # The records around the email follow it.
        for model in ("trail.mail.participant", "trail.mail.location"):
            records = self.as_user(self.bob, model).search([("mail_id", "=", self.unfiled.id)])
            self.assertFalse(records, model)

    def test_other_files_are_found_as_before_and_pages_stay_full(self):
        Attachment = self.env["ir.attachment"]
        loose = Attachment.with_user(self.bob).create({"name": "page-loose.txt", "raw": b"x"})
        on_partner = Attachment.create(
            {
                "name": "page-partner.txt",
                "raw": b"y",
                "res_model": "res.partner",
                "res_id": self.bob.partner_id.id,
            }
        )
        # Files Bob may not see sort first (Ada's unfiled mail, and filed mail she shares
        # without its content): a page of one must still bring him a file he may see.
        self.unfiled_files[:1].sudo().name = "page-0-private.pdf"
        self.filed_files[:1].sudo().name = "page-1-restricted.pdf"
        self.mailbox.share_level = "subject"
        found = Attachment.with_user(self.bob).search([("name", "like", "page-")], order="name")
        self.assertEqual(found, on_partner | loose)
        first = Attachment.with_user(self.bob).search(
            [("name", "like", "page-")], order="name", limit=1
        )
        self.assertEqual(first, loose)
        self.assertEqual(
            Attachment.with_user(self.ada).search([("name", "like", "page-")], order="name"),
            self.unfiled_files[:1] | self.filed_files[:1] | on_partner,
        )

    def test_portal_user_is_denied_everything(self):
        for model in ("trail.mail", "trail.mailbox", "trail.mail.participant"):
            with self.assertRaises(AccessError):
                self.as_user(self.portal, model).search([])
        for attachment in self.unfiled_files | self.filed_files:
            with self.assertRaises(AccessError):
                attachment.with_user(self.portal).read(["raw"])

    def test_colleague_sees_filed_mail_in_full_by_default(self):
        mail = self.filed.with_user(self.bob)
        self.assertIn(self.filed, self.as_user(self.bob).search([]))
        self.assertIn("Filed body text", mail.read(["body_text"])[0]["body_text"])
        self.assertEqual(mail.attachment_ids.with_user(self.bob).raw, PDF + b" filed")

    def test_share_level_subject_hides_the_content(self):
        self.mailbox.share_level = "subject"
        mail = self.filed.with_user(self.bob)
        values = mail.read(MAIL_FIELDS + ["headers_text", "snippet", "attachment_count"])[0]
        self.assertEqual(values["subject"], "Filed client question")
        self.assertIn("filed.client@example.com", values["email_from"])
        fields = ("body_text", "body_html", "headers_text", "snippet", "original_id")
        for name in (*fields, "attachment_count"):
            self.assertFalse(values[name], name)
        # Not even how many files it has, by reading or by searching.
        self.assertTrue(self.filed.attachment_count)
        self.assertNotIn(mail, mail.search([("attachment_count", ">", 0)]))
        self.assertEqual(values["attachment_ids"], [])
        for attachment in self.filed_files:
            with self.assertRaises(AccessError):
                attachment.with_user(self.bob).read(["raw"])
        self.assertTrue(mail.content_hidden)
        self.assertFalse(self.filed.with_user(self.ada).content_hidden)
        with self.assertRaises(AccessError):
            mail.export_data(["subject", "body_text"])
        self.assertEqual(mail.export_data(["subject"])["datas"], [["Filed client question"]])
        # The owner still sees everything.
        own = self.filed.with_user(self.ada).read(["body_text"])[0]
        self.assertIn("Filed body text", own["body_text"])

    def test_searching_and_grouping_cannot_reveal_hidden_fields(self):
        Mail = self.as_user(self.bob)
        by_subject = [("subject", "ilike", "Filed client")]
        by_body = [("body_text", "ilike", "Filed body")]
        self.assertEqual(Mail.search(by_subject), self.filed)
        self.assertEqual(Mail.search(by_body), self.filed)

        self.mailbox.share_level = "subject"
        self.assertEqual(Mail.search(by_subject), self.filed)
        self.assertFalse(Mail.search(by_body))
        # A negated condition answers the same whatever the body says.
        self.assertEqual(
            Mail.search(["!", ("body_text", "ilike", "Filed body")]),
            Mail.search(["!", ("body_text", "ilike", "not in the body")]),
        )
        self.assertFalse(Mail.search([("attachment_ids.name", "=", "filed.pdf")]))

        self.mailbox.share_level = "metadata"
        self.assertFalse(Mail.search(by_subject))
        self.assertFalse(Mail.name_search("Filed client"))
        self.assertEqual(Mail.search([("profile_ids", "in", self.profile.ids)]), self.filed)
        groups = Mail.read_group([], ["subject"], ["subject"])
        self.assertNotIn("Filed client question", [g["subject"] for g in groups])
        self.assertEqual(Mail.search_count([]), 1)
        # The owner keeps searching and grouping everything.
        Own = self.as_user(self.ada)
        self.assertEqual(Own.search(by_body), self.filed)
        groups = Own.read_group([], ["subject"], ["subject"])
        self.assertIn("Filed client question", [g["subject"] for g in groups])

    def test_the_web_client_reads_a_shared_email_without_its_content(self):
        self.mailbox.share_level = "subject"
        spec = {
            "subject": {},
            "body_html_view": {},
            "display_name": {},
            "attachment_ids": {"fields": {"name": {}, "mimetype": {}}},
            "original_id": {"fields": {"display_name": {}}},
            "location_ids": {"fields": {"mailbox_id": {"fields": {"display_name": {}}}}},
            "profile_ids": {"fields": {"display_name": {}}},
        }
        mails = (self.filed | self.unfiled).with_user(self.ada)
        own = {values["id"]: values for values in mails.web_read(spec)}
        self.assertEqual(len(own[self.filed.id]["attachment_ids"]), 1)
        values = self.filed.with_user(self.bob).web_read(spec)[0]
        self.assertEqual(values["subject"], "Filed client question")
        self.assertEqual(values["attachment_ids"], [])
        self.assertFalse(values["original_id"])
        self.assertFalse(values["body_html_view"])
        self.assertEqual(values["profile_ids"][0]["id"], self.profile.id)
        self.assertEqual(
            values["location_ids"][0]["mailbox_id"]["display_name"], self.mailbox.address
        )
        found = self.env["trail.mail"].with_user(self.bob).web_search_read([], spec)
        self.assertEqual([row["id"] for row in found["records"]], self.filed.ids)
        self.assertEqual(found["records"][0]["attachment_ids"], [])

    def test_share_level_metadata_hides_the_subject_too(self):
        self.mailbox.share_level = "metadata"
        mail = self.filed.with_user(self.bob)
        values = mail.read(["subject", "display_name", "date", "profile_ids"])[0]
        self.assertFalse(values["subject"])
        self.assertEqual(values["display_name"], "Restricted email")
        self.assertEqual(values["profile_ids"], self.profile.ids)
        self.assertTrue(values["date"])
        self.assertEqual(mail.display_name, "Restricted email")
        self.assertEqual(self.filed.with_user(self.ada).display_name, "Filed client question")

    def test_administrator_needs_the_setting_for_unfiled_mail(self):
        Mail = self.as_user(self.admin)
        self.assertNotIn(self.unfiled, Mail.search([]))
        with self.assertRaises(AccessError):
            self.unfiled.with_user(self.admin).read(["subject"])
        # The administrator still sees every mailbox, its state and its counters.
        mailbox = self.mailbox.with_user(self.admin)
        self.assertEqual(mailbox.read(["captured_count"])[0]["captured_count"], 2)

        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        settings.group_trail_all_mail = True
        settings.execute()
        self.assertTrue(self.admin.has_group("trail_email_integration.group_trail_all_mail"))
        self.assertIn(self.unfiled, Mail.search([]))
        self.assertEqual(self.unfiled.with_user(self.admin).attachment_ids.raw, PDF)
        # Plain users are not given it.
        self.assertNotIn(self.unfiled, self.as_user(self.bob).search([]))
        # Turned off again, the administrators lose it.
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        settings.group_trail_all_mail = False
        settings.execute()
        self.assertNotIn(self.unfiled, Mail.search([]))

    def test_filing_by_a_colleague_reaches_mail_they_cannot_see(self):
        """A link set by Bob files Ada's unfiled mail; capture and filing ignore the rules."""
        doctor = self.env["res.partner"].create({"name": "Doctor"})
        address = (
            self.env["trail.email.address"]
            .with_user(self.bob)
            .create({"partner_id": doctor.id, "email": "doctor@clinic.example", "linked": False})
        )
        self.env["trail.profile.member"].create(
            {"profile_id": self.profile.id, "contact_id": doctor.id, "role": "participant"}
        )
        address.with_user(self.bob).linked = True
        self.unfiled.invalidate_recordset()
        self.assertEqual(self.unfiled.filing_state, "filed")
        self.assertIn(self.unfiled, self.as_user(self.bob).search([]))

    def test_filing_by_hand_cannot_reach_someone_elses_unfiled_mail(self):
        Assignment = self.as_user(self.bob, "trail.mail.assignment")
        values = {"mail_id": self.unfiled.id, "profile_id": self.profile.id, "action": "assign"}
        with self.assertRaises(AccessError):
            Assignment.create(values)
        with self.assertRaises(AccessError):
            self.unfiled.with_user(self.bob).action_assign_profile(self.profile.ids)
        self.assertEqual(self.unfiled.filing_state, "unfiled")
        # The owner files it; then Bob may take it out of the profile again.
        self.unfiled.with_user(self.ada).action_assign_profile(self.profile.ids)
        self.assertEqual(self.unfiled.filing_state, "filed")
        self.unfiled.with_user(self.bob).action_unassign_profile(self.profile.ids)
        self.assertEqual(self.unfiled.filing_state, "unfiled")

    def test_captured_content_cannot_be_rewritten(self):
        planted = {"body_html": '<img src="x" onerror="alert(1)">'}
        for user, mail in ((self.bob, self.filed), (self.ada, self.unfiled)):
            for values in (planted, {"subject": "changed"}, {"email_from": "x@y.example"}):
                with self.assertRaises(AccessError):
                    mail.with_user(user).write(values)
        self.filed.with_user(self.bob).write({"show_remote_content": True})
        self.filed.with_user(self.bob).profile_ids = False
        self.assertEqual(self.filed.filing_state, "unfiled")
        self.assertEqual(self.filed.assignment_ids.sorted("id")[-1].user_id, self.bob)
        self.assertNotIn("onerror", str(self.filed.body_html))

    def test_nobody_but_the_engine_changes_or_deletes_the_files(self):
        for user in (self.ada, self.bob):
            with self.assertRaises(AccessError):
                self.filed.original_id.with_user(user).unlink()
            with self.assertRaises(AccessError):
                self.filed.attachment_ids.with_user(user).write({"raw": b"changed"})

    def test_mail_follows_the_company_of_its_mailbox(self):
        other = self.env["res.company"].create({"name": "Other Firm"})
        self.mailbox.company_id = other
        self.ada.write({"company_ids": [(4, other.id)]})
        # Bob is not in the other company: the filed mail is out of his reach too.
        self.assertFalse(self.as_user(self.bob).search([]) & (self.filed | self.unfiled))
        with self.assertRaises(AccessError):
            self.filed.with_user(self.bob).read(["subject"])
        # Ada sees it only while the other company is among her selected companies.
        main_only = {"allowed_company_ids": [self.ada.company_id.id]}
        Mail = self.as_user(self.ada).with_context(**main_only)
        self.assertFalse(Mail.search([]) & self.filed)
        self.assertFalse(
            self.as_user(self.ada, "trail.mailbox").with_context(**main_only).search([])
        )
        both = Mail.with_context(allowed_company_ids=[self.ada.company_id.id, other.id])
        self.assertIn(self.filed, both.search([]))

    def test_records_around_the_mail_follow_its_company(self):
        other = self.env["res.company"].create({"name": "Other Firm"})
        self.mailbox.company_id = other
        mails = self.filed | self.unfiled
        # Bob may not reach who wrote the emails, where they lie, or what failed to come.
        around = {
            "trail.mail.participant": [("mail_id", "in", mails.ids)],
            "trail.mail.location": [("mailbox_id", "=", self.mailbox.id)],
            "trail.mail.failure": [("mailbox_id", "=", self.mailbox.id)],
            "trail.mail.skipped": [("mailbox_id", "=", self.mailbox.id)],
        }
        for model, domain in around.items():
            self.assertFalse(self.as_user(self.bob, model).search(domain), model)
        participants = self.env["trail.mail.participant"].search(around["trail.mail.participant"])
        self.assertTrue(participants)
        with self.assertRaises(AccessError):
            participants.with_user(self.bob).read(["email"])

    def test_owner_changes_only_what_colleagues_see_and_the_history_window(self):
        mailbox = self.mailbox.with_user(self.ada)
        mailbox.write({"share_level": "subject", "backfill_years": 5})
        self.assertEqual(self.mailbox.share_level, "subject")
        # Which address is read, whose the mailbox is and how far the engine got are not the
        # owner's to change: with an organisation's credential the address alone would open
        # any colleague's mailbox.
        for values in (
            {"address": "ceo@firm.example"},
            {"aliases": "lab@results.clinic.example"},
            {"user_id": self.bob.id},
            {"state": "backfilling", "cursor": False, "backfill_done": False},
            {"company_id": self.env["res.company"].create({"name": "Elsewhere"}).id},
            {"owner_type": "company"},
            {"active": False},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                mailbox.write(values)
        self.assertEqual(self.mailbox.address, "ada@firm.example")
        self.assertEqual(self.mailbox.user_id, self.ada)

    def test_owner_creates_only_a_personal_mailbox_of_their_own(self):
        Mailbox = self.as_user(self.bob, "trail.mailbox")
        own = Mailbox.create({"provider": "google", "owner_type": "personal"})
        self.assertEqual((own.user_id, own.state), (self.bob, "connecting"))
        for values in (
            {"provider": "google", "user_id": self.ada.id},
            {"provider": "google", "owner_type": "company"},
            {"provider": "google", "state": "backfilling"},
            {"provider": "google", "google_refresh_token": "1//planted"},
        ):
            with self.subTest(values=values), self.assertRaises(AccessError):
                Mailbox.create(values)

    def test_owner_buttons_act_on_the_engines_fields(self):
        mailbox = self.mailbox.with_user(self.ada)
        mailbox.action_pause()
        self.assertEqual(self.mailbox.state, "paused")
        mailbox.action_resume()
        self.assertEqual(
            self.mailbox.state, "active" if self.mailbox.backfill_done else "backfilling"
        )
        mailbox.action_scan_now()
        self.assertTrue(self.mailbox.next_scan)
        # Not on someone else's mailbox.
        with self.assertRaises(AccessError):
            self.mailbox.with_user(self.bob).action_pause()

    def test_company_managed_mailboxes_are_paused_by_administrators(self):
        self.mailbox.owner_type = "company"
        with self.assertRaises(UserError):
            self.mailbox.with_user(self.ada).action_pause()
        self.ada.write(
            {"groups_id": [(4, self.env.ref("trail_email_integration.group_trail_admin").id)]}
        )
        self.mailbox.with_user(self.ada).action_pause()
        self.assertEqual(self.mailbox.state, "paused")

    def test_owner_keeps_seeing_the_mail_of_an_archived_mailbox(self):
        self.mailbox.active = False
        self.assertIn(self.unfiled, self.as_user(self.ada).search([]))
        self.assertNotIn(self.unfiled, self.as_user(self.bob).search([]))

    def test_mailboxes_are_private_to_their_owner(self):
        self.assertFalse(self.as_user(self.bob, "trail.mailbox").search([]))
        with self.assertRaises(AccessError):
            self.mailbox.with_user(self.bob).read(["address"])
        self.assertEqual(self.as_user(self.ada, "trail.mailbox").search([]), self.mailbox)

    def test_tokens_are_readable_by_nobody_but_system_administrators(self):
        for user in (self.ada, self.bob):
            for name in ("google_refresh_token", "google_access_token", "microsoft_token_cache"):
                with self.assertRaises(AccessError):
                    self.mailbox.with_user(user).read([name])
        fields = self.env["trail.mailbox"].with_user(self.ada).fields_get()
        self.assertNotIn("google_refresh_token", fields)
        # Not even administrators export them.
        admin_fields = self.env["trail.mailbox"].with_user(self.admin).fields_get()
        self.assertFalse(admin_fields["google_refresh_token"]["exportable"])
        with self.assertRaises(AccessError):
            self.mailbox.with_user(self.admin).export_data(["address", "google_refresh_token"])

    def test_settings_secrets_are_never_shown_back(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("trail_email_integration.google_client_secret", "GOCSPX-very-secret-1234")
        settings = self.env["res.config.settings"].with_user(self.admin).create({})
        values = settings.read(["trail_google_client_secret", "trail_google_client_secret_hint"])
        self.assertFalse(values[0]["trail_google_client_secret"])
        self.assertEqual(values[0]["trail_google_client_secret_hint"], "Set, ending in …1234")
        self.assertNotIn("very-secret", json.dumps(values))

        # An empty field keeps the stored secret; a typed one replaces it.
        settings.execute()
        self.assertEqual(
            params.get_param("trail_email_integration.google_client_secret"),
            "GOCSPX-very-secret-1234",
        )
        settings = (
            self.env["res.config.settings"]
            .with_user(self.admin)
            .create({"trail_google_client_secret": "GOCSPX-new-secret-9876"})
        )
        settings.execute()
        self.assertEqual(
            params.get_param("trail_email_integration.google_client_secret"),
            "GOCSPX-new-secret-9876",
        )
        settings.action_trail_clear_google_secret()
        self.assertFalse(params.get_param("trail_email_integration.google_client_secret"))

        for user in (self.ada, self.bob):
            with self.assertRaises(AccessError):
                self.env["ir.config_parameter"].with_user(user).search([])
            with self.assertRaises(AccessError):
                self.env["res.config.settings"].with_user(user).create({})

    def test_microsoft_certificate_replaces_the_client_secret(self):
        settings = self.env["res.config.settings"].create(
            {
                "trail_microsoft_client_id": "app-id",
                "trail_microsoft_client_secret": "ms-secret-value-0001",
                "trail_microsoft_tenant": "contoso.example",
            }
        )
        settings.execute()
        Mailbox = self.env["trail.mailbox"]
        self.assertEqual(Mailbox._microsoft_client(), ("app-id", "ms-secret-value-0001"))
        self.assertEqual(Mailbox._microsoft_tenant(), "contoso.example")
        key = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----"
        settings = self.env["res.config.settings"].create(
            {
                "trail_microsoft_certificate_thumbprint": "AB12CD34",
                "trail_microsoft_certificate_key": key,
            }
        )
        settings.execute()
        self.assertEqual(
            Mailbox._microsoft_client(),
            ("app-id", {"private_key": key, "thumbprint": "AB12CD34"}),
        )
        hint = self.env["res.config.settings"].create({}).trail_microsoft_certificate_key_hint
        self.assertEqual(hint, "Set")

    def test_sync_settings_default_to_thirty_minutes_and_seven_years(self):
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.trail_scan_interval_minutes, 30)
        self.assertEqual(settings.trail_backfill_years, 7)
        cron = self.env.ref("trail_email_integration.cron_scan")
        self.assertEqual((cron.interval_number, cron.interval_type), (30, "minutes"))
        mailbox = self.env["trail.mailbox"].create({"provider": "google", "address": "d@x.ex"})
        self.assertEqual(mailbox.backfill_years, 7)

    def test_sync_settings_drive_the_cron_and_new_mailboxes(self):
        settings = self.env["res.config.settings"].create(
            {"trail_scan_interval_minutes": 45, "trail_backfill_years": 3}
        )
        settings.execute()
        cron = self.env.ref("trail_email_integration.cron_scan")
        self.assertEqual((cron.interval_number, cron.interval_type), (45, "minutes"))
        self.assertEqual(self.env["trail.mailbox"]._scan_interval().minutes, 45)
        mailbox = self.env["trail.mailbox"].create({"provider": "google", "address": "n@x.ex"})
        self.assertEqual(mailbox.backfill_years, 3)
        Settings = self.env["res.config.settings"]
        with self.assertRaisesRegex(ValidationError, "must be at least one minute"):
            Settings.create({"trail_scan_interval_minutes": 0})

    def test_settings_show_the_redirect_uris_to_register(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("web.base.url", "https://odoo.firm.example/")
        form = Form(self.env["res.config.settings"].with_user(self.admin))
        self.assertEqual(
            form.trail_google_redirect_uri, "https://odoo.firm.example/trail_email/google/callback"
        )
        self.assertEqual(
            form.trail_microsoft_redirect_uri,
            "https://odoo.firm.example/trail_email/microsoft/callback",
        )
        # The same addresses the sign-in sends to the providers.
        Mailbox = self.env["trail.mailbox"]
        self.assertEqual(form.trail_google_redirect_uri, Mailbox._google_redirect_uri())
        self.assertEqual(form.trail_microsoft_redirect_uri, Mailbox._microsoft_redirect_uri())

    def test_history_to_import_outside_one_to_thirty_years_is_refused(self):
        Settings = self.env["res.config.settings"]
        # 0 used to be stored as "no value", so the next screen showed 7 again, and said nothing.
        for years in (0, -1, 31, 150):
            with self.assertRaisesRegex(
                ValidationError, "must be between 1 and 30 years", msg=years
            ):
                Settings.create({"trail_backfill_years": years})
        for years in (1, 30):
            Settings.create({"trail_backfill_years": years}).execute()
            self.assertEqual(Settings.create({}).trail_backfill_years, years)
        # A mailbox's own window keeps to the same range.
        for years in (0, 31):
            with self.assertRaisesRegex(ValidationError, "must be between 1 and 30 years"):
                self.mailbox.backfill_years = years
        self.mailbox.backfill_years = 10

    def test_settings_screen_shows_how_organisation_connections_stand(self):
        Connection = self.env["trail.org.connection"]
        Connection.create({"name": "Quiet", "provider": "microsoft", "domains": "quiet.example"})
        Connection.create({"name": "Firm", "provider": "google", "domains": "firm.example"}).write(
            {
                "state": "consent_missing",
                "status_message": "Domain-wide delegation is missing for these scopes: x.send.",
                "missing_scopes": "https://www.googleapis.com/auth/gmail.send",
            }
        )
        Connection.create(
            {"name": "Tenant", "provider": "microsoft", "domains": "t.example"}
        ).write(
            {"state": "error", "status_message": "Microsoft does not know the tenant t.example."}
        )
        # The screen opens on a new settings record, as the browser does (onchange, no save).
        status = Form(self.env["res.config.settings"].with_user(self.admin)).trail_org_status
        lines = status.splitlines()
        self.assertIn("Firm: Consent missing. Missing: gmail.send.", lines)
        self.assertIn("Domain-wide delegation is missing for these scopes: x.send.", lines)
        self.assertIn("Quiet: Not checked. Check access on the connection.", lines)
        self.assertIn("Tenant: Error.", lines)
        self.assertIn("Microsoft does not know the tenant t.example.", lines)
        saved = self.env["res.config.settings"].with_user(self.admin).create({})
        self.assertEqual(saved.trail_org_status, status)
        self.assertEqual(saved.trail_org_connection_count, 3)


@tagged("post_install", "-at_install")
class TestMailAccessHttp(AccessFixture, HttpCase):
    """The same denials through the routes the web client uses."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_access()

    def call_kw(self, model, method, args, kwargs=None):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": args, "kwargs": kwargs or {}},
        )

    def assert_denied(self, model, method, args, kwargs=None):
        with mute_logger("odoo.http"), self.assertRaises(JsonRpcException) as caught:
            self.call_kw(model, method, args, kwargs)
        self.assertIn("AccessError", str(caught.exception))

    def assert_no_content(self, attachment):
        with mute_logger("odoo.http"):
            response = self.url_open(f"/web/content/{attachment.id}?download=true")
        self.assertIn(response.status_code, (403, 404))
        self.assertNotIn(b"private statement", response.content)
        self.assertNotIn(b"Unfiled private body", response.content)

    def test_colleague_over_json_rpc_and_web_content(self):
        self.authenticate("bob", "bob")
        found = self.call_kw("trail.mail", "search_read", [[]], {"fields": ["subject"]})
        self.assertNotIn(self.unfiled.id, [row["id"] for row in found])
        self.assertIn(self.filed.id, [row["id"] for row in found])
        self.assert_denied("trail.mail", "read", [[self.unfiled.id], ["subject", "body_text"]])
        self.assert_denied("trail.mail", "export_data", [[self.unfiled.id], ["subject"]])
        self.assert_denied(
            "trail.mail",
            "web_read",
            [[self.unfiled.id]],
            {"specification": {"subject": {}, "attachment_ids": {"fields": {"name": {}}}}},
        )
        self.assert_denied("ir.attachment", "read", [self.unfiled_files.ids, ["raw", "datas"]])
        self.assert_denied("ir.attachment", "export_data", [self.unfiled_files.ids, ["datas"]])
        rows = self.call_kw(
            "ir.attachment", "search_read", [[("res_model", "=", "trail.mail")]], {"fields": ["id"]}
        )
        self.assertFalse({row["id"] for row in rows} & set(self.unfiled_files.ids))
        for attachment in self.unfiled_files:
            self.assert_no_content(attachment)
        # Tokens, through the mailbox and through the system parameters.
        self.assert_denied("trail.mailbox", "read", [[self.mailbox.id], ["google_refresh_token"]])
        self.assert_denied(
            "ir.config_parameter",
            "search_read",
            [[("key", "like", "trail_email_integration.")]],
            {"fields": ["value"]},
        )
        self.assert_denied("res.config.settings", "search_read", [[]], {"fields": ["id"]})

    def test_owner_downloads_their_own_files(self):
        self.authenticate("ada", "ada")
        response = self.url_open(f"/web/content/{self.unfiled.attachment_ids.id}?download=true")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.content, PDF)
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        self.assertIn("attachment", response.headers["Content-Disposition"])
        response = self.url_open(f"/web/content/{self.unfiled.original_id.id}?download=true")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "message/rfc822")
        self.assertIn(b"Unfiled private body", response.content)

    def test_active_files_are_downloads_that_cannot_run(self):
        page = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": "invoice.html",
                    "raw": b"<script>alert(document.cookie)</script>",
                    "mimetype": "text/html",
                    "res_model": "trail.mail",
                    "res_id": self.unfiled.id,
                }
            )
        )
        self.assertEqual(page.mimetype, "text/html")
        self.authenticate("ada", "ada")
        response = self.url_open(f"/web/content/{page.id}")
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.headers["Content-Type"].startswith("text/html"))
        self.assertTrue(response.headers["Content-Disposition"].startswith("attachment"))
        self.assertEqual(response.headers["Content-Security-Policy"], "default-src 'none'")
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")

    def test_portal_user_over_json_rpc_and_web_content(self):
        self.authenticate("portal_pat", "portal_pat")
        self.assert_denied("trail.mail", "search_read", [[]], {"fields": ["subject"]})
        self.assert_denied("trail.mail", "read", [[self.filed.id], ["subject"]])
        self.assert_denied("ir.attachment", "read", [self.filed_files.ids, ["raw"]])
        for attachment in self.unfiled_files | self.filed_files:
            self.assert_no_content(attachment)

    def test_colleague_opens_an_email_shared_without_its_content(self):
        self.mailbox.share_level = "subject"
        self.start_tour(
            "/odoo/action-trail_email_integration.action_mailbox_page",
            "trail_shared_email",
            login="bob",
        )

    def test_oauth_callback_for_someone_elses_mailbox_is_refused(self):
        """A state issued to Ada, or one Bob signs for Ada's mailbox, is refused for Bob."""
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("trail_email_integration.google_client_id", "id")
        params.set_param("trail_email_integration.google_client_secret", "secret")
        adas_state = self.mailbox.with_user(self.ada)._google_state()
        bobs_state = self.mailbox.with_user(self.bob)._google_state()
        ms_state = self.mailbox.with_user(self.bob)._microsoft_state()
        self.authenticate("bob", "bob")
        for path, state, message in (
            ("/trail_email/google/callback", adas_state, b"started by another user"),
            ("/trail_email/google/callback", bobs_state, b"belongs to another user"),
            ("/trail_email/microsoft/callback", ms_state, b"belongs to another user"),
            ("/trail_email/google/callback", "forged", b"invalid"),
        ):
            with mute_logger("odoo.http"):
                response = self.url_open(f"{path}?{urlencode({'state': state, 'code': 'x'})}")
            self.assertEqual(response.status_code, 403, path)
            self.assertIn(message, response.content)
        self.mailbox.invalidate_recordset()
        self.assertEqual(self.mailbox.sudo().google_refresh_token, "1//ada-refresh-token")

        # A mailbox deleted while its owner was at the consent screen: a page that says so.
        bobs_own = (
            self.env["trail.mailbox"].sudo().create({"provider": "google", "user_id": self.bob.id})
        )
        states = {
            "google": bobs_own.with_user(self.bob)._google_state(),
            "microsoft": bobs_own.with_user(self.bob)._microsoft_state(),
        }
        bobs_own.unlink()
        for provider, state in states.items():
            response = self.url_open(
                f"/trail_email/{provider}/callback?{urlencode({'state': state, 'code': 'x'})}"
            )
            self.assertEqual(response.status_code, 404, provider)
            self.assertIn(b"This mailbox no longer exists.", response.content)


@tagged("post_install", "-at_install")
class TestTokensAreNotLogged(GoogleCase):
    def test_no_token_in_the_log_through_sync_refresh_and_revocation(self):
        self.emulator.add_message(
            "ada.adviser@firm.example",
            b"From: c@example.com\r\nTo: ada.adviser@firm.example\r\nSubject: s\r\n\r\nbody",
            ("INBOX",),
        )
        mailbox = self.connected_mailbox()
        refresh = mailbox.google_refresh_token
        # Every logger, libraries included (googleapiclient, google-auth, urllib3), to DEBUG.
        with every_log_line(self) as logs:
            self.run_backfill(mailbox)
            self.emulator.expire_tokens()
            self.run_scan(mailbox)
            self.emulator.revoke(refresh)
            self.emulator.expire_tokens()
            self.run_scan(mailbox)
        self.assertEqual(mailbox.state, "needs_reconnect")
        secrets = {refresh, mailbox.google_access_token, "trail-test-secret"} - {False, None}
        assert_never_logged(self, logs, secrets)


@contextmanager
def every_log_line(case):
    """Capture every logger down to DEBUG, but for Odoo's own SQL log (``--log-sql``): when an
    administrator turns that on, it prints every value written to the database, tokens included,
    by design."""
    sql_log = logging.getLogger("odoo.sql_db")
    level = sql_log.level
    sql_log.setLevel(logging.INFO)
    case.addCleanup(sql_log.setLevel, level)
    with case.assertLogs(level="DEBUG") as logs:
        logging.getLogger().debug("start")
        yield logs


def assert_never_logged(case, logs, secrets):
    for line in logs.output:
        for secret in secrets:
            case.assertNotIn(secret, line)


def token_cache_secrets(serialized):
    """The access and refresh token strings of an msal token cache."""
    cache = json.loads(serialized or "{}")
    return {
        entry["secret"]
        for kind in ("AccessToken", "RefreshToken")
        for entry in cache.get(kind, {}).values()
    }


@tagged("post_install", "-at_install")
class TestMicrosoftTokensAreNotLogged(MicrosoftCase):
    def test_no_token_or_secret_in_any_log_through_sync_refresh_and_revocation(self):
        self.emulator.add_message(
            ADA_MS, b"From: c@example.com\r\nTo: " + ADA_MS.encode() + b"\r\nSubject: s\r\n\r\nb"
        )
        mailbox = self.connected_mailbox()
        secrets = token_cache_secrets(mailbox.microsoft_token_cache)
        self.assertTrue(secrets)
        # Every logger, libraries included (msal, requests, urllib3), down to DEBUG.
        with every_log_line(self) as logs:
            self.run_backfill(mailbox)
            self.emulator.expire_tokens()
            self.run_scan(mailbox)
            secrets |= token_cache_secrets(mailbox.microsoft_token_cache)
            self.emulator.revoke_user(ADA_MS)
            self.emulator.expire_tokens()
            self.run_scan(mailbox)
        self.assertEqual(mailbox.state, "needs_reconnect")
        secrets.add(MS_CLIENT_SECRET)
        assert_never_logged(self, logs, secrets)
