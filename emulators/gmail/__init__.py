"""Gmail API v1 + Google OAuth 2.0 emulator (pure standard library, no Odoo).

What it is: a local stand-in for ``gmail.googleapis.com`` and ``oauth2.googleapis.com`` that
google-api-python-client and google-auth use unchanged, serving many users' mailboxes loaded from
.eml files, an mbox / Google Takeout export, or added by tests.

How it works: ``GmailEmulator`` (``emulator.py``) runs a ThreadingHTTPServer (``server.py``) on
127.0.0.1. Routes and parameter checks come from the discovery document shipped with
google-api-python-client (``discovery.py``); mailboxes, labels, threads and history live in
``store.py``; search in ``search.py``; MIME views in ``mime.py``; OAuth in ``oauth.py``; quota,
concurrency and statistics in ``quota.py``; Google-shaped errors in ``wire.py``. Organisation
mode (Workspace domains, service accounts impersonating users through domain-wide delegation,
the Admin SDK Directory ``users.list``) is in ``workspace.py``.

How to use it: in-process ``with GmailEmulator() as emu: ...`` (see ``emulator.py``) or from a
shell ``python -m emulators.gmail --port 8790 --eml-dir DIR`` (see ``__main__.py``).

Caveats: see each module; notably search dates are UTC, resumable uploads are not implemented,
and threads/drafts endpoints answer 501.
"""

from . import wire
from .emulator import GmailEmulator
from .quota import Clock

__all__ = ["Clock", "GmailEmulator", "wire"]
