"""Gmail backfill benchmark: quota units and HTTP calls per captured message, and pacing.

What it is
    A measure of what the Gmail provider costs Google's quota during a backfill, and of how
    close its pacing comes to the quota when the quota is the bottleneck. It loads a mailbox
    into the Gmail emulator, backfills it through ``GmailProvider`` exactly as the capture
    engine does (``list_window`` pages of 500, then ``fetch`` in batches of 50), and reads the
    emulator's own accounting. Targets: at most 5.2 quota units and 1.05 HTTP calls per
    captured message, the peak minute never above the quota, and at least 90% of the
    throughput the quota allows when the quota is scaled down.

How it works
    1. Starts a ``GmailEmulator`` in this process and fills one mailbox with ``--messages``
       small, realistic generated messages spread over seven years (plain, multipart
       alternative, a few with an attachment; some sent, some unread), or with ``--mbox``.
    2. Run "gmail quota": Gmail's real 15,000 units per minute. Units and calls come from the
       emulator's statistics; a batch is one HTTP call however many parts it carries, and each
       token refresh counts as one call.
    3. Run "scaled quota": the quota scaled down to ``--scaled-quota`` units a minute, for the
       emulator and the provider alike, so pacing sets the pace. The provider's ``sleep``
       advances the emulator's virtual clock, so minutes of quota time take seconds. Throughput
       is the units charged divided by the most any client could have spent in the same time:
       under a limit per rolling minute that is ``limit x (floor(T / 60) + 1)`` for a span of
       ``T`` seconds between the first and the last call.
    4. Prints a table and writes the ``bench:gmail-cost`` section of ``bench/RESULTS.md``.

Use
    ``.venv/bin/python bench/bench_gmail_cost.py --messages 5000 [--scaled-quota 1500]
    [--mbox PATH] [--no-write]``. It exits non-zero when a figure misses its target.

Caveats
    The emulator answers from memory on 127.0.0.1, so wall-clock rates say nothing about
    Google; read the ratios. An mbox is loaded as-is: messages Takeout labels as spam, trash or
    drafts are not captured and so do not count.
"""

import argparse
import email.utils
import importlib.util
import os
import platform
import random
import re
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
CORE_DIR = ROOT / "trail_email_integration" / "core"
CORE_PACKAGE = "trail_email_core"
SECTION_START = "<!-- bench:gmail-cost -->"
SECTION_END = "<!-- /bench:gmail-cost -->"
RESULTS_HEADER = "# Benchmark results\n"
OWNER = "adviser@firm.example"
SEED = 20240601
YEARS = 7
GMAIL_QUOTA = 15000
TARGET_UNITS = 5.2
TARGET_CALLS = 1.05
TARGET_THROUGHPUT = 0.90

WORDS = [
    "pension",
    "review",
    "tax",
    "return",
    "invoice",
    "meeting",
    "portfolio",
    "mortgage",
    "statement",
    "quarter",
    "allowance",
    "transfer",
    "payment",
    "advice",
    "estate",
    "planning",
    "insurance",
    "renewal",
    "policy",
    "summary",
    "documents",
    "signature",
    "valuation",
    "bond",
    "fund",
    "dividend",
    "schedule",
    "update",
    "question",
]
CLIENTS = [f"client{n}@home.example" for n in range(1, 60)]


