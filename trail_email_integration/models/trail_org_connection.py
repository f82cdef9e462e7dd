"""Organisation connections: one credential that captures the mailboxes of a whole domain.

What it is
    :class:`TrailOrgConnection` holds a Google Workspace service account with domain-wide
    delegation, or a Microsoft 365 app registration with application permissions, and the
    list of the domain's users (:class:`TrailOrgConnectionUser`) whose mailboxes it captures.
    Each chosen user gets a company-managed ``trail.mailbox`` of their own, run by the same
    backfill and scan as a personal one.

How it works
    - "Find users" lists the Odoo users whose address is in the connection's domains, and,
      when the directory may be read, the domain's users from Google's Directory API or
      Graph's ``/users``, matched to Odoo users by address.
    - "Check access" asks the provider for a token per needed scope (Google) or reads the
      consented application permissions (Microsoft), and says in words which are missing.
    - "Connect chosen users" creates or revives one mailbox per included user; running it
      again creates nothing new. Excluding a user pauses their mailbox; pausing one mailbox
      leaves the others running.
    - Secrets (the service-account key, the client secret, the certificate's private key) are
      fields only system administrators can read, never copied nor exported. The form edits
      them through write-only inputs and shows only a hint (key id, last four characters).

Use
    Email → Configuration → Organisation connections (Email integration administrators).

Caveats
    Check access tests delegation with one user of the domain; a user whose account has no
    mailbox shows up later, as an error on their own mailbox.
"""

import hashlib
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..core.provider import AuthorisationLost, ProviderError, TemporaryError
from ..core.providers.gmail_org import (
    DELEGATION_MISSING,
    DIRECTORY_BASE,
    DIRECTORY_SCOPE,
    describe_key,
    directory_users,
    missing_delegation,
    parse_key,
)
from ..core.providers.gmail_wire import SCOPES as GMAIL_SCOPES
from ..core.providers.gmail_wire import GmailConfigError
from ..core.providers.graph_org import (
    Finding,
    app_credential,
    app_token_source,
    certificate_thumbprint,
    check_access,
    check_private_key,
    tenant_users,
)
from ..core.providers.graph_wire import GraphConfigError

_logger = logging.getLogger(__name__)

ADMIN_GROUP = "trail_email_integration.group_trail_admin"
SECRET_GROUP = "base.group_system"
PARAM_DIRECTORY_BASE = "trail_email_integration.google_directory_base"

# Connection states.
NOT_CHECKED = "draft"
READY = "ready"
CONSENT_MISSING = "consent_missing"
FAILED = "error"

# App-only tokens per connection and process, shared by the tenant's mailboxes.
_TOKEN_SOURCES = {}


def _fingerprint(*values):
    """A digest of secrets, to key caches without keeping the secrets in the key."""
    return hashlib.sha256("\0".join(str(v or "") for v in values).encode()).hexdigest()


