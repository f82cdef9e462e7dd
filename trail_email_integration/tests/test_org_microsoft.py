"""Organisation mode on Microsoft 365, against the Graph emulator's tenant and apps."""

from odoo.addons.trail_email_integration.models import (
    trail_mailbox_microsoft,
    trail_org_connection,
)
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .capture_common import MailboxSteps, make_raw
from .microsoft_common import callback_params, configure_microsoft, sign_in, start_emulator

DOMAIN = "contoso.example"
STAFF = {
    "ann@contoso.example": "Ann Archer",
    "ben@contoso.example": "Ben Baker",
    "cid@contoso.example": "Cid Carter",
}
ROLES = ("Mail.Read", "Mail.Send", "User.Read.All")


class OrgMicrosoftCase(MailboxSteps, TransactionCase):
    """A tenant with three staff, their Odoo users, and an app registration per test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emulator = start_emulator()
        cls.addClassCleanup(cls.emulator.stop)
        configure_microsoft(cls.env, cls.emulator)
        for address, name in STAFF.items():
            new_test_user(
                cls.env, login=address, email=address, name=name, groups="base.group_user"
            )

    def setUp(self):
        super().setUp()
        # Empty mailboxes for every test: the emulator outlives the test transactions.
        for address, name in STAFF.items():
            existing = self.emulator.find_user(address)
            if existing is not None:
                existing.tenant.users.pop(existing.upn)
            self.emulator.add_user(address, name)
        self.emulator.clear_failures()
        trail_mailbox_microsoft._BUCKETS.clear()
        trail_org_connection._TOKEN_SOURCES.clear()
        mailbox_class = type(self.env["trail.mailbox"])
        self.patch(mailbox_class, "_provider_sleep", self.emulator.clock.advance)
        self.patch(mailbox_class, "_provider_clock", self.emulator.clock.time)

    def make_connection(self, roles=ROLES, certificate=False, **values):
        self.app = self.emulator.create_app(DOMAIN, roles=roles)
        values = {
            "name": "Contoso",
            "provider": "microsoft",
            "domains": DOMAIN,
            "microsoft_tenant": self.app.tenant_id,
            "microsoft_client_id": self.app.client_id,
            **values,
        }
        if certificate:
            pem = self.app.private_key_pem + "\n" + self.app.certificate_pem
            values["microsoft_certificate_input"] = pem
        else:
            values["microsoft_secret_input"] = self.app.client_secret
        return self.env["trail.org.connection"].create(values)

    def captured_subjects(self, mailbox):
        mails = self.env["trail.mail"].search([("location_ids.mailbox_id", "=", mailbox.id)])
        return set(mails.mapped("subject"))


@tagged("post_install", "-at_install")
class TestOrgMicrosoft(OrgMicrosoftCase):
    def test_three_users_backfilled_and_scanned_each_into_their_own_mailbox(self):
        for address in STAFF:
            self.emulator.add_message(address, make_raw(f"Old for {address}", to=address))
        connection = self.make_connection()
        connection.action_find_users()
        self.assertEqual(set(connection.line_ids.mapped("email")), set(STAFF))
        connection.action_connect_users()
        self.assertEqual(connection.state, "ready", connection.status_message)
        mailboxes = connection.line_ids.mailbox_id
        self.assertEqual(len(mailboxes), 3)
        self.assertEqual(set(mailboxes.mapped("owner_type")), {"company"})
        self.assertEqual({m.address: m.user_id.login for m in mailboxes}, {a: a for a in STAFF})

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

        # Sending goes out of the user's own mailbox, through /users/{id}/sendMail.
        ann = mailboxes.filtered(lambda m: m.address == "ann@contoso.example")
        ann._make_provider().send(make_raw("From Odoo", sender=ann.address, to="x@example.com"))
        self.assertEqual(self.emulator.outbox[-1]["from"], ann.address)

        connection.action_connect_users()
        self.assertEqual(connection.line_ids.mailbox_id, mailboxes)
        self.assertEqual(
            self.env["trail.mailbox"].search_count([("address", "in", list(STAFF))]), 3
        )

        # Excluding Ben pauses his mailbox only; the scan goes on for the others.
        ben_line = connection.line_ids.filtered(lambda line: line.email.startswith("ben"))
        ben_line.included = False
        ben = ben_line.mailbox_id
        self.assertEqual(ben.state, "paused")
        self.assertEqual(set((mailboxes - ben).mapped("state")), {"active"})
        for address in STAFF:
            self.emulator.add_message(address, make_raw(f"Later for {address}", to=address))
        mailboxes.write({"next_scan": False})
        self.env["trail.mailbox"]._cron_scan()
        for mailbox in mailboxes - ben:
            self.assertIn(f"Later for {mailbox.address}", self.captured_subjects(mailbox))
        self.assertNotIn(f"Later for {ben.address}", self.captured_subjects(ben))

    def test_a_certificate_works_as_the_credential(self):
        self.emulator.add_message("cid@contoso.example", make_raw("Hello Cid"))
        connection = self.make_connection(certificate=True)
        self.assertEqual(connection.microsoft_certificate_thumbprint, self.app.thumbprint.upper())
        self.assertIn(self.app.thumbprint.upper(), connection.microsoft_secret_hint)
        self.assertFalse(connection.sudo().microsoft_client_secret)
        connection.action_find_users()
        connection.line_ids.filtered(lambda line: not line.email.startswith("cid")).write(
            {"included": False}
        )
        connection.action_connect_users()
        self.assertEqual(connection.state, "ready", connection.status_message)
        cid = connection.line_ids.mailbox_id
        self.assertEqual(cid.address, "cid@contoso.example")
        self.run_backfill(cid)
        self.assertEqual(self.captured_subjects(cid), {"Hello Cid"})

        # A secret entered later replaces the certificate.
        connection.microsoft_secret_input = self.app.client_secret
        self.assertFalse(connection.sudo().microsoft_certificate_key)
        self.assertFalse(connection.microsoft_certificate_thumbprint)
        connection.action_check_access()
        self.assertEqual(connection.state, "ready", connection.status_message)

    def test_missing_admin_consent_is_reported_with_the_permission(self):
        connection = self.make_connection(roles=("Mail.Read", "User.Read.All"))
        connection.action_find_users()
        connection.action_check_access()
        self.assertEqual(connection.state, "consent_missing")
        self.assertEqual(connection.missing_scopes, "Mail.Send")
        self.assertIn("Admin consent is missing", connection.status_message)
        self.assertIn("Mail.Send", connection.status_message)
        self.assertIn(self.app.client_id, connection.status_message)
        with self.assertRaisesRegex(UserError, "Mail.Send"):
            connection.action_connect_users()
        self.assertFalse(connection.line_ids.mailbox_id)

        self.emulator.revoke_consent(self.app.tenant_id, self.app.client_id)
        trail_org_connection._TOKEN_SOURCES.clear()
        connection.action_check_access()
        self.assertEqual(connection.missing_scopes, "Mail.Read Mail.Send")

        self.emulator.grant_consent(self.app.tenant_id, self.app.client_id, *ROLES)
        trail_org_connection._TOKEN_SOURCES.clear()
        connection.action_check_access()
        self.assertEqual(connection.state, "ready", connection.status_message)

    def test_a_mailbox_outside_the_app_access_scope_is_reported(self):
        connection = self.make_connection()
        connection.action_find_users()
        self.emulator.restrict_app(self.app.tenant_id, self.app.client_id, ["ben@contoso.example"])
        connection.action_check_access()
        self.assertEqual(connection.state, "error")
        self.assertIn("ann@contoso.example", connection.status_message)
        self.assertIn("RBAC", connection.status_message)

    def test_a_mailbox_taken_out_of_scope_stops_and_the_connection_says_so(self):
        connection = self.make_connection()
        connection.action_find_users()
        connection.action_connect_users()
        ann = connection.line_ids.mailbox_id.filtered(lambda m: m.address.startswith("ann"))
        self.emulator.restrict_app(
            self.app.tenant_id, self.app.client_id, ["ben@contoso.example", "cid@contoso.example"]
        )
        self.run_backfill(ann)
        self.assertEqual(ann.state, "needs_reconnect")
        self.assertFalse(ann.activity_ids)
        self.assertEqual(connection.state, "error")
        self.assertIn("ann@contoso.example", connection.status_message)
        others = connection.line_ids.mailbox_id - ann
        for mailbox in others:
            self.run_backfill(mailbox)
        self.assertEqual(set(others.mapped("state")), {"active"})

        self.emulator.restrict_app(self.app.tenant_id, self.app.client_id, None)
        connection.action_connect_users()
        self.assertEqual(ann.state, "backfilling")
        self.run_backfill(ann)
        self.assertEqual(ann.state, "active", ann.last_error)

    def test_a_personal_mailbox_is_left_out_then_taken_over_when_included(self):
        ann_user = self.env["res.users"].search([("login", "=", "ann@contoso.example")])
        personal = self.env["trail.mailbox"].create(
            {"provider": "microsoft", "address": "ann@contoso.example", "user_id": ann_user.id}
        )
        url = personal.with_user(ann_user).action_connect_microsoft()["url"]
        personal._microsoft_finish_connect(callback_params(sign_in(self.emulator, url)))
        self.emulator.add_message("ann@contoso.example", make_raw("Before"))
        self.run_backfill(personal)
        self.assertEqual(self.captured_subjects(personal), {"Before"})
        self.run_scan(personal)  # the cursor now holds delta links taken as Ann herself

        connection = self.make_connection()
        connection.action_find_users()
        ann = connection.line_ids.filtered(lambda line: line.email == "ann@contoso.example")
        self.assertFalse(ann.included)
        self.assertIn("personal mailbox", ann.note)
        connection.action_connect_users()
        self.assertEqual(len(connection.line_ids.mailbox_id), 2)
        self.assertEqual(personal.owner_type, "personal")

        ann.included = True
        connection.action_connect_users()
        self.assertEqual(ann.mailbox_id, personal)
        self.assertEqual(personal.owner_type, "company")
        self.assertFalse(personal.sudo().microsoft_token_cache)
        Mailbox = self.env["trail.mailbox"].with_context(active_test=False)
        self.assertEqual(Mailbox.search_count([("address", "=ilike", "ann@contoso.example")]), 1)
        self.emulator.add_message("ann@contoso.example", make_raw("After"))
        self.run_backfill(personal)
        self.run_scan(personal)
        self.assertEqual(personal.state, "active", personal.last_error)
        self.assertEqual(self.captured_subjects(personal), {"Before", "After"})
        self.assertEqual(self.env["trail.mail"].search_count([("subject", "=", "Before")]), 1)

    def test_a_wrong_secret_is_reported_in_words(self):
        connection = self.make_connection()
        connection.microsoft_secret_input = "not-the-secret"
        self.assertIn("…cret", connection.microsoft_secret_hint)
        connection.action_find_users()
        connection.action_check_access()
        self.assertEqual(connection.state, "error")
        sentence, details = connection.status_message.split("\n")
        self.assertTrue(
            sentence.startswith(
                "Microsoft refused the app's credential (AADSTS7000215): the client secret or "
                f"certificate is wrong, expired or not registered on the app {self.app.client_id}."
            ),
            sentence,
        )
        self.assertIn("paste its value (not its id)", sentence)
        self.assertIn("invalid_client", details)

    def test_an_unknown_tenant_or_application_is_reported_in_words(self):
        connection = self.make_connection()
        connection.microsoft_tenant = "00000000-0000-0000-0000-0000000000ff"
        connection.action_check_access()
        self.assertEqual(connection.state, "error")
        self.assertTrue(
            connection.status_message.startswith(
                "Microsoft does not know the tenant 00000000-0000-0000-0000-0000000000ff: type "
                "the directory (tenant) id"
            ),
            connection.status_message,
        )
        connection.write({"microsoft_tenant": self.app.tenant_id, "microsoft_client_id": "nope"})
        connection.action_check_access()
        self.assertTrue(
            connection.status_message.startswith(
                f"Microsoft does not know the application nope in the tenant {self.app.tenant_id} "
                "(AADSTS700016): check the application (client) id"
            ),
            connection.status_message,
        )
        connection.write({"microsoft_tenant": "common", "microsoft_client_id": self.app.client_id})
        connection.action_check_access()
        self.assertTrue(
            connection.status_message.startswith("Type the directory (tenant) id"),
            connection.status_message,
        )

    def test_listing_users_without_consent_says_which_permission_to_grant(self):
        connection = self.make_connection(roles=(), use_directory=True)
        with self.assertRaises(UserError) as caught:
            connection.action_find_users()
        message = str(caught.exception)
        self.assertTrue(
            message.startswith(
                "The users could not be listed. Microsoft refused the request (AccessDenied): "
                "the app lacks the User.Read.All application permission, or it has no admin "
                "consent."
            ),
            message,
        )
        self.assertIn("Without it, untick Read the directory.", message)

    def test_a_private_key_that_cannot_be_read_is_refused_in_words(self):
        connection = self.make_connection()
        with self.assertRaisesRegex(
            UserError, r"^The certificate's private key cannot be read; export it again"
        ):
            connection.microsoft_certificate_input = (
                "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
                + self.app.certificate_pem
            )
        self.assertEqual(connection.sudo().microsoft_client_secret, self.app.client_secret)

    def test_directory_lists_the_tenant_users(self):
        self.emulator.add_user("dee@contoso.example", "Dee Dunn")
        connection = self.make_connection(use_directory=True)
        connection.action_find_users()
        lines = {line.email: line for line in connection.line_ids}
        self.assertLessEqual(set(STAFF) | {"dee@contoso.example"}, set(lines))
        self.assertFalse(lines["dee@contoso.example"].user_id)
        self.assertFalse(lines["dee@contoso.example"].included)
        self.assertTrue(lines["ann@contoso.example"].external_id)
        self.assertEqual(lines["ann@contoso.example"].user_id.login, "ann@contoso.example")

        self.emulator.revoke_consent(self.app.tenant_id, self.app.client_id, "User.Read.All")
        trail_org_connection._TOKEN_SOURCES.clear()
        connection.action_check_access()
        self.assertEqual(connection.missing_scopes, "User.Read.All")
