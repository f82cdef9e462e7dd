"""The page Microsoft sends the user back to after its sign-in and consent screen.

Microsoft answers by redirect (GET) as the connect flow asks; a form post (POST, msal's
default) is accepted too. Neither carries Odoo's CSRF token: the signed ``state``, tied to
the user who started the sign-in, stands in for it.
"""

from werkzeug.utils import redirect

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request

from ..core.provider import ProviderError
from ..core.providers.graph_oauth import ConsentDenied, OAuthError
from ..core.providers.graph_wire import GraphConfigError
from .oauth_state import mailbox_or_error_page


class MicrosoftOAuthController(http.Controller):
    @http.route(
        "/trail_email/microsoft/callback",
        type="http",
        auth="user",
        methods=["GET", "POST"],
        csrf=False,
    )
    def microsoft_callback(self, **params):
        mailbox, page = mailbox_or_error_page(
            request.env["trail.mailbox"]._microsoft_check_state, params.get("state")
        )
        if page is not None:
            return page
        try:
            mailbox._microsoft_finish_connect(params)
        except ConsentDenied:
            mailbox._microsoft_fail_connect(
                request.env._(
                    "Microsoft 365 access was denied on the sign-in page; nothing changed."
                )
            )
        except (UserError, OAuthError, GraphConfigError, ProviderError) as error:
            mailbox._microsoft_fail_connect(str(error))
        return redirect(f"/odoo/action-trail_email_integration.action_mailboxes/{mailbox.id}")
