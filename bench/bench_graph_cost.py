"""Microsoft 365 backfill benchmark: HTTP requests and Graph requests per captured message.

What it is
    A measure of what the Graph provider costs during a backfill. It loads one mailbox into the
    Graph emulator, connects it through the real sign-in flow (msal, PKCE, consent), then runs
    what the capture engine runs: ``current_cursor()`` first, then ``list_window`` pages of
    500, ``fetch`` in chunks of 50 and ``link_attachments`` for each chunk's messages with
    attachments, until the window is exhausted. Target: at most 1.1 HTTP
    requests per captured message, a ``$batch`` counting as one.

How it works
    1. Starts a ``GraphEmulator`` in this process (HTTPS with its own CA) and fills the
       mailbox with ``--messages`` generated messages over seven years (the Gmail bench's
       generator), spread over Inbox, Sent Items, Archive and two client folders; a further
       5% go to Deleted Items and Junk Email, which are never captured.
    2. Connects through ``graph_oauth`` and backfills through ``GraphProvider`` with the
       emulator's limits on (4 requests in flight and 10,000 per 10 minutes per mailbox).
    3. Reads the emulator's accounting: every HTTP request on the wire (identity included),
       the batches, their inner requests, and Graph requests per mailbox (top-level plus
       inner, which is what Graph's own limits count).
    4. Prints a table and writes the ``bench:graph-cost`` section of ``bench/RESULTS.md``.

Use
    ``.venv/bin/python bench/bench_graph_cost.py --messages 5000 [--no-write]``; it exits
    non-zero when a figure misses its target.

Caveats
    The emulator answers from memory on 127.0.0.1, so wall-clock rates say nothing about
    Microsoft; read the ratios. The first ``current_cursor`` pass is included, as the engine
    makes it before every backfill.
"""

import argparse
import random
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from bench_gmail_cost import generated_message, load_core, machine, table  # noqa: E402

RESULTS = BENCH / "RESULTS.md"
SECTION_START = "<!-- bench:graph-cost -->"
SECTION_END = "<!-- /bench:graph-cost -->"
OWNER = "adviser@firm.example"
CLIENT_ID, CLIENT_SECRET = "bench-app", "bench-secret"
REDIRECT = "http://localhost:8069/trail/microsoft/callback"
SEED = 20240601
YEARS = 7
PAGE_SIZE = 500  # the engine's backfill page
BATCH_SIZE = 50  # the engine's fetch chunk
TARGET_HTTP = 1.1
FOLDERS = (
    ("inbox", 55),
    ("sentitems", 25),
    ("archive", 5),
    ("Clients/Acme", 5),
    ("Clients/Globex", 5),
    ("deleteditems", 3),
    ("junkemail", 2),
)
SKIPPED = ("deleteditems", "junkemail")


def fill_mailbox(emu, count):
    """Generate ``count`` captured messages plus the skipped ones; return the captured count."""
    rng = random.Random(SEED)
    for folder, _ in FOLDERS:
        if "/" in folder:
            emu.add_folder(OWNER, folder)
    names = [name for name, _ in FOLDERS]
    weights = [weight for _, weight in FOLDERS]
    newest = datetime.fromtimestamp(emu.clock.time(), timezone.utc) - timedelta(hours=1)
    span = timedelta(days=365 * YEARS - 2)
    captured = number = 0
    while captured < count:
        when = newest - span * captured / max(count, 1)
        raw, _ = generated_message(rng, number, when)
        folder = rng.choices(names, weights)[0]
        emu.add_message(OWNER, raw, folder=folder, received=when)
        captured += folder not in SKIPPED
        number += 1
    return captured, number - captured


def connect(graph_oauth, endpoints):
    """The sign-in flow, answered as the user would; returns the serialized token cache."""
    flow = graph_oauth.initiate_auth_code_flow(
        CLIENT_ID, CLIENT_SECRET, "organizations", REDIRECT, "bench", endpoints=endpoints,
        login_hint=OWNER,
    )  # fmt: skip
    session = graph_oauth.make_session(endpoints.ca_bundle)
    page = session.get(flow["auth_uri"], allow_redirects=False)
    answer = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    grant = graph_oauth.complete_auth_code_flow(
        CLIENT_ID, CLIENT_SECRET, "organizations", flow, answer, endpoints=endpoints
    )
    return grant.token_cache


