"""Pytest fixtures for the provider tests (plain pytest, no Odoo).

What it is: makes the addon's Odoo-free ``core`` package importable as ``trail_email_core``
(importing it through the addon package would import Odoo), and provides ``emu`` (a started
``GmailEmulator``), ``virtual_sleep`` (a ``sleep`` that advances the emulator clock instead of
waiting) and ``gmail_provider`` (a factory for a ``GmailProvider`` connected to ``emu``).

How to use it: ``python -m pytest tests/providers -p no:odoo`` from the repository root; test
modules then ``from trail_email_core.providers import gmail``.

Caveats: like ``tests/emulators``, this directory has no ``__init__.py``, so that pytest does
not import it as a package shadowing the real ``emulators`` one.
"""

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CORE_DIR = REPO_ROOT / "trail_email_integration" / "core"
CORE_PACKAGE = "trail_email_core"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _load_core():
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


gmail = _load_core()

from emulators.gmail import GmailEmulator  # noqa: E402

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret"
ALL_SCOPES = " ".join(gmail.SCOPES)


@pytest.fixture
def emu():
    with GmailEmulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as emulator:
        yield emulator


class VirtualSleep:
    """A ``sleep`` that moves the emulator clock forward and remembers each wait."""

    def __init__(self, clock):
        self.clock = clock
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)
        self.clock.advance(seconds)

    @property
    def total(self):
        return sum(self.waits)


@pytest.fixture
def virtual_sleep(emu):
    return VirtualSleep(emu.clock)


@pytest.fixture
def gmail_provider(emu, virtual_sleep):
    """``gmail_provider(user, scope=..., **options) -> GmailProvider`` talking to ``emu``."""

    def make(user, scope=ALL_SCOPES, **options):
        tokens = emu.issue_tokens(user, scope=scope)
        options.setdefault("access_token", tokens["access_token"])
        options.setdefault("sleep", virtual_sleep)
        options.setdefault("clock", emu.clock.time)
        return gmail.GmailProvider(
            emu.client_id,
            emu.client_secret,
            tokens["refresh_token"],
            gmail.GmailEndpoints.at(emu.base_url),
            **options,
        )

    return make
