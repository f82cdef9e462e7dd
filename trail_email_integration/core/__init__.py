"""Pure-Python building blocks of the addon, importable without Odoo."""
