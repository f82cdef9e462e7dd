"""Capture benchmark: our engine's rate against stock Odoo's, and memory over a long backfill.

What it is
    Two checks of the capture engine on real mail. **Throughput**: the engine's backfill steps
    against what stock Odoo does per logged email (what its mail plugin and fetchmail do:
    ``message_parse``, then ``message_post`` on the matched partner with the attachments), on
    the same messages in the same run. Target: ours at least 5 times the stock rate. **Memory**:
    a backfill of ``--memory-messages`` (20,000) messages through the real cron in a child
    process, whose RSS must stay within 100 MB of where it started.

How it works
    1. Input: ``--mbox PATH``, ``--public-inbox GIT_DIR`` (one message per commit in a file
       ``m``, read with ``git log`` and ``git cat-file --batch`` as a stream), or by default the
       real messages bundled with the tests (``tests/data/cases/*.eml``). The first pass over
       the input is used as it is; when more messages are needed the input is read again, each
       repeat with a fresh Message-ID so that it is a distinct email.
    2. Installs the addon into a bench database with ``odoo-bin``, opens an Odoo registry in
       this process, and creates contacts with linked addresses, in profiles, for the most
       frequent correspondents of the first messages, so that some mail is filed. A
       ``trail.mailbox`` is served by a ``FakeProvider`` over the same messages.
    3. Throughput, in ``--rounds`` rounds after one untimed warm-up: the two sides take turns
       every backfill step (50 messages), the side going first alternating, so machine noise
       hits both. Ours: ``_lock``, ``_run_guarded(_backfill_step)`` and a commit, as the cron
       does. Stock: per message ``email.message_from_bytes(raw, policy=SMTP)`` (as fetchmail
       does), ``mail.thread.message_parse``, Odoo's partner lookup on From, To and Cc, and
       ``message_post(message_type="email")`` on the first bench contact found (or a default
       partner) with the parsed attachments, one savepoint per message and a commit per 50.
       Both sides are reset between rounds (their records deleted, the mailbox rewound).
    4. Memory: the messages are saved as a ``FakeMailbox`` JSON file; a child process
       (``bench_capture_worker.py``) loads them into a Gmail emulator it runs, points the
       mailbox at it (the real Gmail provider, quota off) and runs the backfill cron until
       done. Its RSS is sampled every 0.2 s with psutil, together with the mailbox's progress.
    5. Prints a table and writes the ``bench:capture`` section of ``bench/RESULTS.md``; drops
       the bench database and its filestore unless ``--keep-db``.

Use
    ``.venv/bin/python bench/bench_capture.py [--mbox PATH | --public-inbox GIT_DIR]
    [--messages 2000] [--memory-messages 20000] [--rounds 3] [--contacts 12] [--profile]
    [--keep-db] [--no-write]``, after ``./dev setup``; PostgreSQL is started with
    ``./dev pg start`` when it is not running. Exits non-zero when a figure misses its target.
    ``--memory-messages 0`` skips the memory run; ``--profile`` prints cProfile's top costs of
    both sides (also done when ours misses its target).

Caveats
    Read the ratio, not the rates: both are from one machine, in one process, with the
    database on the same machine. The stock side posts with nobody following the partners, so
    it sends no notifications; that favours stock. Our side also keeps the original bytes,
    the participants and a location per message, which stock does not. The memory figure is
    the child's RSS after the emulator is loaded: it holds every message in memory, and that
    is the fixture's cost, not the engine's.
"""

import argparse
import configparser
import cProfile
import email
import email.policy
import io
import mailbox as mailbox_lib
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / ".local" / "odoo-test.conf"
RESULTS = ROOT / "bench" / "RESULTS.md"
WORKER = ROOT / "bench" / "bench_capture_worker.py"
CASES = ROOT / "trail_email_integration" / "tests" / "data" / "cases"
DB = "trail_bench_capture"
OWNER = "adviser@firm.example"
MEMORY_OWNER = "memory@firm.example"
TARGET_RATIO = 5.0
TARGET_MEMORY_MB = 100
SAMPLE_SECONDS = 0.2
CURVE_POINTS = 10
CORRESPONDENT_SAMPLE = 300  # messages read to find the correspondents to make contacts of
WARM_UP_STEPS = 2  # steps per side before timing, to load code and fill Odoo's caches
PROFILE_MESSAGES = 500
SECTION_START = "<!-- bench:capture -->"
SECTION_END = "<!-- /bench:capture -->"
RESULTS_HEADER = "# Benchmark results\n"
MB = 1024 * 1024

