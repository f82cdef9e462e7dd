"""Local stand-ins for the mail providers the addon talks to.

What it is: the package of test and demo emulators (``emulators.gmail`` for the Gmail API
v1 and Google OAuth 2.0). Each emulator is a plain-Python HTTP server that binds 127.0.0.1 and
speaks the provider's documented wire protocol, so the addon's production client code runs
against it unchanged apart from endpoint URLs.

How to use it: import the emulator you need, e.g. ``from emulators.gmail import GmailEmulator``.

Caveats: nothing here imports Odoo, and nothing here is meant to run in production.
"""