def load_core():
    """Import the addon's Odoo-free ``core`` package without the addon (which needs Odoo)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if CORE_PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            CORE_PACKAGE, CORE_DIR / "__init__.py", submodule_search_locations=[str(CORE_DIR)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[CORE_PACKAGE] = module
        spec.loader.exec_module(module)
    with warnings.catch_warnings():
        # google-api-core warns about the interpreter's end-of-life date at import time.
        warnings.simplefilter("ignore", FutureWarning)
        return importlib.import_module(CORE_PACKAGE + ".providers.gmail")


# --------------------------------------------------------------------------- mailbox
def generated_message(rng, number, when):
    client = rng.choice(CLIENTS)
    outgoing = rng.random() < 0.25
    sender, recipient = (OWNER, client) if outgoing else (client, OWNER)
    subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize()
    body = "\r\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) for _ in range(3, 12)
    )
    head = (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.format_datetime(when)}\r\n"
        f"Message-ID: <bench-{number}@{sender.split('@')[1]}>\r\nMIME-Version: 1.0\r\n"
    )
    kind = rng.random()
    if kind < 0.5:
        raw = head + f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    else:
        html = "".join(f"<p>{line}</p>" for line in body.split("\r\n"))
        boundary = f"b{number}"
        raw = (
            head + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
            f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        )
        if kind > 0.85:
            data = rng.randbytes(rng.randint(300, 3000)).hex()
            raw += (
                f"--{boundary}\r\nContent-Type: application/octet-stream\r\n"
                f'Content-Disposition: attachment; filename="statement-{number}.bin"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n"
                + "\r\n".join(data[i : i + 76] for i in range(0, len(data), 76))
                + "\r\n"
            )
        raw += f"--{boundary}--\r\n"
    labels = ["SENT"] if outgoing else ["INBOX"] + (["UNREAD"] if rng.random() < 0.3 else [])
    return raw.encode(), labels


def fill_mailbox(emu, count, mbox):
    if mbox:
        emu.load_mbox(mbox, OWNER)
        return f"{len(emu.mailbox(OWNER).messages):,} messages from {Path(mbox).name}"
    rng = random.Random(SEED)
    newest = datetime.fromtimestamp(emu.clock.time(), timezone.utc) - timedelta(hours=1)
    span = timedelta(days=365 * YEARS - 2)
    for number in range(count):
        when = newest - span * number / max(count, 1)
        raw, labels = generated_message(rng, number, when)
        emu.add_message(OWNER, raw, labels, when)
    return f"{count:,} generated messages over {YEARS} years"


# --------------------------------------------------------------------------- runs
def backfill(emu, gmail, quota):
    """Backfill the whole mailbox through the provider; return the run's figures."""
    emu.set_quota(units_per_minute=quota)
    emu.clock.advance(120)  # let the previous run's units age out of the emulator's window
    emu.reset_stats()
    refreshes = []
    tokens = emu.issue_tokens(OWNER, scope=" ".join(gmail.SCOPES))
    provider = gmail.GmailProvider(
        emu.client_id,
        emu.client_secret,
        tokens["refresh_token"],
        gmail.GmailEndpoints.at(emu.base_url),
        access_token=tokens["access_token"],
        on_token=lambda token, expiry: refreshes.append(expiry),
        quota=quota,
        sleep=emu.clock.advance,
        clock=emu.clock.time,
    )
    box = emu.mailbox(OWNER)
    oldest_ms = min(message.internal_date for message in box.messages.values())
    start = datetime.fromtimestamp(oldest_ms / 1000 - 1, timezone.utc)

    began_virtual, began_wall = emu.clock.time(), time.monotonic()
    provider.current_cursor()
    captured, failed, position = 0, 0, None
    while True:
        page = provider.list_window(start, position)
        for result in provider.fetch(page.refs):
            if isinstance(result, gmail.Fetched) and not result.ref.skip_reason:
                captured += 1
            else:
                failed += 1
        position = page.next_position
        if position is None:
            break
    virtual = emu.clock.time() - began_virtual
    wall = time.monotonic() - began_wall

    stats = emu.stats()[OWNER]
    gets = stats["methods"].get("gmail.users.messages.get", {"calls": 0})["calls"]
    http_calls = stats["calls"] - gets + stats["batches"] + len(refreshes)
    allowed = quota * (int(virtual // 60) + 1)
    return {
        "quota": quota,
        "captured": captured,
        "failed": failed,
        "units": stats["units"],
        "http_calls": http_calls,
        "batches": stats["batches"],
        "rejected": stats["rejected"],
        "units_per_message": stats["units"] / max(captured, 1),
        "calls_per_message": http_calls / max(captured, 1),
        "peak": emu.peak_minute_units(OWNER),
        "virtual_seconds": virtual,
        "wall_seconds": wall,
        "throughput": stats["units"] / allowed,
    }


# --------------------------------------------------------------------------- report
def verdict(ok):
    return "PASS" if ok else "FAIL"


def checks(full, scaled):
    return [
        (
            "quota units per captured message",
            f"{full['units_per_message']:.3f}",
            f"≤ {TARGET_UNITS}",
            full["units_per_message"] <= TARGET_UNITS,
        ),
        (
            "HTTP calls per captured message",
            f"{full['calls_per_message']:.4f}",
            f"≤ {TARGET_CALLS}",
            full["calls_per_message"] <= TARGET_CALLS,
        ),
        (
            "peak units in a minute, gmail quota",
            f"{full['peak']:,} of {full['quota']:,}",
            "≤ quota",
            full["peak"] <= full["quota"],
        ),
        (
            "peak units in a minute, scaled quota",
            f"{scaled['peak']:,} of {scaled['quota']:,}",
            "≤ quota",
            scaled["peak"] <= scaled["quota"],
        ),
        (
            "throughput / what the scaled quota allows",
            f"{scaled['throughput']:.1%}",
            f"≥ {TARGET_THROUGHPUT:.0%}",
            scaled["throughput"] >= TARGET_THROUGHPUT,
        ),
        (
            "messages lost (captured, scaled run)",
            f"{full['captured'] - scaled['captured']}",
            "0",
            full["captured"] == scaled["captured"],
        ),
    ]


def table(rows, header):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    return [line(header), rule, *(line(row) for row in rows)]


def run_rows(full, scaled):
    def row(name, key, fmt):
        return [name, fmt(full[key]), fmt(scaled[key])]

    count = "{:,}".format
    return [
        row("quota (units per minute)", "quota", count),
        row("messages captured", "captured", count),
        row("quota units charged", "units", count),
        row("HTTP calls (a batch is one)", "http_calls", count),
        row("batch calls", "batches", count),
        row("calls refused by the emulator", "rejected", count),
        row("peak units in any minute", "peak", count),
        row("virtual minutes", "virtual_seconds", lambda s: f"{s / 60:.1f}"),
        row("wall-clock seconds", "wall_seconds", lambda s: f"{s:.1f}"),
    ]


def machine():
    cpu = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        cpu = f", {found.group(1).strip()}" if found else ""
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} CPUs{cpu}"


def write_results(lines):
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    block = "\n".join([SECTION_START, *lines, SECTION_END])
    pattern = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages to generate")
    parser.add_argument("--mbox", help="load this mbox instead of generating messages")
    parser.add_argument(
        "--scaled-quota", type=int, default=1500, help="units per minute of the second run"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    gmail = load_core()
    from emulators.gmail import GmailEmulator

    with GmailEmulator(client_id="bench-client", client_secret="bench-secret") as emu:
        loaded = time.monotonic()
        described = fill_mailbox(emu, args.messages, args.mbox)
        print(f"Loaded {described} in {time.monotonic() - loaded:.1f} s")
        full = backfill(emu, gmail, GMAIL_QUOTA)
        scaled = backfill(emu, gmail, args.scaled_quota)

    command = "python bench/bench_gmail_cost.py " + " ".join(sys.argv[1:])
    results = checks(full, scaled)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Gmail backfill: quota units and HTTP calls per captured message, and pacing",
        "",
        "Each figure is a ratio or a count from one run, not an average.",
        "",
        f"Run on {stamp} with `{command.strip()}`.",
        "",
        f"- Machine: {machine()} (`uname -m`: {platform.machine()}, `nproc`: {os.cpu_count()})",
        f"- Input: {described}; one mailbox, backfilled in full through `GmailProvider`",
        "- Throughput = units charged / (quota x (whole minutes elapsed + 1)), the most any "
        "client could spend under a rolling-minute limit in the same virtual time",
        "",
        *table(run_rows(full, scaled), ["", "gmail quota", "scaled quota"]),
        "",
        *table(
            [[name, value, target, verdict(ok)] for name, value, target, ok in results],
            ["figure", "value", "target", "result"],
        ),
    ]
    if scaled["units"] < 2 * scaled["quota"]:
        lines += [
            "",
            "Note: the scaled run spent less than two minutes of its quota, so the quota was not "
            "the bottleneck; use more messages or a smaller --scaled-quota.",
        ]
    print("\n".join(lines))
    if not args.no_write:
        write_results(lines)
        print(f"\nWrote the bench:gmail-cost section of {RESULTS.relative_to(ROOT)}")
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
