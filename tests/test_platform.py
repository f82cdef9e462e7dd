"""The set-up script and the addon's life cycle, checked as a new user would meet them."""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest


def run_dev(project_root, *args, env_extra=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if k != "ODOO_SRC"}
    env.update(env_extra or {})
    started = time.monotonic()
    proc = subprocess.run(
        [str(project_root / "dev"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return proc, time.monotonic() - started


def test_setup_without_odoo_or_network_stops_with_clear_message(project_root, tmp_path):
    proc, elapsed = run_dev(
        project_root,
        "setup",
        env_extra={
            "TRAIL_STATE_DIR": str(tmp_path / "state"),
            "TRAIL_VENV": str(tmp_path / "venv"),
            "TRAIL_ODOO_DEFAULT": str(tmp_path / "no-odoo-here"),
            # Port 9 on loopback refuses at once, as an offline machine would.
            "TRAIL_ODOO_CLONE_URL": "https://127.0.0.1:9/odoo/odoo.git",
        },
    )
    assert proc.returncode != 0
    assert elapsed < 30
    assert "ODOO_SRC" in proc.stderr
    assert "git clone --depth 1 --branch 18.0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "venv").exists(), "nothing is installed before Odoo is found"


def test_setup_rejects_odoo_src_that_is_not_odoo_18(project_root, tmp_path):
    proc, _elapsed = run_dev(
        project_root,
        "setup",
        env_extra={"ODOO_SRC": str(tmp_path), "TRAIL_STATE_DIR": str(tmp_path / "state")},
    )
    assert proc.returncode != 0
    assert f"ODOO_SRC={tmp_path} is not an Odoo 18.0 source tree" in proc.stderr


def test_second_setup_is_quick_and_changes_nothing(project_root, state_dir):
    if not (state_dir / "odoo.conf").exists():
        pytest.fail("run through ./dev test, which sets the project up first")
    venv_stamp = (project_root / ".venv" / ".trail-stamp").read_text()
    proc, elapsed = run_dev(project_root, "setup")
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 20
    assert "Installing" not in proc.stderr
    assert "Creating" not in proc.stderr
    assert (project_root / ".venv" / ".trail-stamp").read_text() == venv_stamp


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_database_port_can_change_after_the_cluster_exists(project_root):
    # A cluster of its own, in a folder the postgres user can reach when the tests run as root.
    home = tempfile.mkdtemp(prefix="trail-pg-port-", dir="/var/tmp")
    os.chmod(home, 0o755)
    first, second = free_port(), free_port()
    env = {"TRAIL_PG_HOME": os.path.join(home, "pg"), "PGHOST": ""}
    try:
        proc, _ = run_dev(
            project_root, "pg", "start", env_extra={**env, "TRAIL_PG_PORT": str(first)}
        )
        assert proc.returncode == 0, proc.stderr

        proc, _ = run_dev(
            project_root, "pg", "start", env_extra={**env, "TRAIL_PG_PORT": str(second)}
        )
        assert proc.returncode != 0
        assert f"running on port {first}, not {second}" in proc.stderr
        assert "./dev pg stop" in proc.stderr

        run_dev(project_root, "pg", "stop", env_extra=env)
        proc, _ = run_dev(
            project_root, "pg", "start", env_extra={**env, "TRAIL_PG_PORT": str(second)}
        )
        assert proc.returncode == 0, proc.stderr
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", second)) == 0
    finally:
        run_dev(project_root, "pg", "stop", env_extra=env)
        shutil.rmtree(home, ignore_errors=True)


def odoo_command(state_dir, *args, subcommand=None):
    conf = state_dir / "odoo-test.conf"
    odoo_src = os.environ.get("TRAIL_ODOO_SRC", "/opt/odoo-18.0")
    head = [sys.executable, os.path.join(odoo_src, "odoo-bin")]
    if subcommand:
        head.append(subcommand)
    return [*head, "-c", str(conf), *args]


UNINSTALL_SCRIPT = """
module = env["ir.module.module"].search([("name", "=", "trail_email_integration")])
module.button_immediate_uninstall()
env.cr.commit()
print("STATE", env["ir.module.module"].search([("name", "=", "trail_email_integration")]).state)
"""


@pytest.mark.slow
def test_install_and_uninstall_without_loader_warnings(state_dir):
    db = "trail_lifecycle_check"
    subprocess.run([pg_tool("dropdb"), *pg_args(state_dir), "--if-exists", db], check=True)
    try:
        install = subprocess.run(
            odoo_command(state_dir, "-d", db, "-i", "trail_email_integration", "--stop-after-init"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert install.returncode == 0, install.stderr[-3000:]
        ours = [
            line
            for line in install.stderr.splitlines()
            if re.search(r" (WARNING|ERROR|CRITICAL) ", line) and "trail_email_integration" in line
        ]
        assert ours == []

        uninstall = subprocess.run(
            odoo_command(state_dir, "-d", db, "--log-level=warn", subcommand="shell"),
            input=UNINSTALL_SCRIPT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert "STATE uninstalled" in uninstall.stdout, uninstall.stderr[-3000:]
        problems = [
            line
            for line in uninstall.stderr.splitlines()
            if re.search(r" (WARNING|ERROR|CRITICAL) ", line) and "trail_email" in line
        ]
        assert problems == []
    finally:
        subprocess.run([pg_tool("dropdb"), *pg_args(state_dir), "--if-exists", db], check=False)


def pg_tool(name):
    return os.path.join(os.environ.get("TRAIL_PG_BIN", "/usr/lib/postgresql/15/bin"), name)


def pg_args(state_dir):
    conf = (state_dir / "odoo-test.conf").read_text()
    options = dict(re.findall(r"^(\w+) = (.*)$", conf, re.MULTILINE))
    return ["-h", options["db_host"], "-p", options["db_port"], "-U", options["db_user"]]
