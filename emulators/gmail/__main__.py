"""Command line for the Gmail emulator: ``python -m emulators.gmail``.

What it is: a launcher for demos and manual testing that starts ``GmailEmulator`` on a fixed
port, loads mailboxes and prints the endpoint URLs and client credentials as one JSON line.

How it works: ``--eml-dir DIR`` imports ``DIR/<email>/*.eml`` per user (and ``DIR/*.eml`` for
``--user``); ``--mbox FILE`` or ``--mbox USER=FILE`` imports an mbox such as a Google Takeout
export. Organisation mode: ``--domain-user EMAIL`` (repeatable) adds Workspace users,
``--admin EMAIL`` makes one a domain administrator, and ``--service-account-key FILE`` writes the
JSON key of a new service account delegated Gmail and Directory read scopes in every domain of
those users. Then it serves until interrupted.

How to use it::

    python -m emulators.gmail --port 8790 --eml-dir fixtures/ --user me@example.com \\
        --client-id demo-client --client-secret demo-secret --auto-consent allow

Caveats: binds 127.0.0.1 only; all state is in memory and lost on exit.
"""

import argparse
import json
import logging
import signal
import threading

from .emulator import GmailEmulator
from .oauth import DEFAULT_SCOPE
from .workspace import DIRECTORY_READ_SCOPES

ORG_SCOPES = (DEFAULT_SCOPE, DIRECTORY_READ_SCOPES[0])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m emulators.gmail", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790, help="0 picks a free port")
    parser.add_argument("--eml-dir", action="append", default=[])
    parser.add_argument("--mbox", action="append", default=[], help="FILE or USER=FILE")
    parser.add_argument("--user", help="owner of loose .eml files and of --mbox FILE")
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--token-ttl", type=int, default=3599)
    parser.add_argument("--quota-scale", type=float, default=1.0)
    parser.add_argument("--concurrency-limit", type=int)
    parser.add_argument("--history-max-age", type=float, default=7 * 86400)
    parser.add_argument("--auto-consent", choices=("allow", "deny"))
    parser.add_argument("--domain-user", action="append", default=[], help="a Workspace user")
    parser.add_argument("--admin", action="append", default=[], help="a domain administrator")
    parser.add_argument("--service-account-key", help="write a service account's JSON key here")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def write_service_account_key(emulator, path):
    key = emulator.create_service_account()
    for domain in emulator.workspace.domains:
        emulator.delegate(key["client_id"], domain, ORG_SCOPES)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(key, handle, indent=2)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    emulator = GmailEmulator(
        args.host,
        args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        default_user=args.user,
        token_ttl=args.token_ttl,
        quota_scale=args.quota_scale,
        concurrency_limit=args.concurrency_limit,
        history_max_age=args.history_max_age,
        auto_consent=args.auto_consent,
    )
    if args.user:
        emulator.add_user(args.user)
    for directory in args.eml_dir:
        emulator.load_eml_dir(directory, args.user)
    for spec in args.mbox:
        user, _, path = spec.rpartition("=") if "=" in spec else (args.user, "", spec)
        if not user:
            raise SystemExit("--mbox FILE needs --user (or use --mbox USER=FILE)")
        emulator.load_mbox(path, user)
    for email in args.domain_user + args.admin:
        emulator.add_domain_user(email, admin=email in args.admin)
    emulator.start()
    if args.service_account_key:
        write_service_account_key(emulator, args.service_account_key)
    print(
        json.dumps(
            {
                "base_url": emulator.base_url,
                "auth_uri": emulator.auth_uri,
                "token_uri": emulator.token_uri,
                "revoke_uri": emulator.revoke_uri,
                "batch_url": emulator.batch_url,
                "client_id": args.client_id,
                "client_secret": args.client_secret,
                "users": {u: len(b.messages) for u, b in emulator.mailboxes.items()},
            }
        ),
        flush=True,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