def run(count):
    load_core()
    from trail_email_core.providers import graph, graph_oauth

    from emulators.graph import GraphEmulator

    with GraphEmulator(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uris=[REDIRECT],
        auto_consent="accept",
    ) as emu:
        emu.add_user(OWNER, "Ada Adviser")
        wanted, skipped = fill_mailbox(emu, count)
        endpoints = graph.GraphEndpoints.at(emu.authority_base, emu.ca_bundle)
        cache = connect(graph_oauth, endpoints)

        def sleep(seconds):
            emu.clock.advance(seconds)

        emu.reset_stats()
        started = time.monotonic()
        provider = graph.GraphProvider(
            CLIENT_ID, CLIENT_SECRET, "organizations", endpoints, token_cache=cache,
            sleep=sleep, clock=emu.clock.time,
        )  # fmt: skip
        provider.current_cursor()
        after_cursor = emu.stats()
        start = datetime.fromtimestamp(emu.clock.time(), timezone.utc) - timedelta(days=365 * YEARS)
        captured, position, pages, listed = set(), None, 0, 0
        while True:
            page = provider.list_window(start, position, PAGE_SIZE)
            pages += 1
            for first in range(0, len(page.refs), BATCH_SIZE):
                fetched = [
                    result
                    for result in provider.fetch(page.refs[first : first + BATCH_SIZE])
                    if hasattr(result, "raw")
                ]
                captured.update(result.ref.provider_id for result in fetched)
                # The engine then asks for the cloud links of the messages with attachments.
                with_attachments = [r.ref for r in fetched if r.ref.has_attachments]
                provider.link_attachments(with_attachments)
                listed += len(with_attachments)
            position = page.next_position
            if position is None:
                break
        wall = time.monotonic() - started
        stats = emu.stats()
        mailbox = stats["users"].get(OWNER, {})
    return {
        "generated": wanted,
        "skipped": skipped,
        "captured": len(captured),
        "pages": pages,
        "listed": listed,
        "http": stats["http_requests"],
        "http_cursor": after_cursor["http_requests"],
        "batches": stats["batch_requests"],
        "inner": stats["batch_inner_requests"],
        "graph": mailbox.get("requests", 0) + mailbox.get("inner_requests", 0),
        "throttled": mailbox.get("throttled", 0),
        "wall": wall,
    }


def report(figures, count):
    n = max(figures["captured"], 1)
    per_http = figures["http"] / n
    backfill_http = (figures["http"] - figures["http_cursor"]) / n
    ok = per_http <= TARGET_HTTP and figures["captured"] == figures["generated"]
    rows = [
        ["messages captured", f"{figures['captured']:,} of {figures['generated']:,}"],
        ["messages in skipped folders (not captured)", f"{figures['skipped']:,}"],
        ["backfill pages (list_window)", f"{figures['pages']:,}"],
        ["messages with attachments (listed for links)", f"{figures['listed']:,}"],
        ["HTTP requests on the wire (a $batch is one)", f"{figures['http']:,}"],
        ["of which current_cursor", f"{figures['http_cursor']:,}"],
        ["$batch requests", f"{figures['batches']:,}"],
        ["requests inside batches", f"{figures['inner']:,}"],
        ["Graph requests counted for the mailbox", f"{figures['graph']:,}"],
        ["requests throttled (429)", f"{figures['throttled']:,}"],
        ["wall-clock seconds", f"{figures['wall']:.1f}"],
    ]
    checks = [
        ["HTTP requests per captured message", f"{per_http:.4f}", f"≤ {TARGET_HTTP}",
         "PASS" if per_http <= TARGET_HTTP else "FAIL"],
        ["HTTP requests per message, backfill only", f"{backfill_http:.4f}", "", ""],
        ["inner batch requests per message", f"{figures['inner'] / n:.4f}", "", ""],
        ["Graph requests per message", f"{figures['graph'] / n:.4f}", "", ""],
        ["messages lost", f"{figures['generated'] - figures['captured']:,}", "0",
         "PASS" if figures["captured"] == figures["generated"] else "FAIL"],
    ]  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Microsoft 365 backfill: HTTP and Graph requests per captured message",
        "",
        f"Run on {stamp} with `.venv/bin/python bench/bench_graph_cost.py --messages {count}`.",
        "",
        f"- Machine: {machine()}",
        f"- Input: {figures['generated']:,} generated messages over {YEARS} years in Inbox, "
        "Sent Items, Archive and two client folders, plus messages in Deleted Items and Junk "
        "Email; one mailbox, connected through the sign-in flow and backfilled through "
        "`GraphProvider` as the engine does (`current_cursor`, pages of 500, fetches of 50, "
        "cloud links of the messages with attachments)",
        "- Emulator limits on: 4 requests in flight and 10,000 per 10 minutes per mailbox",
        "",
        *table(rows, ["", "value"]),
        "",
        *table(checks, ["figure", "value", "target", "result"]),
    ]
    return lines, ok


def write_results(lines):
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = "\n".join([SECTION_START, *lines, SECTION_END])
    pattern = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages to capture")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    lines, ok = report(run(args.messages), args.messages)
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines)
        print(f"\nWrote the bench:graph-cost section of {RESULTS.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
