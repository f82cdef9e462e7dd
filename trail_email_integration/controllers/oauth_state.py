"""What both OAuth callbacks do first: find the mailbox the signed ``state`` names."""

from odoo.exceptions import AccessError
from odoo.http import request


def mailbox_or_error_page(check_state, state):
    """``(mailbox, None)``, or ``(None, page)`` with the error page to answer instead.

    ``check_state`` is the provider's state check on ``trail.mailbox``: it raises AccessError
    for a state that is forged, expired or another user's, and returns an empty recordset
    when the mailbox was deleted since the sign-in began.
    """
    try:
        mailbox = check_state(state)
    except AccessError as error:
        page = request.render(
            "trail_email_integration.oauth_error", {"message": str(error)}, status=403
        )
        return None, page
    if not mailbox:
        page = request.render(
            "trail_email_integration.oauth_error",
            {"message": request.env._("This mailbox no longer exists.")},
            status=404,
        )
        return None, page
    return mailbox, None
