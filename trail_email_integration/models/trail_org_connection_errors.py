"""Organisation connections: what went wrong, in words an administrator can act on.

What it is
    :meth:`TrailOrgConnection._explain` turns an error, or a finding of *Check access*, from
    the organisation helpers (``core/providers/gmail_org.py`` and ``graph_org.py``) into a
    translated sentence that says what is wrong and what to do about it.

How it works
    The helpers stay free of Odoo and speak English; an error a person can fix names its
    ``reason`` and the ``facts`` a sentence needs (``core.provider.Explained``). This module
    holds one sentence per reason, fills it with those facts and with what the connection
    knows (its client id, tenant and scopes), and adds the provider's own words on a line of
    their own, after the sentence, for whoever has to dig further. An error without a known
    reason keeps its message.

Use
    ``connection._explain(error)``; ``connection._explained_user_error(error, prefix)`` for an
    error shown at once in a dialog, which also logs it at WARNING.

Caveats
    The sentences name the Google Cloud, Google Admin and Microsoft Entra screens as they are
    labelled in English; the consoles rename them from time to time.
"""

import logging

from odoo import models
from odoo.exceptions import UserError
from odoo.tools.translate import LazyTranslate

from ..core.providers import gmail_org, graph_org
from ..core.providers.gmail_errors import TOKEN_REFUSED
from ..core.providers.gmail_wire import SCOPES as GMAIL_SCOPES
from ..core.providers.gmail_wire import GmailConfigError
from ..core.providers.graph_errors import PERMISSION_MISSING, SIGN_IN_REFUSED, TENANT_UNKNOWN

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

SENTENCES = {
    # Google Workspace
    gmail_org.KEY_NOT_JSON: _lt(
        "The service-account key is not valid JSON; paste the whole JSON key file, as "
        "downloaded from the Google Cloud console."
    ),
    gmail_org.KEY_NOT_SERVICE_ACCOUNT: _lt(
        "This is not a service-account key: in the Google Cloud console, open the service "
        "account, then Keys → Add key → Create new key → JSON, and paste that file."
    ),
    gmail_org.KEY_INCOMPLETE: _lt(
        "The service-account key lacks %(fields)s; download a new JSON key for the service "
        "account and paste it whole."
    ),
    gmail_org.KEY_UNREADABLE: _lt(
        "The service-account key's private key cannot be read; download a new JSON key for the "
        "service account and paste it again."
    ),
    gmail_org.DELEGATION_REFUSED: _lt(
        "Google refused the service account acting as %(subject)s (%(code)s): check that "
        "domain-wide delegation is set up for client id %(client)s with these scopes: "
        "%(scopes)s; that %(subject)s is an active user of the domain; and that the key has not "
        "been deleted or disabled in the Google Cloud console."
    ),
    gmail_org.DELEGATION_MISSING: _lt(
        "Domain-wide delegation is missing for these scopes: %(scopes)s. A Workspace super "
        "administrator adds them for the service account's client id %(client)s in the Google "
        "Admin console (Security → Access and data control → API controls → Manage domain-wide "
        "delegation)."
    ),
    gmail_org.DIRECTORY_REFUSED: _lt(
        "Google refused to list the users of %(domain)s acting as %(admin)s (%(status)s): the "
        "administrator must hold an admin role that may read users. Set another administrator, "
        "or untick Read the directory."
    ),
    # Microsoft 365
    graph_org.CREDENTIAL_REFUSED: _lt(
        "Microsoft refused the app's credential (%(code)s): the client secret or certificate is "
        "wrong, expired or not registered on the app %(client)s. In the Microsoft Entra admin "
        "center (App registrations → the app → Certificates & secrets), add a new client secret "
        "and paste its value (not its id), or upload the certificate whose private key you "
        "paste here."
    ),
    graph_org.APP_UNKNOWN: _lt(
        "Microsoft does not know the application %(client)s in the tenant %(tenant)s "
        "(%(code)s): check the application (client) id and the directory (tenant) id on the "
        "app's overview page in the Microsoft Entra admin center."
    ),
    TENANT_UNKNOWN: _lt(
        "Microsoft does not know the tenant %(tenant)s: type the directory (tenant) id shown on "
        "the app's overview page in the Microsoft Entra admin center, or the tenant's primary "
        "domain."
    ),
    SIGN_IN_REFUSED: _lt(
        "Microsoft refused the app's sign-in (%(code)s): check the tenant, the application "
        "(client) id and the credential, then check access again."
    ),
    PERMISSION_MISSING: _lt(
        "Microsoft refused the request (%(code)s): the app lacks the %(permission)s application "
        "permission, or it has no admin consent. Add it in the Microsoft Entra admin center "
        "(App registrations → API permissions) and grant admin consent."
    ),
    graph_org.CERTIFICATE_MISSING: _lt(
        "No certificate (BEGIN CERTIFICATE) was found in the PEM; paste the certificate with "
        "its private key, or type its thumbprint."
    ),
    graph_org.CERTIFICATE_UNREADABLE: _lt(
        "The certificate in the PEM cannot be read; export it again as PEM (Base64) and paste "
        "it with its private key."
    ),
    graph_org.PRIVATE_KEY_UNREADABLE: _lt(
        "The certificate's private key cannot be read; export it again as an unencrypted PEM "
        "(BEGIN PRIVATE KEY) and paste it with its certificate."
    ),
    graph_org.THUMBPRINT_NEEDED: _lt(
        "A certificate needs its thumbprint: paste the certificate with its private key, or "
        "type the thumbprint Microsoft Entra shows for it."
    ),
    graph_org.CREDENTIAL_NEEDED: _lt("Set a client secret or a certificate for the app."),
    graph_org.TENANT_NEEDED: _lt(
        "Type the directory (tenant) id, or the tenant's primary domain: client credentials "
        "belong to one tenant, so common, organizations and consumers do not work here."
    ),
    graph_org.MAILBOX_REFUSED: _lt(
        "Microsoft refused to read the mailbox of %(user)s (%(code)s): the app lacks Mail.Read "
        "for it, or an Exchange application access policy or RBAC scope leaves this mailbox "
        "out. Grant the permission, bring the mailbox into the scope, or exclude the user."
    ),
    graph_org.NO_MAILBOX: _lt(
        "Microsoft found no mailbox for %(user)s (%(code)s): give the user an Exchange Online "
        "licence, or exclude them from the connection."
    ),
    graph_org.TOKEN_NOT_ACCEPTED: _lt(
        "Microsoft did not accept the app's token for the mailbox of %(user)s: check access "
        "again in a few minutes; if it goes on, check the tenant and the app's permissions."
    ),
    graph_org.RBAC_GRANTED: _lt(
        "Mail access is not consented in Microsoft Entra ID, yet the mailbox of %(user)s can be "
        "read: it is granted through Exchange RBAC for Applications. Sending works only if "
        "Application Mail.Send is assigned there too."
    ),
}
DIRECTORY_HINT = _lt("Without it, untick Read the directory.")
DETAILS = _lt("Details: %s")
# The sentence says all there is: the English text would only repeat it.
NO_DETAILS = frozenset(
    {
        graph_org.RBAC_GRANTED,
        graph_org.CREDENTIAL_NEEDED,
        graph_org.THUMBPRINT_NEEDED,
        graph_org.TENANT_NEEDED,
        graph_org.CERTIFICATE_MISSING,
    }
)


