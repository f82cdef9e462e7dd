"""Odoo models of the email integration; the logic they call lives in ``core``."""

from . import (
    mail_mail,
    res_config_settings,
    res_partner,
    res_partner_timeline,
    res_users,
    trail_capture_policy,
    trail_email_address,
    trail_filing,
    trail_mail,
    trail_mail_parts,
    trail_mail_security,
    trail_mailbox,
    trail_mailbox_google,
    trail_mailbox_microsoft,
    trail_mailbox_send,
    trail_mailbox_status,
    trail_mailbox_sync,
    trail_org_connection,
    trail_org_mailbox,
    trail_profile_member,
)
