"""Microsoft identity platform v2.0 + Graph v1.0 mail emulator (pure Python, no Odoo).

What it is: a local stand-in for ``login.microsoftonline.com`` and ``graph.microsoft.com`` that
msal and ``requests`` use unchanged apart from URLs and a CA bundle, serving the mailboxes of
several users in several tenants, loaded from .eml files or an mbox, or added by tests.

How it works: ``GraphEmulator`` (``emulator.py``) runs an HTTPS ThreadingHTTPServer on
127.0.0.1 with a CA made at start (``tls.py``), because msal only accepts an https authority.
Identity endpoints are in ``identity.py`` and ``tokens.py``, app registrations (secrets,
certificates, home tenant) in ``apps.py``; the tenant's user list in ``directory.py``; Graph
routes in ``api.py``,
``outgoing.py`` and ``batch.py``; resources in ``resources.py``; the mailbox store in
``store.py``; delta in ``delta.py``; throttling and statistics in ``throttle.py``; error
shapes in ``wire.py``. The clock, the request handler and scripted failures are shared with
``emulators.gmail``.

How to use it: in-process ``with GraphEmulator() as emu: ...`` (see ``emulator.py``), or from
a shell ``python -m emulators.graph --port 8791 --eml-dir DIR`` (see ``__main__.py``). Clients
pass ``emu.ca_bundle`` as ``verify=`` and msal needs ``instance_discovery=False``.

Caveats: requests ignores ``Session.verify`` when ``REQUESTS_CA_BUNDLE`` is set in the
environment (it is on many CI images); give such sessions ``trust_env = False`` or pass
``verify=`` on each call. See each module for the rest; notably tokens are unsigned, folder
delta and ``$expand`` are not served, and only ``receivedDateTime`` filters are understood.
"""

from . import wire
from .emulator import DEFAULT_SCOPES, GraphEmulator

__all__ = ["DEFAULT_SCOPES", "GraphEmulator", "wire"]
