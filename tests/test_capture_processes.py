"""The capture engine across real processes: a killed backfill, and two workers at once.

These run against a database of their own, with the addon installed, because every worker
commits as a real cron does.
"""

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import psycopg2
import pytest

from odoo.addons.trail_email_integration.core.fake_provider import FakeMailbox

WORKER = Path(__file__).parent / "helpers" / "capture_worker.py"
DB = "trail_capture_processes"
MESSAGES = 240


def _options(state_dir):
    conf = (state_dir / "odoo-test.conf").read_text()
    return dict(re.findall(r"^(\w+) = (.*)$", conf, re.MULTILINE))


@pytest.fixture(scope="module")
def database(state_dir):
    options = _options(state_dir)
    odoo_src = os.environ.get("TRAIL_ODOO_SRC", "/opt/odoo-18.0")
    connect = {"host": options["db_host"], "port": options["db_port"], "user": options["db_user"]}
    _drop(connect)
    subprocess.run(
        [sys.executable, f"{odoo_src}/odoo-bin", "-c", str(state_dir / "odoo-test.conf"),
         "-d", DB, "-i", "trail_email_integration", "--stop-after-init", "--log-level=warn"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    yield connect
    _drop(connect)


def _drop(connect):
    conn = psycopg2.connect(dbname="postgres", **connect)
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    finally:
        conn.close()


def _query(connect, sql):
    with psycopg2.connect(dbname=DB, **connect) as conn, conn.cursor() as cr:
        cr.execute(sql)
        return cr.fetchall()


def _reset(connect):
    with psycopg2.connect(dbname=DB, **connect) as conn, conn.cursor() as cr:
        cr.execute("DELETE FROM trail_mail")
        cr.execute("DELETE FROM trail_mailbox")


def _mailbox_file(tmp_path, count=MESSAGES):
    box = FakeMailbox("adviser@firm.example")
    now = datetime.now(timezone.utc)
    for index in range(count):
        message = EmailMessage()
        message["From"] = f"client{index % 17}@example.com"
        message["To"] = "adviser@firm.example"
        message["Subject"] = f"Message {index}"
        date = now - timedelta(days=index * 3)
        message["Date"] = format_datetime(date)
        message["Message-ID"] = f"<msg{index}@example.com>"
        message.set_content(f"Body {index}\n")
        box.add(message.as_bytes(), labels=("INBOX",), date=date)
    path = tmp_path / "box.json"
    box.save(path)
    return path


def _worker(state_dir, box, command, delay=0.0):
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(state_dir / "odoo-test.conf"), DB, str(box), command,
         "--delay", str(delay)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _counts(connect):
    mails = _query(connect, "SELECT count(*), count(DISTINCT message_id) FROM trail_mail")[0]
    locations = _query(connect, "SELECT count(*) FROM trail_mail_location")[0][0]
    return mails[0], mails[1], locations


@pytest.mark.slow
def test_killed_backfill_resumes_with_nothing_lost_or_duplicated(database, state_dir, tmp_path):
    _reset(database)
    box = _mailbox_file(tmp_path)
    assert _worker(state_dir, box, "setup").wait(timeout=120) == 0

    victim = _worker(state_dir, box, "backfill", delay=0.01)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = _query(database, "SELECT count(*) FROM trail_mail")[0][0]
        if done >= 60:
            break
        time.sleep(0.1)
    assert 0 < done < MESSAGES, "the kill must land mid-backfill"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)

    survivor = _worker(state_dir, box, "backfill")
    assert survivor.wait(timeout=300) == 0, survivor.communicate()[1][-2000:]
    assert _counts(database) == (MESSAGES, MESSAGES, MESSAGES)
    state = _query(database, "SELECT state, backfill_done FROM trail_mailbox")
    assert state == [("active", True)]


@pytest.mark.slow
def test_two_concurrent_workers_store_each_email_once(database, state_dir, tmp_path):
    _reset(database)
    box = _mailbox_file(tmp_path)
    assert _worker(state_dir, box, "setup").wait(timeout=120) == 0

    workers = [_worker(state_dir, box, "backfill", delay=0.002) for _ in range(2)]
    workers.append(_worker(state_dir, box, "scan"))
    for worker in workers:
        assert worker.wait(timeout=300) == 0, worker.communicate()[1][-2000:]
    assert _counts(database) == (MESSAGES, MESSAGES, MESSAGES)
