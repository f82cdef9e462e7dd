"""Command line for the Microsoft emulator: ``python -m emulators.graph``.

What it is: a launcher for demos and manual testing that starts ``GraphEmulator`` on a fixed
port, loads mailboxes and prints the endpoint URLs, the CA bundle path and the client
credentials as one JSON line.

How it works: ``--eml-dir DIR`` imports ``DIR/<email>/[<folder>/]*.eml`` per user (and
``DIR/*.eml`` for ``--user``); ``--mbox USER=FILE`` imports an mbox, filing each message by
its ``X-Folder`` header. ``--org-app FILE`` registers an organisation app in the first user's
tenant (consented Mail.Read, Mail.Send, User.Read.All) and writes its credentials (client id,
secret, certificate and key PEM, thumbprint) there. Then it serves until interrupted.

How to use it::

    python -m emulators.graph --port 8791 --eml-dir fixtures/ --user ann@contoso.example \\
        --client-id demo-client --client-secret demo-secret --auto-consent accept

Caveats: binds 127.0.0.1 only; all state is in memory and lost on exit; the CA bundle is a
temporary file that lives as long as the process.
"""

import argparse
import dataclasses
import json
import logging
import signal
import threading

from .emulator import GraphEmulator

ORG_ROLES = ("Mail.Read", "Mail.Send", "User.Read.All")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m emulators.graph", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8791, help="0 picks a free port")
    parser.add_argument("--eml-dir", action="append", default=[])
    parser.add_argument("--mbox", action="append", default=[], help="USER=FILE")
    parser.add_argument("--user", action="append", default=[], help="a user to create")
    parser.add_argument("--client-id", default="emulator-client-id")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--redirect-uri", action="append", help="registered redirect URIs")
    parser.add_argument("--token-ttl", type=int, default=3599)
    parser.add_argument("--throttle-scale", type=float, default=1.0)
    parser.add_argument("--delta-max-age", type=float, help="seconds before delta tokens 410")
    parser.add_argument("--auto-consent", choices=("accept", "cancel"))
    parser.add_argument(
        "--org-app", help="write a new app's credentials (JSON) for the first user's tenant"
    )
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def write_org_app(emulator, path, user):
    """An app consented Mail.Read, Mail.Send and User.Read.All, as an admin would set it up."""
    if user is None:
        raise SystemExit("--org-app needs --user (its tenant gets the app)")
    app = emulator.create_app(emulator.user(user).tenant, roles=ORG_ROLES)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(app), handle, indent=2)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    emulator = GraphEmulator(
        args.host,
        args.port,
        client_id=args.client_id,
        client_secret=args.client_secret,
        redirect_uris=args.redirect_uri,
        default_user=args.user[0] if args.user else None,
        token_ttl=args.token_ttl,
        auto_consent=args.auto_consent,
        throttle_scale=args.throttle_scale,
        delta_max_age=args.delta_max_age,
    )
    for user in args.user:
        emulator.add_user(user)
    for directory in args.eml_dir:
        emulator.load_eml_dir(directory, args.user[0] if args.user else None)
    for spec in args.mbox:
        user, separator, path = spec.partition("=")
        if not separator:
            raise SystemExit("--mbox needs USER=FILE")
        emulator.load_mbox(path, user)
    emulator.start()
    if args.org_app:
        write_org_app(emulator, args.org_app, args.user[0] if args.user else None)
    print(
        json.dumps(
            {
                "base_url": emulator.base_url,
                "authority_base": emulator.authority_base,
                "authority": emulator.authority("common"),
                "graph_base": emulator.graph_base,
                "ca_bundle": emulator.ca_bundle,
                "client_id": args.client_id,
                "client_secret": args.client_secret,
                "tenants": {t.domain: t.id for t in emulator.tenants.values()},
                "users": {
                    upn: len(user.messages)
                    for tenant in emulator.tenants.values()
                    for upn, user in tenant.users.items()
                },
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
