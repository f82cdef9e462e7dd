"""One user of an organisation connection: the line that says whose mailbox it captures.

What it is
    ``trail.org.connection.user`` lists the people of an organisation connection (found in
    the domain's Odoo users or the provider's directory), whether each is included, and the
    company-managed mailbox the connection gave them.

How it works
    Excluding a line (or taking it off the list) pauses its mailbox and remembers that the
    exclusion did; including it again restarts it. A user who already has a personal mailbox
    of the provider is listed but left out; including them takes that mailbox over
    (:meth:`_take_over`), so an address never gets a second mailbox.
"""

import logging

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


class TrailOrgConnectionUser(models.Model):
    _name = "trail.org.connection.user"
    _description = "User of an organisation mail connection"
    _order = "email"
    _rec_name = "email"

    connection_id = fields.Many2one(
        "trail.org.connection", required=True, ondelete="cascade", index=True
    )
    provider = fields.Selection(related="connection_id.provider")
    email = fields.Char(required=True)
    name = fields.Char()
    external_id = fields.Char(
        string="Directory id", help="The user's id at the provider, when the directory gave it."
    )
    user_id = fields.Many2one("res.users", string="Odoo user", domain=[("share", "=", False)])
    included = fields.Boolean(default=True, help="Capture this user's mailbox.")
    mailbox_id = fields.Many2one("trail.mailbox", readonly=True, ondelete="set null")
    mailbox_state = fields.Selection(related="mailbox_id.state", string="Mailbox state")
    stopped_by_exclusion = fields.Boolean(string="Paused by the exclusion", readonly=True)
    note = fields.Char(readonly=True)

    _sql_constraints = [
        (
            "email_uniq",
            "unique(connection_id, email)",
            "This user is already listed in the connection.",
        ),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        for values in vals_list:
            values["email"] = (values.get("email") or "").strip().lower()
        return super().create(vals_list)

    def write(self, vals):
        if "email" in vals:
            vals["email"] = (vals["email"] or "").strip().lower()
        result = super().write(vals)
        if vals.get("included") is False:
            self._stop_mailbox()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_stop_mailbox(self):
        # A user taken off the list is excluded: their mailbox must not keep running.
        self._stop_mailbox()

    def _mailbox_values(self):
        self.ensure_one()
        connection = self.connection_id
        return {
            "provider": connection.provider,
            "address": self.email,
            "user_id": self.user_id.id,
            "owner_type": "company",
            "company_id": connection.company_id.id,
            "org_connection_id": connection.id,
            "state": "backfilling",
            "connected_at": fields.Datetime.now(),
        }

    def _take_over_problem(self, mailbox):
        """Why this line may not take ``mailbox``, a mailbox of its address that the connection
        does not hold yet, in words; an empty string when it may."""
        self.ensure_one()
        connection = self.connection_id
        if mailbox.org_connection_id:
            return self.env._(
                "Captured through the organisation connection %s; exclude the user there first.",
                mailbox.org_connection_id.name,
            )
        if mailbox.company_id != connection.company_id:
            return self.env._(
                "Has a personal mailbox in the company %s; connect it from a connection of that "
                "company.",
                mailbox.company_id.name,
            )
        if mailbox.user_id != self.user_id:
            # Its unfiled mail is private to its owner: it never changes hands this way.
            return self.env._(
                "Has a personal mailbox owned by %s; choose that Odoo user, or leave this user "
                "out.",
                mailbox.user_id.name,
            )
        return ""

    def _take_over(self, mailbox):
        """Make the owner's personal ``mailbox`` company-managed through this connection, and
        start it. Its captured mail, kept-out lines and counters stay; its own sign-in is
        dropped, since the connection's credential reads the mailbox from now on."""
        self.ensure_one()
        values = {
            "owner_type": "company",
            "org_connection_id": self.connection_id.id,
            "active": True,
            "google_refresh_token": False,
            "google_access_token": False,
            "google_token_expiry": False,
            "microsoft_token_cache": False,
            "microsoft_auth_flow": False,
            "retry_after": False,
            "retry_attempts": 0,
            "last_error": False,
        }
        backfill_done = mailbox.backfill_done
        if mailbox.provider == "microsoft":
            # Graph's delta links keep the path they were taken on (/me), which an app's token
            # cannot follow: take a new bookmark and list the window again, as after an expired
            # one. Mail already captured is recognised and not fetched twice.
            values.update(
                cursor=False,
                backfill_done=False,
                backfill_page=False,
                backfill_last_id=False,
                backfill_count=0,
            )
            backfill_done = False
        values["state"] = "active" if backfill_done else "backfilling"
        mailbox.sudo().write(values)
        # Said on the mailbox too, where its owner looks: they did not make this change.
        mailbox.sudo().message_post(
            body=self.env._(
                "This mailbox is now company-managed, through the organisation connection %s. "
                "Its captured mail is kept.",
                self.connection_id.name,
            )
        )
        _logger.info(
            "Organisation connection %s: personal mailbox %s is now company-managed",
            self.connection_id.id,
            mailbox.id,
        )

    def _stop_mailbox(self):
        """Excluded: pause the mailbox, remembering that the exclusion did it."""
        for line in self.filtered(lambda line: line.mailbox_id.state != "paused"):
            if line.mailbox_id:
                line.mailbox_id.sudo().action_pause()
                line.stopped_by_exclusion = True
                _logger.info("Mailbox %s paused: %s was excluded", line.mailbox_id.id, line.email)

    def _revive_mailbox(self, mailbox, adopted=False):
        """Restart a mailbox the exclusion paused or that lost access; True when restarted.

        A mailbox the administrator paused by hand stays paused; one ``adopted`` by a new line
        (its user was taken off the list, then listed again) restarts.
        """
        self.ensure_one()
        revive = mailbox.state in ("needs_reconnect", "error") or (
            mailbox.state == "paused" and (self.stopped_by_exclusion or adopted)
        )
        if not mailbox.active:
            mailbox.active = True
            revive = True
        if not revive:
            return False
        mailbox.write(
            {
                "state": "active" if mailbox.backfill_done else "backfilling",
                "retry_after": False,
                "retry_attempts": 0,
                "last_error": False,
            }
        )
        return True

    def action_pause(self):
        self.mailbox_id.action_pause()
        return True

    def action_resume(self):
        self.mailbox_id.action_resume()
        return True
