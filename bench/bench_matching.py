"""Matching benchmark: the filing rule's rate with few contacts and with many, in one run.

What it is
    A check that matching one email's addresses (``trail.filing._match``) costs a fixed number of
    indexed queries, whatever the number of contacts. It runs the same probe emails against a
    database of ``--small`` contacts and one of ``--large`` contacts, and prints both rates and
    their ratio. The large side must reach at least 0.8 times the rate of the small side.

How it works
    1. Installs the addon into ``trail_bench_small`` with ``odoo-bin`` and clones that database
       into ``trail_bench_large`` (``CREATE DATABASE ... TEMPLATE``).
    2. Fills each with bulk SQL (``generate_series``): contacts with two addresses each, one of
       them linked, grouped into profiles of two to four members with mixed roles; then
       ``VACUUM ANALYZE``. Contacts 1 to 100 are the same in both databases.
    3. Builds one set of probe emails (From, To, Cc, Reply-To...; known, unknown, unlinked,
       internal and mixed-case addresses, with and without display names) from a fixed seed.
    4. Opens an Odoo registry on each database in this process and matches every probe email on
       each side, in rounds where the sides take turns every 50 emails so that machine noise hits
       both; the first round warms the caches and is not timed. That round counts the SQL
       queries per email and checks that both sides file every email the same way. Last, it
       prints the plan of the matching query on the large side.
    5. Prints a table and writes the ``bench:matching`` section of ``bench/RESULTS.md``.

Use
    ``.venv/bin/python bench/bench_matching.py [--small 100] [--large 100000] [--emails 2000]
    [--rounds 5] [--keep-db]``, after ``./dev setup``. It starts the project's PostgreSQL with
    ``./dev pg start`` when it is not running. It exits non-zero when the ratio is below target.

Caveats
    The figures are from one run on one machine: read the ratio and the query counts, not the
    absolute rates. The bulk SQL bypasses the ORM, so it fills only the columns the filing rule
    and the forms need. The benchmark is not part of the tests.
"""

import argparse
import configparser
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / ".local" / "odoo-test.conf"
RESULTS = ROOT / "bench" / "RESULTS.md"
SMALL_DB = "trail_bench_small"
LARGE_DB = "trail_bench_large"
TARGET_RATIO = 0.8
SHARED_CONTACTS = 100  # contacts 1..100 exist in both databases; probes use only these
ADDRESSES_PER_EMAIL = 6
SERVER_TIMES_EMAILS = 200  # emails whose query is EXPLAINed for planning time
CHUNK = 50  # emails per turn when the sides take turns
MAILBOX_OWNER = "adviser@firm.example"
SEED = 20240601
SECTION_START = "<!-- bench:matching -->"
SECTION_END = "<!-- /bench:matching -->"
RESULTS_HEADER = "# Benchmark results\n"

# Position in a profile decides the role; the fourth member does not file mail.
ROLES_BY_POSITION = ("participant", "non_dependent", "dependent", "accountant")


# --------------------------------------------------------------------------- database set-up
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


def admin_execute(options, *statements):
    conn = connect(options)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cr:
            for statement in statements:
                cr.execute(statement)
    finally:
        conn.close()


def drop_databases(options):
    admin_execute(
        options, *(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)' for db in (SMALL_DB, LARGE_DB))
    )


