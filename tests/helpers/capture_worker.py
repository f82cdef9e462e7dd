"""A cron worker in its own process, for the crash and concurrency checks of the capture engine.

Usage: ``capture_worker.py CONF DB BOX_JSON COMMAND [--delay SECONDS]``, where COMMAND is
``setup`` (create the mailbox), ``backfill`` (run the backfill cron until the mailbox is done)
or ``scan`` (run the scan cron once). The mailbox is served by a FakeProvider that reads
BOX_JSON, so every worker sees the same messages.
"""

import argparse
import sys
import time

import odoo
from odoo.tools import config


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("conf")
    parser.add_argument("db")
    parser.add_argument("box")
    parser.add_argument("command", choices=["setup", "backfill", "scan"])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--address", default="adviser@firm.example")
    args = parser.parse_args()

    config.parse_config(["-c", args.conf, "-d", args.db, "--log-level=warn"])
    from odoo.addons.trail_email_integration.core.fake_provider import (
        FakeMailbox,
        FakeProvider,
    )

    registry = odoo.modules.registry.Registry(args.db)
    mailbox_class = registry["trail.mailbox"]
    provider = FakeProvider(FakeMailbox.load(args.box), fetch_delay=args.delay)
    mailbox_class._make_provider = lambda _self: provider

    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        Mailbox = env["trail.mailbox"]
        if args.command == "setup":
            Mailbox.create({"address": args.address, "provider": "google", "state": "backfilling"})
            return 0
        if args.command == "scan":
            Mailbox._cron_scan()
            return 0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            Mailbox._cron_backfill()
            cr.commit()
            if not Mailbox.search_count([("state", "=", "backfilling")]):
                return 0
            time.sleep(0.05)
    return 1


if __name__ == "__main__":
    sys.exit(main())
