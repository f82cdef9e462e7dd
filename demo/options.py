"""The demo's command line, checked before any set-up work.

What it is
    The options of ``./dev demo`` and the check of ``--mbox``, with the standard library only,
    so ``./dev`` can print the help and refuse a bad mbox at once, before it sets up the
    virtualenv, the database and the addon (``python -m demo.options ARGS``, exit 0 when the
    demo may go on). ``demo/run.py`` parses its arguments with the same :func:`parse`.

How it works
    An mbox holds one message per line that starts with ``From `` (what the standard library's
    ``mailbox.mbox`` reads) and opens on such a line, so a file whose first non-blank line is
    anything else is empty or not an mbox at all (``mailbox.mbox`` would silently drop the
    text before a ``From `` further down). The check reads no further than that line.

Caveats
    A refusal is one line on stderr and exit status 2, as for any other wrong argument.
"""

import argparse
import sys
from pathlib import Path

PROG = "./dev demo"


def parser():
    options = argparse.ArgumentParser(
        prog=PROG,
        description="The demo: Odoo with the addon, and an emulated mailbox of real email.",
        epilog="./dev also passes Odoo's configuration file, database and port (--conf, --db, "
        "--http-port, hidden here); set TRAIL_DB or TRAIL_HTTP_PORT to change the last two.",
    )
    options.add_argument(
        "--provider", choices=["google", "microsoft"], default="google",
        help="the emulated provider: Gmail (default) or Microsoft 365",
    )  # fmt: skip
    options.add_argument(
        "--gmail-port", type=int, default=8790, metavar="PORT",
        help="port of the emulator, Gmail or Microsoft Graph (./dev: TRAIL_GMAIL_PORT)",
    )  # fmt: skip
    options.add_argument(
        "--mbox", metavar="PATH", help="load this mbox instead of the bundled real messages"
    )
    options.add_argument("--headless", action="store_true", help="print a summary and stop")
    # Set by ./dev.
    options.add_argument("--conf", required=True, help=argparse.SUPPRESS)
    options.add_argument("--db", required=True, help=argparse.SUPPRESS)
    options.add_argument("--http-port", type=int, default=8069, help=argparse.SUPPRESS)
    options.add_argument("--stops-database", action="store_true", help=argparse.SUPPRESS)
    return options


def mbox_problem(path):
    """Why ``path`` cannot be the demo's mbox, or None when it holds at least one message."""
    path = Path(path)
    if not path.exists():
        return f"no such mbox file: {path}"
    if path.is_dir():
        return f"{path} is a directory, not an mbox file"
    try:
        with path.open("rb") as mbox:
            # An mbox opens on a "From " line; a text with one further down is not an mbox.
            first = next((line for line in mbox if line.strip()), b"")
            if first.startswith(b"From "):
                return None
    except OSError as error:
        return f"cannot read {path}: {error.strerror or error}"
    return f"no messages found in {path}: is it an mbox file?"


def parse(argv=None):
    """The demo's arguments; refuses a bad ``--mbox`` with one line and exit status 2."""
    args = parser().parse_args(argv)
    problem = args.mbox and mbox_problem(args.mbox)
    if problem:
        print(f"{PROG}: {problem}", file=sys.stderr)
        sys.exit(2)
    return args


if __name__ == "__main__":
    parse()
