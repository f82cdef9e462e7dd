"""Provider clients: one module per mail host, each implementing :mod:`..provider`.

What it is
    The code that talks to a mail host's API on behalf of the capture engine. ``gmail`` serves
    Google Workspace and Gmail mailboxes through the Gmail API; ``gmail_oauth`` holds the
    consent-screen helpers the Odoo controller uses to connect one; ``quota`` paces calls under
    a per-mailbox budget.

How it works
    Each provider sorts every failure into the four kinds of :mod:`..provider`
    (temporary, cursor expired, authorisation lost, message error), so the engine never sees a
    host's own exceptions.

Use
    Build a provider with the stored refresh token and hand it to the engine; see each module.

Caveats
    Nothing here imports Odoo. Providers are synchronous and meant for one mailbox at a time.
"""

import warnings

# google-api-core warns at import time about Python releases it will stop supporting in a year
# or more; it says nothing about this addon, and would land in Odoo's log on every start.
warnings.filterwarnings("ignore", message="You are using a Python version", category=FutureWarning)