def create_databases(options):
    """Install the addon once, then clone the fresh database for the other side."""
    drop_databases(options)
    odoo_src = Path(os.environ.get("ODOO_SRC", "/opt/odoo-18.0"))
    command = [
        sys.executable,
        str(odoo_src / "odoo-bin"),
        "-c",
        str(CONF),
        "-d",
        SMALL_DB,
        "-i",
        "trail_email_integration",
        "--stop-after-init",
        "--without-demo=all",
        "--log-level=warn",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    admin_execute(options, f'CREATE DATABASE "{LARGE_DB}" TEMPLATE "{SMALL_DB}"')
    return time.perf_counter() - started


POPULATE_SQL = """
CREATE TEMP TABLE bench_contact AS
SELECT i,
       nextval('res_partner_id_seq')::int AS id,
       (i - 1) / 9 * 3 + ((i - 1) %% 9 >= 2)::int + ((i - 1) %% 9 >= 5)::int AS profile_no,
       (i - 1) %% 9 - CASE WHEN (i - 1) %% 9 < 2 THEN 0 WHEN (i - 1) %% 9 < 5 THEN 2 ELSE 5 END
           AS position,
       i %% 50 <> 49 AS active
  FROM generate_series(1, %(contacts)s) AS i;

CREATE TEMP TABLE bench_profile AS
SELECT profile_no, nextval('res_partner_id_seq')::int AS id
  FROM (SELECT DISTINCT profile_no FROM bench_contact ORDER BY profile_no) AS p;

INSERT INTO res_partner (id, commercial_partner_id, name, complete_name, ref, email,
                         email_normalized, active, type, is_company, is_profile, partner_share,
                         lang, create_uid, write_uid, create_date, write_date)
SELECT id, id, 'Bench contact ' || i, 'Bench contact ' || i, 'bench-c-' || i,
       'c' || i || '@bench.example', 'c' || i || '@bench.example', active, 'contact', false,
       false, true, 'en_US', 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM bench_contact;

INSERT INTO res_partner (id, commercial_partner_id, name, complete_name, ref, active, type,
                         is_company, is_profile, profile_type, partner_share, lang, create_uid,
                         write_uid, create_date, write_date)
SELECT id, id, 'Bench profile ' || profile_no, 'Bench profile ' || profile_no,
       'bench-p-' || profile_no, profile_no %% 97 <> 96, 'contact', true, true, 'family', true,
       'en_US', 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM bench_profile;

INSERT INTO trail_email_address (partner_id, email, linked, is_primary, sequence, active,
                                 create_uid, write_uid, create_date, write_date)
SELECT c.id, a.email, a.linked, a.linked, a.sequence, c.active,
       1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM bench_contact c
 CROSS JOIN LATERAL (VALUES ('c' || c.i || '@bench.example', true, 10),
                            ('c' || c.i || '.home@bench.example', false, 20))
       AS a(email, linked, sequence);

INSERT INTO trail_profile_member (profile_id, contact_id, role, files_mail, sequence,
                                  create_uid, write_uid, create_date, write_date)
SELECT p.id, c.id, r.role, r.role = ANY(%(filing_roles)s), 10 * (c.position + 1),
       1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM bench_contact c
  JOIN bench_profile p ON p.profile_no = c.profile_no
 CROSS JOIN LATERAL (SELECT (%(roles)s::varchar[])[c.position + 1] AS role) AS r
UNION ALL
-- Every tenth contact also advises the next profile, in a role that does not file mail.
SELECT p.id, c.id, 'professional_adviser', false, 100,
       1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
  FROM bench_contact c
  JOIN bench_profile p ON p.profile_no = c.profile_no + 1
 WHERE c.i %% 10 = 0;
"""


def populate(options, dbname, contacts):
    """Fill ``dbname`` with ``contacts`` contacts; return the row counts and the time taken."""
    from odoo.addons.trail_email_integration.models.trail_profile_member import FILING_ROLES

    started = time.perf_counter()
    conn = connect(options, dbname)
    try:
        with conn, conn.cursor() as cr:
            cr.execute(
                POPULATE_SQL,
                {
                    "contacts": contacts,
                    "filing_roles": list(FILING_ROLES),
                    "roles": list(ROLES_BY_POSITION),
                },
            )
            cr.execute(
                """
                SELECT (SELECT count(*) FROM res_partner),
                       (SELECT count(*) FROM res_partner WHERE is_profile),
                       (SELECT count(*) FROM trail_email_address),
                       (SELECT count(*) FROM trail_profile_member)
                """
            )
            counts = dict(
                zip(("partners", "profiles", "addresses", "members"), cr.fetchone(), strict=True)
            )
        conn.autocommit = True
        with conn.cursor() as cr:
            for table in ("res_partner", "trail_email_address", "trail_profile_member"):
                cr.execute(f"VACUUM ANALYZE {table}")
    finally:
        conn.close()
    return counts, time.perf_counter() - started


def internal_addresses(options):
    """The addresses of active internal users, which must never file mail on their own."""
    conn = connect(options, SMALL_DB)
    try:
        with conn.cursor() as cr:
            cr.execute(
                """
                SELECT p.email_normalized
                  FROM res_users u JOIN res_partner p ON p.id = u.partner_id
                 WHERE u.active AND NOT u.share AND p.email_normalized IS NOT NULL
                """
            )
            return [row[0] for row in cr.fetchall()]
    finally:
        conn.close()


# --------------------------------------------------------------------------- probe emails
def spell(rng, email, name):
    """One of the ways a header carries ``email``."""
    style = rng.randrange(5)
    if style == 0:
        return email
    if style == 1:
        return email.upper()
    if style == 2:
        return f"{name} <{email}>"
    if style == 3:
        local, domain = email.split("@")
        return f'"{name}, Esq." <{local.capitalize()}@{domain.upper()}>'
    return f"  {email.title()}  "


def probe_address(rng, internal):
    """Pick one address: a linked or unlinked one of a shared contact, a stranger, a colleague."""
    kind = rng.random()
    i = rng.randint(1, SHARED_CONTACTS)
    if kind < 0.40:
        return spell(rng, f"c{i}@bench.example", f"Contact {i}")
    if kind < 0.50:
        return spell(rng, f"c{i}.home@bench.example", f"Contact {i}")
    if kind < 0.55 and internal:
        return spell(rng, rng.choice(internal), "Colleague")
    stranger = rng.randrange(10**6)
    return spell(rng, f"person{stranger}@elsewhere{stranger % 50}.example", f"Person {stranger}")


def probe_emails(count, internal):
    """``count`` emails as lists of ``(header, address)``; the mailbox owner is on every one."""
    rng = random.Random(SEED)
    emails = []
    for _ in range(count):
        owner_header = rng.choice(("from", "to"))
        other_headers = ["to", "cc", "cc", "bcc", rng.choice(("reply_to", "sender", "to"))]
        if owner_header == "to":
            other_headers[0] = "from"
        pairs = [(owner_header, spell(rng, MAILBOX_OWNER, "Adviser"))]
        pairs += [(header, probe_address(rng, internal)) for header in other_headers]
        rng.shuffle(pairs)
        emails.append(pairs[:ADDRESSES_PER_EMAIL])
    return emails


# --------------------------------------------------------------------------- measuring
class Side:
    """One database with its Odoo registry, an open cursor, and the figures measured on it."""

    def __init__(self, name, dbname, contacts):
        import odoo
        from odoo.modules.registry import Registry

        self.name = name
        self.dbname = dbname
        self.contacts = contacts
        self.registry = Registry(dbname)
        self.cr = self.registry.cursor()
        self.env = odoo.api.Environment(self.cr, odoo.SUPERUSER_ID, {})
        self.filing = self.env["trail.filing"]
        self.rates = []
        self.queries_per_email = {}
        self.results = []
        self.planning_ms = self.execution_ms = None

    def seconds(self, emails):
        """Match every email once; return the time taken."""
        match = self.filing._match
        started = time.perf_counter()
        for pairs in emails:
            match(pairs, exclude=(MAILBOX_OWNER,))
        return time.perf_counter() - started

    def count(self, emails):
        """Match every email once, keeping the results and the SQL queries each one cost."""
        from odoo import sql_db

        self.results, counts = [], {}
        for pairs in emails:
            before = sql_db.sql_counter
            self.results.append(self.filing._match(pairs, exclude=(MAILBOX_OWNER,)))
            queries = sql_db.sql_counter - before
            counts[queries] = counts.get(queries, 0) + 1
        self.queries_per_email = counts

    def signatures(self):
        """Each email's matches, with contacts and profiles named by ``ref`` instead of ids."""
        ids = {
            partner_id
            for result in self.results
            for _header, _email, contact_id, profile_id, _role in result.matches
            for partner_id in (contact_id, profile_id)
        }
        self.cr.execute("SELECT id, ref FROM res_partner WHERE id = ANY(%s)", [list(ids)])
        refs = dict(self.cr.fetchall())
        return [
            sorted((h, e, refs[c], refs[p], r) for h, e, c, p, r in result.matches)
            for result in self.results
        ]

    def sent_query(self, pairs):
        """The ``(query, params)`` that ``_match`` sends to the database for ``pairs``."""
        captured = []
        execute = self.cr.execute

        def capture(query, params=None, log_exceptions=True):
            captured.append((query, params))
            return execute(query, params, log_exceptions)

        self.cr.execute = capture
        try:
            self.filing._match(pairs, exclude=(MAILBOX_OWNER,))
        finally:
            del self.cr.execute
        return captured[-1]

    def explain(self, pairs):
        """EXPLAIN ANALYZE of the exact query ``_match`` sends for ``pairs``."""
        query, params = self.sent_query(pairs)
        self.cr.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query, params)
        return [row[0] for row in self.cr.fetchall()]

    def server_times(self, emails):
        """Median planning and execution time of the matching query, in ms, as the server sees it.

        Planning happens on every call, because the query is sent as text; it is the part of the
        cost that the rate alone cannot tell apart from execution.
        """
        planning, execution = [], []
        for pairs in emails:
            query, params = self.sent_query(pairs)
            self.cr.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params)
            plan = self.cr.fetchone()[0][0]
            planning.append(plan["Planning Time"])
            execution.append(plan["Execution Time"])
        self.planning_ms = statistics.median(planning)
        self.execution_ms = statistics.median(execution)

    def close(self):
        self.cr.rollback()
        self.cr.close()


