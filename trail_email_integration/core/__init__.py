"""Pure-Python parts of the addon: parsing, matching and provider clients.

Nothing under this package imports Odoo, so it can be read and tested on its own. The Odoo models
in ``models`` stay thin and call into it.
"""
