"""Odoo models of the email integration; the logic they call lives in ``core``."""
