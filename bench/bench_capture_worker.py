"""The memory run's child process: one mailbox backfilled by the real cron, nothing else.

What it is
    The process whose memory ``bench_capture.py`` samples. It opens the bench database, serves
    one mailbox through the real Gmail provider from a Gmail emulator in this process, loaded
    from a :class:`FakeMailbox` saved as JSON, and runs the backfill cron until the mailbox is
    done, each cron run on a fresh cursor as Odoo's cron runner gives it.

How it works
    Loading the fixture costs far more memory than the engine should (every raw message, held
    by the emulator, plus the JSON text while it is decoded). So the emulator is loaded first,
    the garbage collector run and glibc asked to give freed heap back (``malloc_trim``); then
    the child prints
    ``START <rss bytes>`` and the backfill begins. The parent takes that figure as the start.

Use
    ``bench_capture_worker.py CONF DB BOX_JSON`` (started by ``bench_capture.py``). Prints
    ``DONE <messages captured>`` and exits 0 when the mailbox is done; exits 1 on a timeout or
    an error state.

Caveats
    Every due mailbox in the database is backfilled: the parent archives the others first.
"""

import argparse
import contextlib
import ctypes
import gc
import sys
import time

import psutil

import odoo
from odoo.tools import config

TIMEOUT_SECONDS = 6 * 3600


def release_free_heap():
    """Give memory freed by the fixture's loading back to the OS, so "start" is the engine's."""
    gc.collect()
    # Without glibc the start figure includes some of the fixture's freed memory.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("conf")
    parser.add_argument("db")
    parser.add_argument("box")
    args = parser.parse_args()

    config.parse_config(["-c", args.conf, "-d", args.db, "--log-level=warn"])
    from odoo.addons.trail_email_integration.core.fake_provider import FakeMailbox

    registry = odoo.modules.registry.Registry(args.db)
    emulator = serve_through_gmail(registry, FakeMailbox.load(args.box))
    release_free_heap()
    print(f"START {psutil.Process().memory_info().rss}", flush=True)

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with registry.cursor() as cr:
            env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
            Mailbox = env["trail.mailbox"]
            Mailbox._cron_backfill()
            cr.commit()
            if Mailbox.search_count([("state", "=", "error")]):
                print("ERROR the mailbox stopped on an error", flush=True)
                return 1
            if not Mailbox.search_count([("state", "=", "backfilling")]):
                captured = env["trail.mail.location"].search_count([])
                print(f"DONE {captured}", flush=True)
                emulator.stop()
                return 0
    return 1


def serve_through_gmail(registry, box):
    """Load ``box`` into a Gmail emulator and point the bench mailbox at it.

    The emulator's quota is off: this run measures memory, and the Gmail quota would only
    stretch it to many minutes of waiting.
    """
    from emulators.gmail import GmailEmulator

    emulator = GmailEmulator(client_id="bench-client", client_secret="bench-secret").start()
    emulator.set_quota(enabled=False)
    for message in box.messages.values():
        emulator.add_message(box.address, message["raw"], message["labels"], message["date"])
    box.messages.clear()
    base = emulator.base_url
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        params = env["ir.config_parameter"]
        for name, value in {
            "auth_uri": base + "o/oauth2/auth",
            "token_uri": base + "token",
            "revoke_uri": base + "revoke",
            "api_base": base,
            "batch_uri": base + "batch/gmail/v1",
            "client_id": "bench-client",
            "client_secret": "bench-secret",
            "quota_per_minute": "1000000",
        }.items():
            params.set_param(f"trail_email_integration.google_{name}", value)
        tokens = emulator.issue_tokens(box.address)
        mailboxes = env["trail.mailbox"].search([("address", "=", box.address)])
        mailboxes.write({"provider": "google", "google_refresh_token": tokens["refresh_token"]})
    return emulator


if __name__ == "__main__":
    sys.exit(main())
