"""The redirect Google sends the user back to after the consent screen."""

from werkzeug.utils import redirect

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request

from ..core.provider import ProviderError
from ..core.providers.gmail_oauth import ConsentDenied, OAuthError, code_from_callback
from ..core.providers.gmail_wire import GmailConfigError
from .oauth_state import mailbox_or_error_page


class GoogleOAuthController(http.Controller):
    @http.route("/trail_email/google/callback", type="http", auth="user", methods=["GET"])
    def google_callback(self, **params):
        mailbox, page = mailbox_or_error_page(
            request.env["trail.mailbox"]._google_check_state, params.get("state")
        )
        if page is not None:
            return page
        try:
            code = code_from_callback(params)
            mailbox._google_finish_connect(code)
        except ConsentDenied:
            mailbox._google_fail_connect(
                request.env._("Google access was denied on the consent screen; nothing changed.")
            )
        except (UserError, OAuthError, GmailConfigError, ProviderError) as error:
            mailbox._google_fail_connect(str(error))
        return redirect(f"/odoo/action-trail_email_integration.action_mailboxes/{mailbox.id}")