def measure(small, large, emails, rounds):
    """Time both sides over ``rounds`` rounds, after one warm-up round that counts queries.

    Within a round the sides take turns every ``CHUNK`` emails, the first turn alternating, so a
    burst of load from elsewhere on the machine slows both sides rather than one.
    """
    for side in (small, large):
        side.count(emails)
    chunks = [emails[start : start + CHUNK] for start in range(0, len(emails), CHUNK)]
    for number in range(rounds):
        elapsed = {small: 0.0, large: 0.0}
        for index, chunk in enumerate(chunks):
            for side in (small, large) if (number + index) % 2 == 0 else (large, small):
                elapsed[side] += side.seconds(chunk)
        for side in (small, large):
            side.rates.append(len(emails) / elapsed[side])
        print(
            f"  round {number + 1}/{rounds}: small {small.rates[-1]:,.0f}/s, "
            f"large {large.rates[-1]:,.0f}/s"
        )
    return [lr / sr for sr, lr in zip(small.rates, large.rates, strict=True)]


def plan_findings(plan):
    """Which indexes the plan uses, and which bench tables it reads in full."""
    text = "\n".join(plan)
    indexes = sorted(set(re.findall(r"Index (?:Only )?Scan using (\S+)", text)))
    indexes += sorted(set(re.findall(r"Bitmap Index Scan on (\S+)", text)) - set(indexes))
    seq_scans = sorted(
        set(re.findall(r"Seq Scan on (res_partner|trail_email_address|trail_profile_member)", text))
    )
    return indexes, seq_scans