class TrailOrgConnection(models.Model):
    _inherit = "trail.org.connection"

    def _explain(self, error, subject=None):
        """``error`` (or a check's finding) as a translated sentence saying what to do,
        followed by the provider's own words; its message alone when its reason is unknown.

        ``subject`` is the user the connection acted as, for a token refused while reading a
        mailbox.
        """
        self.ensure_one()
        reason = getattr(error, "reason", None)
        facts = dict(getattr(error, "facts", {}))
        if reason == TOKEN_REFUSED:
            # A mailbox's own token: the service account acting as its user.
            code = facts.get("code", "")
            reason = (
                gmail_org.DELEGATION_MISSING
                if code in gmail_org.NOT_DELEGATED
                else gmail_org.DELEGATION_REFUSED
            )
            facts.setdefault("subject", subject or "?")
        template = SENTENCES.get(reason)
        if template is None:
            return str(error)
        sentence = self._fill(template, self._sentence_values(facts))
        if reason == PERMISSION_MISSING and facts.get("permission") == "User.Read.All":
            sentence += " " + self.env._(DIRECTORY_HINT)
        if reason in NO_DETAILS or not str(error):
            return sentence
        return sentence + "\n" + self._fill(DETAILS, (str(error),))

    def _fill(self, template, values):
        """The lazy term ``template`` in the user's language, filled with ``values``.

        A lazy term takes no values where it is written; these come with the error. As
        ``env._`` does for its own arguments, a translation that lost a placeholder falls
        back to the English sentence.
        """
        translated = self.env._(template)
        english = self.with_context(lang="en_US").env._(template)
        try:
            return translated % values
        except (KeyError, TypeError, ValueError):
            return english % values

    def _sentence_values(self, facts):
        """The facts of an error, with what the connection knows for those they leave out."""
        record = self.sudo()
        if self.provider == "google":
            client = facts.get("client_id") or self._google_client_id()
        else:
            client = record.microsoft_client_id
        values = dict.fromkeys(("subject", "code", "user", "permission", "status", "fields"), "?")
        values.update(
            client=client or "?",
            tenant=record.microsoft_tenant or "?",
            scopes=self._needed_scopes(),
            admin=self.google_admin_email or "?",
            domain=", ".join(self._domain_list()) or "?",
        )
        values.update((key, value) for key, value in facts.items() if value not in (None, "", ()))
        for key in ("scopes", "fields"):
            if isinstance(values[key], tuple | list):
                values[key] = ", ".join(values[key])
        return values

    def _google_client_id(self):
        try:
            return self._google_info().get("client_id")
        except GmailConfigError:
            return None

    def _needed_scopes(self):
        if self.provider != "google":
            return ()
        return GMAIL_SCOPES + ((gmail_org.DIRECTORY_SCOPE,) if self.use_directory else ())

    def _explained_user_error(self, error, prefix=None):
        """A UserError leading with the sentence for ``error``; the detail also goes to the
        log at WARNING."""
        message = self._explain(error)
        _logger.warning("Organisation connection %s: %s", self.id or "(new)", error)
        if prefix:
            message = f"{prefix} {message}"
        return UserError(message)
