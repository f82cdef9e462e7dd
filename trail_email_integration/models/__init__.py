"""Odoo models of the email integration; the logic they call lives in ``core``."""

from . import (
    res_partner,
    trail_email_address,
    trail_filing,
    trail_profile_member,
)