class TrailOrgConnection(models.Model):
    _name = "trail.org.connection"
    _description = "Organisation mail connection"
    _order = "name, id"

    name = fields.Char(required=True)
    active = fields.Boolean(default=True)
    provider = fields.Selection(
        [("google", "Google Workspace"), ("microsoft", "Microsoft 365")], required=True
    )
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, required=True
    )
    domains = fields.Char(
        required=True,
        help="The mail domains of the organisation, separated by commas (firm.example).",
    )
    use_directory = fields.Boolean(
        string="Read the directory",
        help="Find users in Google's directory or in Microsoft Entra ID, not only among the "
        "Odoo users. Needs the directory scope (Google) or User.Read.All (Microsoft).",
    )
    state = fields.Selection(
        [
            (NOT_CHECKED, "Not checked"),
            (READY, "Access granted"),
            (CONSENT_MISSING, "Consent missing"),
            (FAILED, "Error"),
        ],
        default=NOT_CHECKED,
        required=True,
        readonly=True,
        copy=False,
    )
    status_message = fields.Text(string="Status", readonly=True, copy=False)
    missing_scopes = fields.Char(string="Missing scopes or permissions", readonly=True, copy=False)
    checked_at = fields.Datetime(string="Checked on", readonly=True, copy=False)

    # Google Workspace
    google_admin_email = fields.Char(
        string="Administrator",
        help="A Workspace administrator the service account acts as to read the directory "
        "and to check delegation.",
    )
    google_key = fields.Text(
        string="Service-account key", groups=SECRET_GROUP, copy=False, exportable=False
    )
    google_key_input = fields.Text(
        string="Service-account key (JSON)",
        compute="_compute_inputs",
        inverse="_inverse_google_key",
        help="Paste the JSON key to set or replace it. The stored key is never shown.",
    )
    google_key_hint = fields.Char(string="Stored key", compute="_compute_hints")

    # Microsoft 365
    microsoft_tenant = fields.Char(string="Tenant", help="The directory (tenant) id or domain.")
    microsoft_client_id = fields.Char(string="Application (client) id")
    microsoft_client_secret = fields.Char(
        string="Stored client secret", groups=SECRET_GROUP, copy=False, exportable=False
    )
    microsoft_secret_input = fields.Char(
        string="Client secret",
        compute="_compute_inputs",
        inverse="_inverse_microsoft_secret",
        help="Type a secret to set or replace it. The stored secret is never shown.",
    )
    microsoft_certificate_key = fields.Text(
        string="Stored certificate key", groups=SECRET_GROUP, copy=False, exportable=False
    )
    microsoft_certificate_input = fields.Text(
        string="Certificate (PEM)",
        compute="_compute_inputs",
        inverse="_inverse_microsoft_certificate",
        help="Paste the private key and its certificate (PEM) to set or replace them.",
    )
    microsoft_certificate_thumbprint = fields.Char(
        string="Certificate thumbprint", copy=False, help="SHA-1, as Microsoft Entra shows it."
    )
    microsoft_secret_hint = fields.Char(string="Stored credential", compute="_compute_hints")

    line_ids = fields.One2many("trail.org.connection.user", "connection_id", string="Users")
    mailbox_ids = fields.One2many(
        "trail.mailbox", "org_connection_id", string="Organisation mailboxes"
    )
    mailbox_count = fields.Integer(string="Mailboxes", compute="_compute_mailbox_count")

    def write(self, vals):
        result = super().write(vals)
        if vals.get("active") is False:
            # An archived connection reaches no mailbox; say so rather than fail on each step.
            self.with_context(active_test=False).line_ids._stop_mailbox()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_with_mailboxes(self):
        if self.with_context(active_test=False).mailbox_ids:
            raise UserError(
                self.env._(
                    "This connection has mailboxes, which keep their captured mail. Archive the "
                    "connection instead: its mailboxes are paused."
                )
            )

    # ------------------------------------------------------------------ secrets
    def _compute_inputs(self):
        for connection in self:
            connection.google_key_input = False
            connection.microsoft_secret_input = False
            connection.microsoft_certificate_input = False

    def _inverse_google_key(self):
        for connection in self.filtered("google_key_input"):
            try:
                info = parse_key(connection.google_key_input)
            except GmailConfigError as error:
                raise connection._explained_user_error(error) from None
            connection.sudo().google_key = connection.google_key_input.strip()
            connection._forget_check()
            _logger.info(
                "Organisation connection %s: service-account key %s stored",
                connection.id,
                describe_key(info),
            )

    def _inverse_microsoft_secret(self):
        for connection in self.filtered("microsoft_secret_input"):
            # One credential at a time: a new secret replaces a certificate, and the reverse.
            connection.sudo().write(
                {
                    "microsoft_client_secret": connection.microsoft_secret_input.strip(),
                    "microsoft_certificate_key": False,
                    "microsoft_certificate_thumbprint": False,
                }
            )
            connection._forget_check()

    def _inverse_microsoft_certificate(self):
        for connection in self.filtered("microsoft_certificate_input"):
            pem = connection.microsoft_certificate_input.strip()
            if "PRIVATE KEY-----" not in pem:
                raise UserError(
                    self.env._("The PEM holds no private key (BEGIN PRIVATE KEY); paste both.")
                )
            values = {"microsoft_certificate_key": pem, "microsoft_client_secret": False}
            try:
                # Refused now, in words, rather than deep in msal at the first sign-in.
                check_private_key(pem)
                if "BEGIN CERTIFICATE" in pem:
                    values["microsoft_certificate_thumbprint"] = certificate_thumbprint(pem)
            except GraphConfigError as error:
                raise connection._explained_user_error(error) from None
            connection.sudo().write(values)
            connection._forget_check()

    @api.depends("microsoft_certificate_thumbprint")
    def _compute_hints(self):
        for connection in self:
            record = connection.sudo()
            connection.google_key_hint = False
            if record.google_key:
                try:
                    connection.google_key_hint = describe_key(parse_key(record.google_key))
                except GmailConfigError:
                    connection.google_key_hint = self.env._("unreadable key")
            hints = []
            if record.microsoft_client_secret:
                hints.append(self.env._("secret …%s", record.microsoft_client_secret[-4:]))
            if record.microsoft_certificate_key:
                hints.append(
                    self.env._("certificate %s", record.microsoft_certificate_thumbprint or "?")
                )
            connection.microsoft_secret_hint = ", ".join(hints) or False

    def _forget_check(self):
        self.sudo().write({"state": NOT_CHECKED, "status_message": False, "missing_scopes": False})
        _TOKEN_SOURCES.clear()

    def _compute_mailbox_count(self):
        for connection in self:
            connection.mailbox_count = len(connection.mailbox_ids)

    # ------------------------------------------------------------------ configuration
    def _domain_list(self):
        self.ensure_one()
        parts = (self.domains or "").replace(";", ",").replace(" ", ",").split(",")
        return [part.strip().lstrip("@").lower() for part in parts if part.strip()]

    def _in_domains(self, address):
        domain = (address or "").rpartition("@")[2].lower()
        return domain in self._domain_list()

    def _google_info(self):
        self.ensure_one()
        key = self.sudo().google_key
        if not key:
            raise GmailConfigError(
                self.env._("No service-account key is stored; paste the JSON key first.")
            )
        return parse_key(key)

    def _google_endpoints(self):
        return self.env["trail.mailbox"]._google_endpoints()

    def _directory_base(self):
        params = self.env["ir.config_parameter"].sudo()
        return params.get_param(PARAM_DIRECTORY_BASE) or DIRECTORY_BASE

    def _microsoft_endpoints(self):
        return self.env["trail.mailbox"]._microsoft_endpoints()

    def _microsoft_tokens(self):
        """The app-only token source of this connection, shared by its mailboxes."""
        self.ensure_one()
        record = self.sudo()
        if not record.microsoft_client_id:
            raise GraphConfigError(self.env._("Set the application (client) id first."))
        credential = app_credential(
            secret=record.microsoft_client_secret,
            private_key=record.microsoft_certificate_key,
            thumbprint=record.microsoft_certificate_thumbprint,
        )
        endpoints = self._microsoft_endpoints()
        key = (
            self.env.cr.dbname,
            self.id,
            _fingerprint(
                record.microsoft_client_id,
                record.microsoft_tenant,
                record.microsoft_client_secret,
                record.microsoft_certificate_key,
                record.microsoft_certificate_thumbprint,
            ),
            endpoints,
        )
        tokens = _TOKEN_SOURCES.get(key)
        if tokens is None:
            tokens = app_token_source(
                record.microsoft_client_id, credential, record.microsoft_tenant, endpoints
            )
            for stale in [k for k in _TOKEN_SOURCES if k[:2] == key[:2]]:
                del _TOKEN_SOURCES[stale]
            _TOKEN_SOURCES[key] = tokens
        return tokens

    def _client_options(self):
        mailbox_class = type(self.env["trail.mailbox"])
        return {"sleep": mailbox_class._provider_sleep, "clock": mailbox_class._provider_clock}

    # ------------------------------------------------------------------ find users
    def action_find_users(self):
        for connection in self:
            try:
                found = connection._odoo_users_found()
                if connection.use_directory:
                    found = connection._merge_directory(found)
            except (GmailConfigError, GraphConfigError, ProviderError) as error:
                raise connection._explained_user_error(
                    error, self.env._("The users could not be listed.")
                ) from None
            connection._update_lines(found)
        return True

    def _odoo_users_found(self):
        """``{email: {"email", "name", "id", "user"}}`` for the Odoo users in the domains."""
        self.ensure_one()
        found = {}
        users = self.env["res.users"].search(
            [("share", "=", False), ("company_ids", "in", self.company_id.id)]
        )
        for user in users:
            address = (user.email or user.login or "").strip().lower()
            if "@" in address and self._in_domains(address):
                found[address] = {"email": address, "name": user.name, "id": "", "user": user}
        return found

    def _merge_directory(self, found):
        if self.provider == "google":
            listed = []
            admin = self.google_admin_email
            if not admin:
                raise GmailConfigError(
                    self.env._("Set the administrator the service account reads the directory as.")
                )
            for domain in self._domain_list():
                listed += directory_users(
                    self._google_info(),
                    admin,
                    domain,
                    self._google_endpoints(),
                    self._directory_base(),
                )
        else:
            listed = tenant_users(
                self._microsoft_tokens(), self._microsoft_endpoints(), **self._client_options()
            )
        by_login = {}
        for user in self.env["res.users"].search([("share", "=", False)]):
            for address in (user.login, user.email):
                if address:
                    by_login.setdefault(address.strip().lower(), user)
        for entry in listed:
            if not self._in_domains(entry["email"]):
                continue
            known = found.get(entry["email"], {})
            found[entry["email"]] = {
                **entry,
                "user": known.get("user") or by_login.get(entry["email"]),
            }
        return found

    def _update_lines(self, found):
        """Add a line per user found; lines already there keep their choices.

        A user whose address already has a mailbox of this provider that the connection does
        not hold (most often one they connected themselves) is listed but left out, with a
        note. Including them would move that mailbox under the company's control: a careful
        administrator decides that for each person, rather than take it over by default.
        """
        self.ensure_one()
        lines = {line.email: line for line in self.line_ids}
        existing = self._mailboxes_by_address()
        for address, entry in sorted(found.items()):
            user = entry.get("user") or self.env["res.users"]
            values = {"name": entry["name"], "external_id": entry["id"] or False}
            mailbox = existing.get(address)
            held_elsewhere = mailbox and mailbox.org_connection_id != self
            line = lines.get(address)
            if line:
                if user and not line.user_id:
                    values["user_id"] = user.id
                if held_elsewhere and not line.mailbox_id:
                    values["note"] = self._taken_note(mailbox)
                line.write(values)
            else:
                self.env["trail.org.connection.user"].create(
                    {
                        **values,
                        "connection_id": self.id,
                        "email": address,
                        "user_id": user.id or False,
                        "included": bool(user) and not held_elsewhere,
                        "note": self._taken_note(mailbox) if held_elsewhere else False,
                    }
                )

    def _mailboxes_by_address(self):
        """``{address: mailbox}`` for every mailbox of this provider, in any company, archived
        or not; this connection's own mailbox wins when an address has several."""
        self.ensure_one()
        mailboxes = (
            self.env["trail.mailbox"]
            .sudo()
            .with_context(active_test=False)
            .search([("provider", "=", self.provider), ("address", "!=", False)])
        )
        by_address = {}
        for mailbox in mailboxes.sorted(
            lambda m: (m.org_connection_id == self, m.company_id == self.company_id)
        ):
            by_address[mailbox.address.strip().lower()] = mailbox
        return by_address

    def _taken_note(self, mailbox):
        if mailbox.org_connection_id:
            return self.env._(
                "Captured through the organisation connection %s.", mailbox.org_connection_id.name
            )
        return self.env._(
            "Has a personal mailbox; including this user makes it company-managed (its captured "
            "mail is kept)."
        )

    # ------------------------------------------------------------------ check access
    def action_check_access(self):
        for connection in self:
            connection._run_access_check()
        return True

    def _probe_address(self):
        self.ensure_one()
        lines = self.line_ids.filtered("included") or self.line_ids
        return lines[:1].email or False

    def _run_access_check(self):
        """Ask the provider what this connection may do; store the verdict in words."""
        self.ensure_one()
        try:
            if self.provider == "google":
                missing, problems, notes = self._check_google()
            else:
                missing, problems, notes = self._check_microsoft()
        except (GmailConfigError, GraphConfigError, AuthorisationLost) as error:
            missing, problems, notes = (), [error], []
        except TemporaryError as error:
            reached = self.env._("The provider could not be reached: %s", error)
            missing, problems, notes = (), [reached], []
        problems = [self._explain(problem) for problem in problems]
        if missing:
            state = CONSENT_MISSING
            message = self._describe_missing(missing)
            if problems:
                message += "\n" + "\n".join(problems)
        elif problems:
            state, message = FAILED, "\n".join(problems)
        else:
            state = READY
            message = "\n".join(
                [
                    self.env._("Access granted: every needed permission is there."),
                    *(self._explain(note) for note in notes),
                ]
            )
        self.write(
            {
                "state": state,
                "status_message": message,
                "missing_scopes": " ".join(missing) or False,
                "checked_at": fields.Datetime.now(),
            }
        )
        log = _logger.info if state == READY else _logger.warning
        log("Organisation connection %s: access check: %s", self.id, message)
        return state == READY

    def _check_google(self):
        info = self._google_info()
        subject = self.google_admin_email or self._probe_address()
        if not subject:
            raise GmailConfigError(
                self.env._(
                    "Find users first (or set the administrator): delegation is checked by "
                    "acting as one user of the domain."
                )
            )
        scopes = GMAIL_SCOPES + ((DIRECTORY_SCOPE,) if self.use_directory else ())
        return missing_delegation(info, subject, self._google_endpoints(), scopes), [], []

    def _check_microsoft(self):
        probe = self.line_ids.filtered("included")[:1]
        report = check_access(
            self._microsoft_tokens(),
            self._microsoft_endpoints(),
            probe_user=(probe.external_id or probe.email) if probe else None,
            **self._client_options(),
        )
        missing = report.missing
        if self.use_directory and not report.directory and not report.problems:
            missing += ("User.Read.All",)
        return missing, report.problems, report.notes

    def _describe_missing(self, missing):
        if self.provider == "google":
            return self._explain(Finding("", DELEGATION_MISSING, {"scopes": missing}))
        return self.env._(
            "Admin consent is missing for these application permissions of Microsoft Graph: "
            "%(scopes)s. An administrator of tenant %(tenant)s adds them to the app "
            "%(client)s and grants admin consent (Microsoft Entra admin center → App "
            "registrations → API permissions → Grant admin consent).",
            scopes=", ".join(missing),
            tenant=self.microsoft_tenant,
            client=self.microsoft_client_id,
        )

    def _settings_status(self):
        """How this connection stands, in words, for the settings screen: the state on the
        first line (with the missing scopes or permissions), then what the last check said."""
        self.ensure_one()
        states = dict(self._fields["state"]._description_selection(self.env))
        line = f"{self.name}: {states[self.state]}."
        if self.state == NOT_CHECKED:
            line += " " + self.env._("Check access on the connection.")
        if self.missing_scopes:
            # Google's scopes are long addresses; their last part is what the admin looks for.
            names = [scope.rpartition("/")[2] for scope in self.missing_scopes.split()]
            line += " " + self.env._("Missing: %s.", ", ".join(names))
        if self.status_message and self.state in (CONSENT_MISSING, FAILED):
            return f"{line}\n{self.status_message}"
        return line

    # ------------------------------------------------------------------ connect
    def action_connect_users(self):
        for connection in self:
            if not connection._run_access_check():
                raise UserError(connection.status_message)
            connection._connect_users()
        return True

    def _connect_users(self):
        """One mailbox per included user, created or revived; excluded users' paused."""
        self.ensure_one()
        Mailbox = self.env["trail.mailbox"].sudo().with_context(active_test=False)
        started = Mailbox.browse()
        for line in self.line_ids:
            if not line.included:
                line._stop_mailbox()
                continue
            if not line.user_id:
                line.note = self.env._("No Odoo user: choose the user who owns this mailbox.")
                continue
            # One mailbox per address and provider, whoever connected it first: never a second.
            mailbox = line.mailbox_id or self._mailboxes_by_address().get(line.email, Mailbox)
            if mailbox and mailbox.org_connection_id != self:
                problem = line._take_over_problem(mailbox)
                if problem:
                    line.note = problem
                    continue
                line._take_over(mailbox)
                started |= mailbox
            elif not mailbox:
                mailbox = Mailbox.create(line._mailbox_values())
                _logger.info(
                    "Organisation connection %s: mailbox %s created for %s",
                    self.id,
                    mailbox.id,
                    line.email,
                )
                started |= mailbox
            elif line._revive_mailbox(mailbox, adopted=not line.mailbox_id):
                started |= mailbox
            if mailbox.user_id != line.user_id:
                mailbox.user_id = line.user_id
            line.write({"mailbox_id": mailbox.id, "note": False, "stopped_by_exclusion": False})
        for mailbox in started:
            mailbox._org_read_aliases()
        if started:
            started.action_scan_now()
        return started
