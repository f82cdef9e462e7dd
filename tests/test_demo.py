"""The README's first command, run headless end to end, checked against hand-worked figures."""

import contextlib
import json
import mailbox
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import psycopg2
import pytest
import requests

from demo.profiles import EXPECTED_FILING
from demo.run import ADVISER_EMAIL

DB = "trail_demo_smoke"
BUNDLED_COUNT = 60  # the real messages under trail_email_integration/tests/data/cases/0*.eml


def _connect(state_dir, dbname):
    conf = (state_dir / "odoo-test.conf").read_text()
    options = dict(re.findall(r"^(\w+) = (.*)$", conf, re.MULTILINE))
    return psycopg2.connect(
        dbname=dbname, host=options["db_host"], port=options["db_port"], user=options["db_user"]
    )


def _adviser_groups(state_dir):
    conn = _connect(state_dir, DB)
    try:
        with conn.cursor() as cr:
            cr.execute(
                """SELECT d.module || '.' || d.name
                     FROM res_users u
                     JOIN res_groups_users_rel r ON r.uid = u.id
                     JOIN ir_model_data d ON d.model = 'res.groups' AND d.res_id = r.gid
                    WHERE u.login = 'adviser'"""
            )
            return {row[0] for row in cr.fetchall()}
    finally:
        conn.close()


