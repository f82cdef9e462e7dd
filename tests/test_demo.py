"""The README's first command, run headless end to end, checked against hand-worked figures."""

import json
import os
import re
import subprocess

import psycopg2
import pytest

from demo.profiles import EXPECTED_FILING

DB = "trail_demo_smoke"
BUNDLED_COUNT = 60  # the real messages under trail_email_integration/tests/data/cases/0*.eml


def _drop(state_dir):
    conf = (state_dir / "odoo-test.conf").read_text()
    options = dict(re.findall(r"^(\w+) = (.*)$", conf, re.MULTILINE))
    conn = psycopg2.connect(
        dbname="postgres", host=options["db_host"], port=options["db_port"],
        user=options["db_user"],
    )  # fmt: skip
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
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_demo_captures_and_files_the_bundled_mail(project_root, state_dir):
    _drop(state_dir)
    try:
        first = _run_demo(project_root)
        assert first["state"] == "active"
        assert first["captured"] == BUNDLED_COUNT
        assert first["skipped"] == 1  # the message dropped into spam before the scan
        assert first["failed"] == 0
        assert first["filed"] == len(EXPECTED_FILING) == 10
        assert first["unfiled"] == BUNDLED_COUNT - 10
        assert first["filed_files"] == EXPECTED_FILING
        assert first["outgoing"] > 0

        second = _run_demo(project_root)
        assert second["captured"] == BUNDLED_COUNT, "a second run reuses what exists"
        assert second["filed_files"] == EXPECTED_FILING
    finally:
        _drop(state_dir)


@pytest.mark.slow
def test_demo_on_the_microsoft_graph_emulator(project_root, state_dir):
    _drop(state_dir)
    try:
        result = _run_demo(project_root, "--provider", "microsoft")
        assert result["state"] == "active"
        assert result["captured"] == BUNDLED_COUNT
        assert result["failed"] == 0
        # Junk Email is a system folder the provider never walks, so nothing is even skipped.
        assert result["skipped"] == 0
        assert result["outgoing"] > 0, "the Sent Items folder is outgoing mail"
        assert result["filed_files"] == EXPECTED_FILING
    finally:
        _drop(state_dir)
