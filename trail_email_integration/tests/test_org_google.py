"""Organisation mode on Google Workspace, against the Gmail emulator's domain and accounts."""

import json

from lxml import etree

from odoo.addons.trail_email_integration.core.providers.gmail_org import DIRECTORY_SCOPE
from odoo.addons.trail_email_integration.core.providers.gmail_wire import (
    READONLY_SCOPE,
    SCOPES,
    SEND_SCOPE,
)
from odoo.addons.trail_email_integration.models import (
    trail_mailbox_google,
    trail_org_connection_errors,
    trail_org_mailbox,
)
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, TransactionCase, new_test_user, tagged

from emulators.gmail import GmailEmulator

from .capture_common import MailboxSteps, make_raw
from .google_common import CLIENT_ID, CLIENT_SECRET, configure_google
from .screenshots import screenshots

DOMAIN = "firm.example"
ADMIN = "it@firm.example"
BROKEN_KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
STAFF = {
    "ann@firm.example": "Ann Archer",
    "ben@firm.example": "Ben Baker",
    "cid@firm.example": "Cid Carter",
}


class OrgGoogleCase(MailboxSteps, TransactionCase):
    """A Workspace domain with an administrator and three staff, and their Odoo users."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = GmailEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
        cls.addClassCleanup(cls.emulator.stop)
        configure_google(cls.env, cls.emulator)
        cls.env["ir.config_parameter"].sudo().set_param(
            "trail_email_integration.google_directory_base", cls.emulator.base_url
        )
        cls.users = cls.env["res.users"]
        for address, name in STAFF.items():
            cls.users |= new_test_user(
                cls.env, login=address, email=address, name=name, groups="base.group_user"
            )

    def setUp(self):
        super().setUp()
        # A fresh domain per test: the emulator outlives the test transactions.
        self.emulator.add_domain_user(ADMIN, "It Admin", admin=True)
        for address, name in STAFF.items():
            self.emulator.mailboxes.pop(address, None)
            self.emulator.add_domain_user(address, name)
        self.key = self.emulator.create_service_account(
            domain=DOMAIN, scopes=SCOPES + (DIRECTORY_SCOPE,)
        )
        self.emulator.clear_failures()
        trail_mailbox_google._BUCKETS.clear()
        trail_org_mailbox._PROVIDERS.clear()
        mailbox_class = type(self.env["trail.mailbox"])
        self.patch(mailbox_class, "_provider_sleep", self.emulator.clock.advance)
        self.patch(mailbox_class, "_provider_clock", self.emulator.clock.time)
        self.connection = self.env["trail.org.connection"].create(
            {
                "name": "Firm Workspace",
                "provider": "google",
                "domains": DOMAIN,
                "google_admin_email": ADMIN,
                "google_key_input": json.dumps(self.key),
            }
        )

    def mailboxes(self):
        return self.connection.line_ids.mailbox_id

    def captured_subjects(self, mailbox):
        mails = self.env["trail.mail"].search([("location_ids.mailbox_id", "=", mailbox.id)])
        return set(mails.mapped("subject"))


@tagged("post_install", "-at_install")
class TestOrgGoogle(OrgGoogleCase):
    def test_three_users_backfilled_and_scanned_each_into_their_own_mailbox(self):
        for address in STAFF:
            self.emulator.add_message(address, make_raw(f"Old for {address}", to=address))
        self.connection.action_find_users()
        self.assertEqual(set(self.connection.line_ids.mapped("email")), set(STAFF))
        self.assertTrue(all(self.connection.line_ids.mapped("included")))

        self.connection.action_connect_users()
        self.assertEqual(self.connection.state, "ready", self.connection.status_message)
        mailboxes = self.mailboxes()
        self.assertEqual(len(mailboxes), 3)
        for line in self.connection.line_ids:
            self.assertEqual(line.mailbox_id.user_id.login, line.email)
            self.assertEqual(line.mailbox_id.address, line.email)
            self.assertEqual(line.mailbox_id.owner_type, "company")
            self.assertEqual(line.mailbox_id.state, "backfilling")

        for mailbox in mailboxes:
            self.run_backfill(mailbox)
            self.assertEqual(mailbox.state, "active", mailbox.last_error)
            self.assertEqual(self.captured_subjects(mailbox), {f"Old for {mailbox.address}"})

        for address in STAFF:
            self.emulator.add_message(address, make_raw(f"New for {address}", to=address))
        for mailbox in mailboxes:
            self.run_scan(mailbox)
            self.assertEqual(
                self.captured_subjects(mailbox),
                {f"Old for {mailbox.address}", f"New for {mailbox.address}"},
            )

        # Sending goes out as the impersonated user.
        ann = mailboxes.filtered(lambda m: m.address == "ann@firm.example")
        raw = make_raw("From Odoo", sender=ann.address, to="client@example.com")
        sent = ann._make_provider().send(raw)
        self.assertIn("SENT", self.emulator.get_message(ann.address, sent.provider_id).label_ids)

        # Connecting again creates nothing new.
        self.connection.action_connect_users()
        self.assertEqual(self.mailboxes(), mailboxes)
        self.assertEqual(
            self.env["trail.mailbox"].search_count([("address", "in", list(STAFF))]), 3
        )

    def test_missing_delegation_is_reported_with_the_scope(self):
        self.connection.action_find_users()
        self.emulator.revoke_delegation(self.key["client_id"], DOMAIN, [SEND_SCOPE])
        self.connection.action_check_access()
        self.assertEqual(self.connection.state, "consent_missing")
        self.assertEqual(self.connection.missing_scopes, SEND_SCOPE)
        self.assertIn("Domain-wide delegation is missing", self.connection.status_message)
        self.assertIn(SEND_SCOPE, self.connection.status_message)
        self.assertNotIn(READONLY_SCOPE, self.connection.status_message)
        self.assertIn(self.key["client_id"], self.connection.status_message)
        with self.assertRaisesRegex(UserError, "gmail.send"):
            self.connection.action_connect_users()
        self.assertFalse(self.mailboxes())
        # The settings page says it too, in words, with the scope.
        settings = self.env["res.config.settings"].create({})
        self.assertIn(f"{self.connection.name}: Consent missing", settings.trail_org_status)
        self.assertIn(SEND_SCOPE, settings.trail_org_status)

        self.emulator.delegate(self.key["client_id"], DOMAIN, SCOPES + (DIRECTORY_SCOPE,))
        self.connection.action_check_access()
        self.assertEqual(self.connection.state, "ready", self.connection.status_message)

    def test_excluding_a_user_stops_their_mailbox_and_pausing_one_leaves_the_others(self):
        self.connection.action_find_users()
        self.connection.action_connect_users()
        Mailbox = self.env["trail.mailbox"]
        for mailbox in self.mailboxes():
            self.run_backfill(mailbox)
        ann, ben, cid = (
            self.mailboxes().filtered(lambda m, a=address: m.address == a) for address in STAFF
        )

        ann_line = self.connection.line_ids.filtered(lambda line: line.mailbox_id == ann)
        ann_line.included = False
        self.assertEqual(ann.state, "paused")
        with self.assertRaisesRegex(UserError, "excluded"):
            ann.action_resume()
        ben_line = self.connection.line_ids.filtered(lambda line: line.mailbox_id == ben)
        ben_line.action_pause()
        self.assertEqual(ben.state, "paused")

        for address in STAFF:
            self.emulator.add_message(address, make_raw(f"Later for {address}", to=address))
        self.mailboxes().write({"next_scan": False})
        self.assertEqual(
            set(Mailbox._due_ids(backfill=False)) & set(self.mailboxes().ids), {cid.id}
        )
        Mailbox._cron_scan()
        self.assertIn(f"Later for {cid.address}", self.captured_subjects(cid))
        self.assertNotIn(f"Later for {ann.address}", self.captured_subjects(ann))
        self.assertNotIn(f"Later for {ben.address}", self.captured_subjects(ben))

        # Connecting again keeps the exclusion and the hand-made pause.
        self.connection.action_connect_users()
        self.assertEqual((ann.state, ben.state, cid.state), ("paused", "paused", "active"))
        # Including Ann again and connecting resumes her mailbox only.
        ann_line.included = True
        self.connection.action_connect_users()
        self.assertEqual((ann.state, ben.state), ("active", "paused"))
        self.run_scan(ann)
        self.assertIn(f"Later for {ann.address}", self.captured_subjects(ann))

    def test_archiving_or_delisting_stops_mailboxes_and_deleting_is_refused(self):
        self.connection.action_find_users()
        self.connection.action_connect_users()
        mailboxes = self.mailboxes()
        ann_line = self.connection.line_ids.filtered(lambda line: line.email.startswith("ann"))
        ann = ann_line.mailbox_id

        ann_line.unlink()
        self.assertEqual(ann.state, "paused")
        self.assertEqual(set((mailboxes - ann).mapped("state")), {"backfilling"})
        self.connection.action_find_users()
        self.connection.action_connect_users()
        ann_line = self.connection.line_ids.filtered(lambda line: line.email.startswith("ann"))
        self.assertEqual(ann_line.mailbox_id, ann)
        self.assertEqual(ann.state, "backfilling")
        self.assertEqual(self.mailboxes(), mailboxes)

        with self.assertRaisesRegex(UserError, "Archive the connection"):
            self.connection.unlink()
        self.connection.action_archive()
        self.assertEqual(set(mailboxes.mapped("state")), {"paused"})
        self.connection.action_unarchive()
        self.connection.action_connect_users()
        self.assertEqual(set(mailboxes.mapped("state")), {"backfilling"})

    def test_directory_lists_users_without_an_odoo_account(self):
        self.emulator.add_domain_user("dee@firm.example", "Dee Dunn")
        self.connection.use_directory = True
        self.connection.action_find_users()
        lines = {line.email: line for line in self.connection.line_ids}
        self.assertEqual(set(lines), set(STAFF) | {ADMIN, "dee@firm.example"})
        self.assertFalse(lines["dee@firm.example"].user_id)
        self.assertFalse(lines["dee@firm.example"].included)
        self.assertEqual(lines["ann@firm.example"].user_id.login, "ann@firm.example")
        self.assertTrue(lines["ann@firm.example"].external_id)
        self.connection.action_find_users()
        self.assertEqual(len(self.connection.line_ids), 5)

    def test_a_personal_mailbox_is_left_out_then_taken_over_when_included(self):
        ann_user = self.users.filtered(lambda user: user.login == "ann@firm.example")
        tokens = self.emulator.issue_tokens("ann@firm.example")
        personal = self.env["trail.mailbox"].create(
            {
                "provider": "google",
                "address": "ann@firm.example",
                "user_id": ann_user.id,
                "state": "backfilling",
                "google_refresh_token": tokens["refresh_token"],
            }
        )
        self.emulator.add_message("ann@firm.example", make_raw("Before", to="ann@firm.example"))
        self.run_backfill(personal)
        self.assertEqual(self.captured_subjects(personal), {"Before"})

        # Found, but left out and marked: nothing changes for Ann unless the admin says so.
        self.connection.action_find_users()
        ann = self.connection.line_ids.filtered(lambda line: line.email == "ann@firm.example")
        self.assertFalse(ann.included)
        self.assertIn("personal mailbox", ann.note)
        self.assertTrue(all((self.connection.line_ids - ann).mapped("included")))
        self.assertFalse((self.connection.line_ids - ann).mapped("note")[0])
        self.connection.action_connect_users()
        self.assertFalse(ann.mailbox_id)
        self.assertEqual(personal.owner_type, "personal")

        # Given to another Odoo user, Ann's mailbox (and her unfiled mail) is not handed over.
        ann.write({"included": True, "user_id": self.users[1].id})
        self.connection.action_connect_users()
        self.assertFalse(ann.mailbox_id)
        self.assertIn(ann_user.name, ann.note)
        self.assertEqual(personal.user_id, ann_user)

        # Included with Ann as its owner, her own mailbox becomes company-managed: no second one.
        ann.user_id = ann_user
        self.connection.action_connect_users()
        self.assertEqual(ann.mailbox_id, personal)
        self.assertFalse(ann.note)
        self.assertEqual(personal.owner_type, "company")
        self.assertEqual(personal.sudo().org_connection_id, self.connection)
        self.assertFalse(personal.sudo().google_refresh_token)
        self.assertIn("now company-managed", personal.message_ids[:1].body)
        Mailbox = self.env["trail.mailbox"].with_context(active_test=False)
        self.assertEqual(Mailbox.search_count([("address", "=ilike", "ann@firm.example")]), 1)
        self.emulator.add_message("ann@firm.example", make_raw("After", to="ann@firm.example"))
        self.run_scan(personal)
        self.assertEqual(self.captured_subjects(personal), {"Before", "After"})
        self.assertEqual(self.env["trail.mail"].search_count([("subject", "=", "Before")]), 1)

    def test_lost_delegation_stops_the_mailbox_without_asking_the_owner(self):
        self.connection.action_find_users()
        self.connection.action_connect_users()
        ann = self.mailboxes()[:1]
        self.emulator.revoke_delegation(self.key["client_id"], DOMAIN)
        trail_org_mailbox._PROVIDERS.clear()
        self.run_backfill(ann)
        self.assertEqual(ann.state, "needs_reconnect")
        self.assertFalse(ann.activity_ids)
        self.assertIn("organisation connection", ann.state_message)
        self.assertEqual(self.connection.state, "error")
        self.assertIn(ann.address, self.connection.status_message)
        # Google's refusal is said in words, with the client id to delegate the scopes to.
        self.assertIn("Domain-wide delegation is missing", self.connection.status_message)
        self.assertIn(self.key["client_id"], self.connection.status_message)
        self.assertIn("Domain-wide delegation is missing", ann.state_message)


@tagged("post_install", "-at_install")
class TestOrgSecrets(OrgGoogleCase):
    def test_secrets_are_hidden_from_non_admins_and_never_shown_back(self):
        connection = self.connection
        self.assertEqual(connection.sudo().google_key, json.dumps(self.key))
        connection.invalidate_recordset()  # as the form reads it back after saving
        self.assertFalse(connection.google_key_input)
        self.assertIn(self.key["private_key_id"][-4:], connection.google_key_hint)
        self.assertNotIn(self.key["private_key_id"], connection.google_key_hint)
        self.assertFalse(connection._fields["google_key"].exportable)
        self.assertFalse(connection._fields["microsoft_client_secret"].exportable)
        self.assertNotIn("google_key", connection.copy_data()[0])

        trail_user = new_test_user(
            self.env, login="clerk", groups="trail_email_integration.group_trail_user"
        )
        with self.assertRaises(AccessError):
            connection.with_user(trail_user).read(["name"])
        with self.assertRaises(AccessError):
            connection.with_user(trail_user).read(["google_key"])
        trail_admin = new_test_user(
            self.env,
            login="office-admin",
            groups="base.group_user,trail_email_integration.group_trail_admin",
        )
        as_admin = connection.with_user(trail_admin)
        self.assertEqual(as_admin.read(["name"])[0]["name"], "Firm Workspace")
        with self.assertRaises(AccessError):
            as_admin.read(["google_key"])
        self.assertNotIn("google_key", as_admin.fields_get())

        # A new key replaces the stored one; an empty input leaves it alone.
        other = self.emulator.create_service_account(name="other", domain=DOMAIN)
        as_admin.write({"google_key_input": json.dumps(other)})
        self.assertEqual(json.loads(connection.sudo().google_key)["client_id"], other["client_id"])
        as_admin.write({"google_key_input": False, "name": "Renamed"})
        self.assertEqual(json.loads(connection.sudo().google_key)["client_id"], other["client_id"])

    def test_a_key_that_is_not_a_service_account_key_is_refused_in_words(self):
        with self.assertRaisesRegex(UserError, "not a service-account key.*Create new key"):
            self.connection.google_key_input = json.dumps({"type": "authorized_user"})
        with self.assertRaisesRegex(UserError, "not valid JSON"):
            self.connection.google_key_input = "{nope"

    def test_a_key_whose_private_key_cannot_be_read_says_what_to_do(self):
        broken = dict(self.key, private_key=BROKEN_KEY)
        logger = trail_org_connection_errors.__name__
        with self.assertLogs(logger, "WARNING") as logged, self.assertRaises(UserError) as caught:
            self.connection.google_key_input = json.dumps(broken)
        sentence, details = str(caught.exception).split("\n")
        self.assertEqual(
            sentence,
            "The service-account key's private key cannot be read; download a new JSON key for "
            "the service account and paste it again.",
        )
        # The library's own words come after, and in the log.
        self.assertIn("Could not deserialize key data", details)
        self.assertIn("Could not deserialize key data", logged.output[0])
        self.assertEqual(json.loads(self.connection.sudo().google_key), self.key)

    def test_google_refusing_the_service_account_says_what_to_check(self):
        self.connection.action_find_users()
        self.emulator.disable_service_account(self.key["client_email"])
        self.connection.action_check_access()
        self.assertEqual(self.connection.state, "error")
        sentence, details = self.connection.status_message.split("\n")
        self.assertTrue(
            sentence.startswith(
                f"Google refused the service account acting as {ADMIN} (invalid_grant): check "
                f"that domain-wide delegation is set up for client id {self.key['client_id']} "
                f"with these scopes: {READONLY_SCOPE}, {SEND_SCOPE}; "
            ),
            sentence,
        )
        self.assertIn("the key has not been deleted or disabled", sentence)
        self.assertTrue(details.startswith("Details: "), details)

    def test_a_directory_refused_to_a_non_administrator_says_what_to_do(self):
        self.connection.write({"use_directory": True, "google_admin_email": "ann@firm.example"})
        with self.assertRaises(UserError) as caught:
            self.connection.action_find_users()
        self.assertTrue(
            str(caught.exception).startswith(
                "The users could not be listed. Google refused to list the users of "
                "firm.example acting as ann@firm.example (HTTP 403"
            ),
            str(caught.exception),
        )
        self.assertIn("untick Read the directory", str(caught.exception))

        self.connection.google_admin_email = ADMIN
        self.emulator.revoke_delegation(self.key["client_id"], DOMAIN, [DIRECTORY_SCOPE])
        with self.assertRaisesRegex(UserError, "Domain-wide delegation is missing for these "):
            self.connection.action_find_users()


@tagged("post_install", "-at_install")
class TestOrgLabels(TransactionCase):
    """The connection screens speak in sentence case, as the rest of Odoo does."""

    PROPER_NOUNS = frozenset({"Google", "Workspace", "Microsoft", "365", "Odoo", "JSON", "PEM"})
    VIEWS = (
        "trail_email_integration.view_trail_org_connection_list",
        "trail_email_integration.view_trail_org_connection_form",
    )

    def assert_sentence_case(self, label, where):
        for word in label.split()[1:]:
            bare = word.strip("()")
            self.assertFalse(
                bare[:1].isupper() and bare not in self.PROPER_NOUNS,
                f"{where}: {label!r} is not in sentence case",
            )

    def test_field_labels_and_view_strings_are_sentence_case(self):
        fields = [
            (model, name, field)
            for model in ("trail.org.connection", "trail.org.connection.user")
            for name, field in self.env[model]._fields.items()
            if not field.automatic
        ]
        mailbox_fields = self.env["trail.mailbox"]._fields
        fields += [("trail.mailbox", name, mailbox_fields[name]) for name in ("org_managed",)]
        for model, name, field in fields:
            self.assert_sentence_case(field.string, f"{model}.{name}")
        for xmlid in self.VIEWS:
            arch = self.env.ref(xmlid).arch
            for element in etree.fromstring(arch.encode()).iter():
                if element.get("string"):
                    self.assert_sentence_case(element.get("string"), xmlid)


@tagged("post_install", "-at_install", "trail_screenshots")
class TestOrgConnectionInBrowser(HttpCase):
    """The connection form in real Chromium, against the Gmail emulator's Workspace domain."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = GmailEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
        cls.addClassCleanup(cls.emulator.stop)
        configure_google(cls.env, cls.emulator, base_url=cls.base_url())
        cls.emulator.add_domain_user(ADMIN, "It Admin", admin=True)
        for address, name in STAFF.items():
            cls.emulator.add_domain_user(address, name)
            new_test_user(
                cls.env, login=address, email=address, name=name, groups="base.group_user"
            )
        cls.key = cls.emulator.create_service_account(domain=DOMAIN, scopes=SCOPES)

    def test_find_check_and_connect_from_the_form(self):
        connection = self.env["trail.org.connection"].create(
            {
                "name": "Firm Workspace",
                "provider": "google",
                "domains": DOMAIN,
                "google_admin_email": ADMIN,
                "google_key_input": json.dumps(self.key),
            }
        )
        with screenshots():
            self.start_tour(
                f"/odoo/action-trail_email_integration.action_org_connections/{connection.id}",
                "trail_org_connection",
                login="admin",
            )
        connection.invalidate_recordset()
        self.assertEqual(connection.state, "ready")
        self.assertEqual(len(connection.line_ids.mailbox_id), 3)