def _drop(state_dir):
    conn = _connect(state_dir, "postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cr:
            cr.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    finally:
        conn.close()


def _run_demo(project_root, *args):
    env = {**os.environ, "TRAIL_DB": DB, "TRAIL_GMAIL_PORT": "0", "TRAIL_HTTP_PORT": "8089"}
    proc = subprocess.run(
        [str(project_root / "dev"), "demo", "--headless", *args],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    # stdout holds the summary alone, for scripts and jq; progress and notes go to stderr.
    return json.loads(proc.stdout), proc.stderr


def _dev_demo(project_root, *args):
    env = {**os.environ, "TRAIL_DB": DB}
    return subprocess.run(
        [str(project_root / "dev"), "demo", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _write_mbox(path, messages):
    """An mbox of ``(subject, Date header or None, "From " line date)``."""
    box = mailbox.mbox(str(path))
    for subject, date, from_line_date in messages:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = (
            "bob@example.org",
            ADVISER_EMAIL,
            subject,
        )
        message["Message-ID"] = f"<{subject.replace(' ', '-')}@example.org>"
        if date:
            message["Date"] = format_datetime(date)
        message.set_content(f"About {subject}.")
        entry = mailbox.mboxMessage(message.as_bytes())
        entry.set_from(f"bob@example.org {from_line_date}")
        box.add(entry)
    box.flush()
    box.close()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_in_use(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _serve_demo(project_root, port, requests_count):
    """Run the interactive demo, make ``requests_count`` requests, then press Ctrl-C."""
    env = {**os.environ, "TRAIL_DB": DB, "TRAIL_GMAIL_PORT": "0", "TRAIL_HTTP_PORT": str(port)}
    proc = subprocess.Popen(
        [str(project_root / "dev"), "demo"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    output = []
    try:
        deadline = time.monotonic() + 600
        while not any("Press Ctrl-C" in line for line in output):  # the last line
            assert time.monotonic() < deadline and proc.poll() is None, "".join(output)[-3000:]
            with contextlib.suppress(queue.Empty):
                output.append(lines.get(timeout=1))
        answers = [
            requests.get(f"http://127.0.0.1:{port}/web/health", timeout=10).status_code
            for _ in range(requests_count)
        ]
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    return answers, "".join(output)


@pytest.mark.slow
def test_demo_captures_and_files_the_bundled_mail(project_root, state_dir):
    _drop(state_dir)
    try:
        first, said = _run_demo(project_root)
        assert "backfill [" in said and "\r" not in said, "one progress line on a pipe"
        assert first["state"] == "active"
        assert first["captured"] == BUNDLED_COUNT
        assert first["skipped"] == 1  # the message dropped into spam before the scan
        assert first["failed"] == 0
        assert first["filed"] == len(EXPECTED_FILING) == 10
        assert first["unfiled"] == BUNDLED_COUNT - 10
        assert first["filed_files"] == EXPECTED_FILING
        assert first["outgoing"] > 0
        assert first["outside_window"] == 0  # six years of mail, all inside the 7-year window
        # The adviser keeps client files: logs notes on profiles and sets their link icons.
        assert {"base.group_user", "base.group_partner_manager"} <= _adviser_groups(state_dir)

        second, _said = _run_demo(project_root)
        assert second["captured"] == BUNDLED_COUNT, "a second run reuses what exists"
        assert second["filed_files"] == EXPECTED_FILING

        # The interactive demo keeps answering however much Odoo logs (a full pipe once
        # stalled it after about 450 requests), and Ctrl-C stops Odoo and the emulator.
        port = _free_port()
        answers, output = _serve_demo(project_root, port, requests_count=1200)
        assert answers == [200] * 1200
        assert f"Captured {BUNDLED_COUNT} emails: 10 filed" in output
        assert "history already imported" in output
        assert f"database {DB}; log in as adviser / adviser" in output
        # The tests' database server was running before the demo, and stays up after it.
        assert "Press Ctrl-C to stop Odoo and the emulator (the database was already" in output
        assert not _port_in_use(port)
    finally:
        _drop(state_dir)


@pytest.mark.slow
def test_demo_on_the_microsoft_graph_emulator(project_root, state_dir):
    _drop(state_dir)
    try:
        result, _said = _run_demo(project_root, "--provider", "microsoft")
        assert result["state"] == "active"
        assert result["captured"] == BUNDLED_COUNT
        assert result["failed"] == 0
        # Junk Email is a system folder the provider never walks, so nothing is even skipped.
        assert result["skipped"] == 0
        assert result["outgoing"] > 0, "the Sent Items folder is outgoing mail"
        assert result["filed_files"] == EXPECTED_FILING
    finally:
        _drop(state_dir)


def test_demo_help_is_at_once_and_a_bad_mbox_is_refused_before_set_up(project_root, tmp_path):
    shown = _dev_demo(project_root, "--help")
    assert shown.returncode == 0 and "[dev]" not in shown.stderr, "no set-up for the help"
    text = " ".join(shown.stdout.split())  # however wide the terminal
    assert "--mbox PATH" in text and "port of the emulator, Gmail or Microsoft Graph" in text
    assert "--conf CONF" not in text and "set TRAIL_DB or TRAIL_HTTP_PORT" in text

    (tmp_path / "notes.txt").write_text("Not mail at all.\n")
    # mailbox.mbox would read a message from the third line on and drop the rest.
    (tmp_path / "letter.txt").write_text("Dear all,\n\nFrom now on we meet on Mondays.\n")
    (tmp_path / "empty.mbox").write_text("")
    for name, said in (
        ("missing.mbox", "no such mbox file: {}"),
        ("", "{} is a directory, not an mbox file"),
        ("notes.txt", "no messages found in {}: is it an mbox file?"),
        ("letter.txt", "no messages found in {}: is it an mbox file?"),
        ("empty.mbox", "no messages found in {}: is it an mbox file?"),
    ):
        path = tmp_path / name
        refused = _dev_demo(project_root, "--mbox", str(path), "--headless")
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr == f"./dev demo: {said.format(path)}\n", "one line, no set-up"


@pytest.mark.slow
def test_demo_on_an_mbox_counts_the_mail_outside_the_history_window(
    project_root, state_dir, tmp_path
):
    now = datetime.now(timezone.utc)
    path = tmp_path / "export.mbox"
    _write_mbox(
        path,
        [
            ("last month", now - timedelta(days=30), "Mon Jan  1 10:00:00 2024"),
            ("last year", now - timedelta(days=400), "Mon Jan  1 10:00:00 2024"),
            (
                "in 2010",
                datetime(2010, 5, 3, 9, 0, tzinfo=timezone.utc),
                "Mon May  3 09:00:00 2010",
            ),
            ("undated, 2011", None, "Mon Mar  7 10:00:00 2011"),  # dated by its From line
        ],
    )
    _drop(state_dir)
    try:
        result, said = _run_demo(project_root, "--provider", "microsoft", "--mbox", str(path))
        assert (result["captured"], result["outside_window"], result["failed"]) == (2, 2, 0)
        assert "imported this mailbox's history in an earlier run" not in said

        # The history is imported once per mailbox: another mbox on the same database is
        # not read, and the demo says so rather than showing the old counts as if it were.
        other = tmp_path / "other.mbox"
        _write_mbox(other, [("two days ago", now - timedelta(days=2), "Mon Jan  1 10:00:00 2024")])
        again, said = _run_demo(project_root, "--provider", "microsoft", "--mbox", str(other))
        assert again["captured"] == 2
        assert f"the messages of {other} are not read" in " ".join(said.split())
    finally:
        _drop(state_dir)