# --------------------------------------------------------------------------- reporting
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


def format_counts(counts):
    """``{queries: emails}`` as text, e.g. ``1 query for 2,000 emails``."""
    return ", ".join(
        f"{n} quer{'y' if n == 1 else 'ies'} for {e:,} emails" for n, e in sorted(counts.items())
    )


def report(args, figures):
    small, large = figures["small"], figures["large"]
    ratio = figures["ratio"]
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    rows = [
        ("", "small", "large"),
        ("contacts", f"{small.contacts:,}", f"{large.contacts:,}"),
        ("addresses", f"{small.counts['addresses']:,}", f"{large.counts['addresses']:,}"),
        ("profiles", f"{small.counts['profiles']:,}", f"{large.counts['profiles']:,}"),
        ("memberships", f"{small.counts['members']:,}", f"{large.counts['members']:,}"),
        (
            "emails/s (median)",
            f"{statistics.median(small.rates):,.0f}",
            f"{statistics.median(large.rates):,.0f}",
        ),
        (
            "planning ms (median)",
            f"{small.planning_ms:.2f}",
            f"{large.planning_ms:.2f}",
        ),
        (
            "execution ms (median)",
            f"{small.execution_ms:.2f}",
            f"{large.execution_ms:.2f}",
        ),
        (
            "queries per email",
            format_counts(small.queries_per_email),
            format_counts(large.queries_per_email),
        ),
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(3)]
    table = [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    table.insert(1, "| " + " | ".join("-" * width for width in widths) + " |")
    indexes, seq_scans = figures["plan_findings"]
    lines = [
        f"Machine: {machine()}",
        f"Probe: {args.emails:,} emails of {ADDRESSES_PER_EMAIL} addresses each, "
        f"{args.rounds} timed rounds after one warm-up, sides taking turns every {CHUNK} emails",
        "",
        *table,
        "",
        f"Ratio large/small (median of rounds): {ratio:.2f} (target ≥ {TARGET_RATIO}): {verdict}",
        f"Ratios per round: {', '.join(f'{r:.2f}' for r in figures['ratios'])}",
        f"Same matches on both sides: {'yes' if figures['same_results'] else 'NO'}; "
        f"emails filed: {figures['filed']:,} of {args.emails:,}",
        f"Indexes in the large side's plan: {', '.join(indexes) or 'none'}",
        f"Full scans of bench tables in that plan: {', '.join(seq_scans) or 'none'}",
    ]
    return verdict, lines


def write_results(args, lines, plan):
    command = (
        f".venv/bin/python bench/bench_matching.py --small {args.small} --large {args.large} "
        f"--emails {args.emails} --rounds {args.rounds}"
    )
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = [
        SECTION_START,
        "## Matching: rate with few and with many contacts",
        "",
        f"Run on {date} with `{command}`.",
        "",
        *(line if line.startswith("|") or not line else f"- {line}" for line in lines),
        "",
        "Plan of the matching query on the large side (one probe email):",
        "",
        "```",
        *plan,
        "```",
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--small", type=int, default=100, help="contacts on the small side")
    parser.add_argument("--large", type=int, default=100_000, help="contacts on the large side")
    parser.add_argument("--emails", type=int, default=2000, help="probe emails per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench databases")
    args = parser.parse_args()
    if args.small < SHARED_CONTACTS or args.large < args.small:
        parser.error(f"need {SHARED_CONTACTS} <= --small <= --large")
    return args


def main():
    args = parse_args()
    options = read_conf()
    ensure_postgres(options)

    import odoo

    odoo.tools.config.parse_config(["-c", str(CONF), "--log-level=warn"])

    print(f"Installing the addon into {SMALL_DB} and cloning it into {LARGE_DB}...")
    print(f"  done in {create_databases(options):.0f}s")
    populated = {}
    for dbname, contacts in ((SMALL_DB, args.small), (LARGE_DB, args.large)):
        counts, seconds = populate(options, dbname, contacts)
        populated[dbname] = counts
        print(f"  {dbname}: {counts} in {seconds:.1f}s")

    emails = probe_emails(args.emails, internal_addresses(options))
    small = Side("small", SMALL_DB, args.small)
    large = Side("large", LARGE_DB, args.large)
    try:
        small.counts, large.counts = populated[SMALL_DB], populated[LARGE_DB]
        print(f"Matching {args.emails:,} emails per round on each side...")
        ratios = measure(small, large, emails, args.rounds)
        same_results = small.signatures() == large.signatures()
        filed = sum(1 for result in large.results if result)
        for side in (small, large) * 2:  # twice, interleaved; the second pass is kept
            side.server_times(emails[:SERVER_TIMES_EMAILS])
        probe = max(emails, key=lambda pairs: len(large.filing._match(pairs).matches))
        plan = large.explain(probe)
    finally:
        small.close()
        large.close()

    figures = {
        "small": small,
        "large": large,
        "ratios": ratios,
        "ratio": statistics.median(ratios),
        "same_results": same_results,
        "filed": filed,
        "plan_findings": plan_findings(plan),
    }
    verdict, lines = report(args, figures)
    print()
    print("\n".join(lines))
    print("\nPlan of the matching query on the large side:")
    print("\n".join(f"  {line}" for line in plan))
    write_results(args, lines, plan)
    print(f"\nWrote the matching section of {RESULTS.relative_to(ROOT)}")

    if not args.keep_db:
        from odoo.modules.registry import Registry
        from odoo.sql_db import close_db

        for dbname in (SMALL_DB, LARGE_DB):
            Registry.delete(dbname)
            close_db(dbname)
        drop_databases(options)

    constant = small.queries_per_email == large.queries_per_email
    constant = constant and len(small.queries_per_email) == 1
    return 0 if verdict == "PASS" and same_results and constant else 1


if __name__ == "__main__":
    sys.exit(main())
