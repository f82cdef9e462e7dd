"""Shared fixtures for the checks that live outside the addon (set-up, emulators, end to end)."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root():
    return ROOT


@pytest.fixture(scope="session")
def state_dir():
    """The folder ``./dev`` keeps its virtualenv-adjacent state in (config files, cluster)."""
    return Path(os.environ.get("TRAIL_STATE_DIR", ROOT / ".local"))