HEADER_END = re.compile(rb"\r?\n\r?\n")
MESSAGE_ID_HEADER = re.compile(rb"^message-id[ \t]*:.*(?:\r?\n[ \t].*)*\r?\n?", re.I | re.M)


# --------------------------------------------------------------------------- input
def bundled_raws():
    for path in sorted(CASES.glob("*.eml")):
        yield path.read_bytes()


def mbox_raws(path):
    # mailbox.mbox indexes the file once and reads one message at a time.
    box = mailbox_lib.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


def public_inbox_raws(git_dir):
    """Each commit's ``m`` blob, newest first, streamed through one ``cat-file --batch``."""
    git = ["git", f"--git-dir={git_dir}"]
    log = subprocess.Popen([*git, "log", "--format=%H"], stdout=subprocess.PIPE)
    cat = subprocess.Popen(
        [*git, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        for line in log.stdout:
            cat.stdin.write(line.strip() + b":m\n")
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            if len(header) != 3 or header[1] != b"blob":
                continue  # a commit that deletes a message has no ``m``
            raw = cat.stdout.read(int(header[2]))
            cat.stdout.read(1)  # the newline after each object
            yield raw
    finally:
        for process in (log, cat):
            process.kill()
            process.wait()


def with_message_id(raw, message_id):
    """``raw`` with its Message-ID (if any) replaced by ``message_id``; other bytes are kept."""
    end = HEADER_END.search(raw)
    split = end.start() if end else len(raw)
    head = MESSAGE_ID_HEADER.sub(b"", raw[:split])
    newline = b"\r\n" if b"\r\n" in raw[:200] else b"\n"
    return b"Message-ID: <" + message_id.encode() + b">" + newline + head + raw[split:]


def collect(open_source, count, token):
    """``count`` raw messages: the input once as is, then repeats with fresh Message-IDs."""
    raws = []
    passes = 0
    while len(raws) < count:
        before = len(raws)
        for original in open_source():
            fresh = f"bench-{token}-{len(raws)}@capture.bench.example"
            raws.append(with_message_id(original, fresh) if passes else original)
            if len(raws) == count:
                break
        if len(raws) == before:
            sys.exit("The input holds no message.")
        passes += 1
    return raws, passes


def describe_input(args):
    if args.mbox:
        return f"mbox `{args.mbox}`", lambda: mbox_raws(args.mbox)
    if args.public_inbox:
        return (
            f"public-inbox archive `{args.public_inbox}`",
            lambda: public_inbox_raws(args.public_inbox),
        )
    count = len(list(CASES.glob("*.eml")))
    return (
        f"the {count} real messages in `{CASES.relative_to(ROOT)}/*.eml`",
        bundled_raws,
    )


# --------------------------------------------------------------------------- database
def read_conf():
    parser = configparser.ConfigParser()
    if not parser.read(CONF):
        sys.exit(f"{CONF} is missing: run ./dev setup first.")
    return parser["options"]


def connect(options, dbname="postgres"):
    password = options.get("db_password", "False")
    return psycopg2.connect(
        dbname=dbname,
        host=options.get("db_host") or None,
        port=options.get("db_port") or None,
        user=options.get("db_user") or None,
        password=None if password in ("False", "") else password,
    )


def ensure_postgres(options):
    try:
        connect(options).close()
    except psycopg2.OperationalError:
        print("PostgreSQL is not answering; running ./dev pg start")
        subprocess.run([str(ROOT / "dev"), "pg", "start"], check=True)
        connect(options).close()


def drop_database(options):
    conn = connect(options)
    conn.autocommit = True  # DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    finally:
        conn.close()
    # Attachments live in the filestore, which DROP DATABASE does not touch.
    shutil.rmtree(Path(options.get("data_dir", "")) / "filestore" / DB, ignore_errors=True)


def odoo_bin(option):
    """Install (``-i``) or update (``-u``) the addon in the bench database."""
    odoo_src = Path(os.environ.get("ODOO_SRC", "/opt/odoo-18.0"))
    command = [
        sys.executable,
        str(odoo_src / "odoo-bin"),
        "-c",
        str(CONF),
        "-d",
        DB,
        option,
        "trail_email_integration",
        "--stop-after-init",
        "--without-demo=all",
        "--log-level=warn",
    ]
    subprocess.run(command, check=True, cwd=ROOT)


def create_database(options):
    drop_database(options)
    odoo_bin("-i")


def open_env():
    import odoo
    from odoo.modules.registry import Registry
    from odoo.tools import config

    config.parse_config(["-c", str(CONF), "-d", DB, "--log-level=warn"])
    registry = Registry(DB)
    cr = registry.cursor()
    context = {"mail_create_nosubscribe": True, "tracking_disable": True}
    return registry, odoo.api.Environment(cr, odoo.SUPERUSER_ID, context)


def correspondents(raws, limit):
    """The ``limit`` most frequent addresses of the first messages, the owners' left out."""
    from odoo.addons.trail_email_integration.core.addresses import normalise_address
    from odoo.addons.trail_email_integration.core.mime import parse_message

    counts = Counter()
    for raw in raws[:CORRESPONDENT_SAMPLE]:
        parsed = parse_message(raw)
        found = {
            normalise_address(address.email)
            for header in (parsed.from_, parsed.to, parsed.cc, parsed.reply_to)
            for address in header
        }
        counts.update(found - {None, OWNER, MEMORY_OWNER})
    return [address for address, _count in counts.most_common(limit)]


def create_contacts(env, addresses):
    """One contact per address, linked, two contacts to a profile; return the contact ids."""
    Partner = env["res.partner"]
    contacts = Partner.create(
        [{"name": f"Bench contact {i}", "email": a} for i, a in enumerate(addresses, 1)]
    )
    contacts.email_address_ids.write({"linked": True})
    for number, start in enumerate(range(0, len(contacts), 2), 1):
        profile = Partner.create(
            {"name": f"Bench profile {number}", "is_profile": True, "profile_type": "family"}
        )
        env["trail.profile.member"].create(
            [
                {"profile_id": profile.id, "contact_id": contact.id, "role": role}
                for contact, role in zip(
                    contacts[start : start + 2], ("participant", "non_dependent"), strict=False
                )
            ]
        )
    env.cr.commit()
    return set(contacts.ids)


def fake_mailbox(raws, address):
    """A FakeMailbox of ``raws``, dated a minute apart so the backfill takes them in order."""
    from odoo.addons.trail_email_integration.core.fake_provider import FakeMailbox

    box = FakeMailbox(address)
    now = datetime.now(timezone.utc)
    for index, raw in enumerate(raws):
        box.add(raw, labels=("INBOX",), date=now - timedelta(minutes=index + 1))
    return box


def create_mailbox(env, address):
    mailbox = env["trail.mailbox"].create(
        {
            "address": address,
            "provider": "google",
            "state": "backfilling",
            "connected_at": datetime.now(timezone.utc).replace(tzinfo=None),
        }
    )
    env.cr.commit()
    return mailbox.id


# --------------------------------------------------------------------------- the two sides
class Ours:
    """The engine's backfill, one step at a time, as the backfill cron runs it."""

    def __init__(self, env, mailbox_id):
        self.env = env
        self.mailbox_id = mailbox_id
        self.pages = {}
        self.seconds = 0.0
        self.steps = 0

    def reset(self):
        cr = self.env.cr
        cr.execute("DELETE FROM ir_attachment WHERE res_model = 'trail.mail'")
        cr.execute("DELETE FROM trail_mail")
        cr.execute("DELETE FROM trail_mail_failure WHERE mailbox_id = %s", [self.mailbox_id])
        cr.execute(
            """
            UPDATE trail_mailbox
               SET state = 'backfilling', backfill_done = false, backfill_page = NULL,
                   backfill_last_id = NULL, backfill_count = 0, backfill_total = 0,
                   skipped_count = 0, failed_count = 0, retry_after = NULL, retry_attempts = 0
             WHERE id = %s
            """,
            [self.mailbox_id],
        )
        cr.commit()
        self.env.invalidate_all()
        self.pages = {}
        self.seconds = 0.0
        self.steps = 0

    def step(self):
        """Run backfill steps until one handles messages; return how many, or 0 when done."""
        Mailbox = self.env["trail.mailbox"]
        started = time.perf_counter()
        handled = 0
        while not handled:
            mailbox = Mailbox._lock(self.mailbox_id)
            handled = mailbox._run_guarded(mailbox._backfill_step, self.pages)
            state, error = mailbox.state, mailbox.last_error
            self.env.cr.commit()
            self.steps += 1
            if state == "error":
                sys.exit(f"Our backfill stopped on an error: {error}")
            if state != "backfilling":
                break
        self.seconds += time.perf_counter() - started
        return handled

    def counts(self):
        cr = self.env.cr
        cr.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE m.filing_state = 'filed')
              FROM trail_mail_location l JOIN trail_mail m ON m.id = l.mail_id
             WHERE l.mailbox_id = %s
            """,
            [self.mailbox_id],
        )
        captured, filed = cr.fetchone()
        cr.execute("SELECT failed_count FROM trail_mailbox WHERE id = %s", [self.mailbox_id])
        return {"captured": captured, "filed": filed, "failed": cr.fetchone()[0]}


class Stock:
    """Stock Odoo logging each email on a partner, as its mail plugin and fetchmail do."""

    def __init__(self, env, contact_ids):
        self.env = env
        self.contact_ids = contact_ids
        self.default = env["res.partner"].create({"name": "Bench default partner"})
        env.cr.commit()
        env.cr.execute("SELECT COALESCE(max(id), 0) FROM mail_message")
        self.first_message_id = env.cr.fetchone()[0] + 1
        env.cr.execute("SELECT COALESCE(max(id), 0) FROM ir_attachment")
        self.first_attachment_id = env.cr.fetchone()[0] + 1
        self.partner_ids = sorted(contact_ids | {self.default.id})
        self.seconds = 0.0
        self.failed = Counter()
        self.durations = []

    def reset(self):
        cr = self.env.cr
        cr.execute(
            "DELETE FROM ir_attachment WHERE id >= %s AND res_model = 'res.partner'",
            [self.first_attachment_id],
        )
        cr.execute(
            "DELETE FROM mail_message WHERE id >= %s AND model = 'res.partner'",
            [self.first_message_id],
        )
        cr.commit()
        self.env.invalidate_all()
        self.seconds = 0.0
        self.failed = Counter()
        self.durations = []

    def post(self, raw):
        from markupsafe import Markup

        from odoo.tools import email_split

        Thread = self.env["mail.thread"]
        message = email.message_from_bytes(raw, policy=email.policy.SMTP)
        values = Thread.message_parse(message)
        senders = email_split(values.get("email_from") or "")[:1]
        emails = senders + email_split(values.get("recipients") or "")
        partners = Thread._mail_find_partner_from_emails(emails) if emails else []
        author = partners[0] if senders else self.env["res.partner"]
        target = next((p for p in partners if p.id in self.contact_ids), self.default)
        target.message_post(
            body=Markup(values.get("body") or ""),
            subject=values.get("subject"),
            author_id=author.id or False,
            email_from=values.get("email_from"),
            message_type="email",
            # (name, content, info): the info carries the cid, for inline images, as fetchmail.
            attachments=[tuple(attachment) for attachment in values.get("attachments", [])],
        )

    def step(self, raws):
        started = time.perf_counter()
        for raw in raws:
            posted = time.perf_counter()
            try:
                with self.env.cr.savepoint():
                    self.post(raw)
            except Exception as error:
                self.failed[type(error).__name__] += 1
            self.durations.append(time.perf_counter() - posted)
        self.env.cr.commit()
        self.seconds += time.perf_counter() - started

    def counts(self):
        cr = self.env.cr
        cr.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE res_id <> %s)
              FROM mail_message WHERE id >= %s AND model = 'res.partner'
            """,
            [self.default.id, self.first_message_id],
        )
        posted, on_contact = cr.fetchone()
        # A few pathological messages can dominate stock's time; say how much.
        slowest = sorted(self.durations, reverse=True)[: max(1, len(self.durations) // 100)]
        return {
            "posted": posted,
            "on_contact": on_contact,
            "failed": sum(self.failed.values()),
            "errors": ", ".join(f"{name} {count}" for name, count in self.failed.most_common()),
            "slowest_share": sum(slowest) / (sum(self.durations) or 1),
        }


def run_round(ours, stock, raws, order):
    """Back-fill ``raws`` on both sides, taking turns every step; return ``(ours, stock)`` rates."""
    from odoo.addons.trail_email_integration.models.trail_mailbox_sync import BATCH_SIZE

    ours.reset()
    stock.reset()
    for turn, position in enumerate(range(0, len(raws), BATCH_SIZE), order):
        chunk = raws[position : position + BATCH_SIZE]
        for side in ("ours", "stock") if turn % 2 == 0 else ("stock", "ours"):
            if side == "stock":
                stock.step(chunk)
            elif ours.step() != len(chunk):
                sys.exit(f"Our backfill did not take messages {position}+ as one batch.")
    ours.step()  # the empty step that marks the backfill done, part of the engine's work
    return len(raws) / ours.seconds, len(raws) / stock.seconds


def warm_up(ours, stock, raws):
    ours.reset()
    stock.reset()
    for _ in range(WARM_UP_STEPS):
        ours.step()
    stock.step(raws[: 50 * WARM_UP_STEPS])


def profile(ours, stock, raws):
    """cProfile's top costs of each side over the first ``PROFILE_MESSAGES`` messages."""
    reports = {}
    for name, run in (
        ("ours", lambda: _run_ours(ours, min(len(raws), PROFILE_MESSAGES))),
        ("stock", lambda: stock.step(raws[:PROFILE_MESSAGES])),
    ):
        ours.reset()
        stock.reset()
        profiler = cProfile.Profile()
        profiler.enable()
        run()
        profiler.disable()
        text = {}
        for key in ("tottime", "cumulative"):
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats(key).print_stats(40)
            text[key] = stream.getvalue()
        reports[name] = text
    return reports


def _run_ours(ours, count):
    done = 0
    while done < count:
        handled = ours.step()
        if not handled:
            break
        done += handled


# --------------------------------------------------------------------------- memory
def memory_run(options, env, raws, throughput_mailbox_id):
    """Back-fill ``raws`` in a child process and sample its RSS; return the figures."""
    Ours(env, throughput_mailbox_id).reset()
    env.cr.execute("UPDATE trail_mailbox SET active = false WHERE id = %s", [throughput_mailbox_id])
    env.cr.execute("DELETE FROM mail_message WHERE model = 'res.partner'")
    env.cr.commit()
    mailbox_id = create_mailbox(env, MEMORY_OWNER)
    # The child imports the addon afresh: bring the database up to the code it will find,
    # which may have changed during a long run in a shared working tree.
    odoo_bin("-u")
    workdir = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    try:
        box_path = workdir / "box.json"
        fake_mailbox(raws, MEMORY_OWNER).save(box_path)
        # stderr goes to a file: a full pipe would block the child on its own warnings.
        with open(workdir / "stderr.log", "w+", encoding="utf-8") as errors:
            return _sample_child(options, box_path, mailbox_id, len(raws), errors)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _sample_child(options, box_path, mailbox_id, total, errors):
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(CONF), DB, str(box_path)],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        cwd=ROOT,
    )
    events = {}

    def read_stdout():
        for line in child.stdout:
            word, _, rest = line.strip().partition(" ")
            events[word] = (time.monotonic(), rest)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    process = psutil.Process(child.pid)
    conn = connect(options, DB)
    conn.autocommit = True
    samples = []  # (seconds since start, rss, messages done)
    started = None
    try:
        while child.poll() is None:
            try:
                rss = process.memory_info().rss
            except psutil.NoSuchProcess:
                break
            if "START" in events:
                if started is None:
                    started = events["START"][0]
                with conn.cursor() as cr:
                    cr.execute(
                        "SELECT backfill_count FROM trail_mailbox WHERE id = %s", [mailbox_id]
                    )
                    done = cr.fetchone()[0] or 0
                samples.append((time.monotonic() - started, rss, done))
            time.sleep(SAMPLE_SECONDS)
    finally:
        conn.close()
    child.wait()
    reader.join(timeout=5)
    errors.seek(0)
    stderr = errors.read()
    if child.returncode != 0 or "START" not in events or "DONE" not in events:
        print(f"The memory run failed:\n{stderr[-3000:]}")
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else "no output"}
    start_rss = int(events["START"][1])
    captured = int(events["DONE"][1])
    finished = events["DONE"][0] - started
    peak = max([start_rss] + [rss for _t, rss, _d in samples])
    curve = []
    for point in range(1, CURVE_POINTS + 1):
        goal = total * point / CURVE_POINTS
        reached = next((s for s in samples if s[2] >= goal), samples[-1])
        curve.append((point * 100 // CURVE_POINTS, reached[2], reached[1], reached[0]))
    return {
        "start": start_rss,
        "peak": peak,
        "growth": peak - start_rss,
        "curve": curve,
        "seconds": finished,
        "captured": captured,
        "samples": len(samples),
    }


# --------------------------------------------------------------------------- report
def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {model}"


def command_line(args):
    parts = [".venv/bin/python bench/bench_capture.py"]
    if args.mbox:
        parts.append(f"--mbox {args.mbox}")
    if args.public_inbox:
        parts.append(f"--public-inbox {args.public_inbox}")
    parts.append(f"--messages {args.messages} --memory-messages {args.memory_messages}")
    parts.append(f"--rounds {args.rounds} --contacts {args.contacts}")
    return " ".join(parts)


def table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "| "
        + " | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        + " |"
        for row in rows
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return lines


def verdict(ok):
    return "PASS" if ok else "FAIL"


def report(args, figures):
    """The section's lines (markdown) and whether every figure met its target."""
    lines = [
        f"- Machine: {figures['machine']} (`uname -m`: {platform.machine()}, "
        f"`nproc`: {os.cpu_count()})",
        f"- Input: {figures['input']}; {figures['throughput_input']}",
        f"- Contacts: {figures['contacts']} linked correspondents of the first messages, "
        "two to a profile",
    ]
    ok = True
    rows = [("figure", "value", "target", "result")]
    if "ratio" in figures:
        ours_rates, stock_rates = figures["ours_rates"], figures["stock_rates"]
        ratio = figures["ratio"]
        ok &= ratio >= TARGET_RATIO
        lines += [
            f"- Throughput: {args.rounds} timed rounds after a warm-up, sides taking turns "
            "every backfill step (50 messages), commit per step on both",
            "",
            *table(
                [
                    ("per round", *(f"round {i + 1}" for i in range(len(ours_rates)))),
                    ("ours, messages/s", *(f"{r:,.1f}" for r in ours_rates)),
                    ("stock, messages/s", *(f"{r:,.1f}" for r in stock_rates)),
                    (
                        "ratio ours/stock",
                        *(f"{o / s:.2f}" for o, s in zip(ours_rates, stock_rates, strict=True)),
                    ),
                ]
            ),
            "",
            f"- Ours, last round: {figures['ours_counts']['captured']:,} captured, "
            f"{figures['ours_counts']['filed']:,} filed into a profile, "
            f"{figures['ours_counts']['failed']:,} failed",
            f"- Stock, last round: {figures['stock_counts']['posted']:,} posted, "
            f"{figures['stock_counts']['on_contact']:,} on a bench contact, "
            f"{figures['stock_counts']['failed']:,} failed"
            + (
                f" ({figures['stock_counts']['errors']})"
                if figures["stock_counts"]["errors"]
                else ""
            ),
            f"- Stock spent {figures['stock_counts']['slowest_share']:.0%} of its time on its "
            "slowest 1% of messages",
            "",
        ]
        rows.append(
            (
                "throughput ratio ours/stock (median of rounds)",
                f"{ratio:.2f}",
                f">= {TARGET_RATIO:g}",
                verdict(ratio >= TARGET_RATIO),
            )
        )
    if "error" in figures.get("memory", {}):
        ok = False
        lines += [f"- Memory run failed: `{figures['memory']['error']}`", ""]
        rows.append(("memory: peak - start", "run failed", f"<= {TARGET_MEMORY_MB} MB", "FAIL"))
    elif "memory" in figures:
        memory = figures["memory"]
        growth = memory["growth"] / MB
        ok &= growth <= TARGET_MEMORY_MB
        lines += [
            f"- Memory: {figures['memory_input']} backfilled by the cron in a child process "
            f"in {memory['seconds']:,.0f} s ({memory['captured']:,} captured, "
            f"{memory['samples']:,} RSS samples every {SAMPLE_SECONDS} s). Start is the RSS "
            "right before the first backfill step, after the Gmail emulator serving the mailbox "
            "(every raw message, in memory, in the same process) is loaded and freed heap is "
            "trimmed: it measures the engine and the Gmail provider, not the fixture.",
            "",
            *table(
                [("done", "messages", "RSS MB", "seconds")]
                + [
                    (f"{pct}%", f"{done:,}", f"{rss / MB:,.1f}", f"{t:,.0f}")
                    for pct, done, rss, t in memory["curve"]
                ]
            ),
            "",
        ]
        rows += [
            ("memory: start RSS", f"{memory['start'] / MB:,.1f} MB", "", ""),
            ("memory: peak RSS", f"{memory['peak'] / MB:,.1f} MB", "", ""),
            (
                "memory: peak - start",
                f"{growth:,.1f} MB",
                f"<= {TARGET_MEMORY_MB} MB",
                verdict(growth <= TARGET_MEMORY_MB),
            ),
        ]
    lines += table(rows)
    return lines, ok


def write_results(args, lines):
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = [
        SECTION_START,
        "## Capture: throughput against stock Odoo, and memory over a long backfill",
        "",
        "Ratios and counts are the verdict; rates and sizes are shown for information.",
        "",
        f"Run on {date} with `{command_line(args)}`.",
        "",
        *lines,
        SECTION_END,
    ]
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    block = "\n".join(section)
    pattern = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


# --------------------------------------------------------------------------- main
def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--mbox", help="an mbox file to read the messages from")
    source.add_argument("--public-inbox", help="a public-inbox git directory (file `m`)")
    parser.add_argument("--messages", type=int, default=2000, help="throughput messages")
    parser.add_argument("--memory-messages", type=int, default=20000, help="0 skips it")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=12)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top costs")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    return parser.parse_args()


def measure_throughput(args, ours, stock, raws):
    print("Warming up both sides...")
    warm_up(ours, stock, raws)
    ours_rates, stock_rates = [], []
    for number in range(args.rounds):
        ours_rate, stock_rate = run_round(ours, stock, raws, number)
        ours_rates.append(ours_rate)
        stock_rates.append(stock_rate)
        print(
            f"  round {number + 1}/{args.rounds}: ours {ours_rate:,.1f}/s, "
            f"stock {stock_rate:,.1f}/s, ratio {ours_rate / stock_rate:.2f}"
        )
    figures = {
        "ours_rates": ours_rates,
        "stock_rates": stock_rates,
        "ratio": statistics.median(o / s for o, s in zip(ours_rates, stock_rates, strict=True)),
        "ours_counts": ours.counts(),
        "stock_counts": stock.counts(),
    }
    if args.profile or figures["ratio"] < TARGET_RATIO:
        for name, text in profile(ours, stock, raws).items():
            for key, body in text.items():
                print(f"\n===== profile of {name}, by {key} =====\n{body}")
    return figures


def size(raws):
    return f"{len(raws):,} messages, {sum(map(len, raws)) / MB:,.1f} MB"


def main():
    args = parse_args()
    options = read_conf()
    ensure_postgres(options)
    label, open_source = describe_input(args)
    token = f"{int(time.time())}"
    raws, passes = collect(open_source, args.messages, token)
    figures = {
        "machine": machine(),
        "input": label,
        "throughput_input": f"throughput on {size(raws)}"
        + (f" ({passes} passes, repeats with fresh Message-IDs)" if passes > 1 else ""),
    }
    print(f"Input: {label}; {figures['throughput_input']}")

    print(f"Creating the bench database {DB} (installing the addon)...")
    create_database(options)
    registry, env = open_env()
    ok = True
    try:
        addresses = correspondents(raws, args.contacts)
        contact_ids = create_contacts(env, addresses)
        figures["contacts"] = len(contact_ids)

        from odoo.addons.trail_email_integration.core.fake_provider import FakeProvider

        provider = FakeProvider(fake_mailbox(raws, OWNER))
        registry["trail.mailbox"]._make_provider = lambda _self: provider
        ours = Ours(env, create_mailbox(env, OWNER))
        stock = Stock(env, contact_ids)

        if args.messages and args.rounds:
            figures.update(measure_throughput(args, ours, stock, raws))

        if args.memory_messages:
            memory_raws, memory_passes = collect(open_source, args.memory_messages, token + "m")
            figures["memory_input"] = size(memory_raws) + (
                f" ({memory_passes} passes)" if memory_passes > 1 else ""
            )
            print(f"Memory run: {figures['memory_input']} in a child process...")
            figures["memory"] = memory_run(options, env, memory_raws, ours.mailbox_id)

        lines, ok = report(args, figures)
        print()
        print("\n".join(lines))
        if not args.no_write:
            write_results(args, lines)
            print(f"\nWrote the capture section of {RESULTS.relative_to(ROOT)}")
    finally:
        env.cr.rollback()
        env.cr.close()
        if not args.keep_db:
            from odoo.modules.registry import Registry

            Registry.delete(DB)
            drop_database(options)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
