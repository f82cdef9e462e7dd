"""Pytest fixtures for the emulator tests (plain pytest, no Odoo).

What it is: puts the repository root on ``sys.path`` so ``import emulators`` works however
pytest is invoked, and provides ``emu`` (a started ``GmailEmulator``) and ``gmail`` (a factory
building a real google-api-python-client service for a user against it).

How to use it: ``pytest tests/emulators`` from the repository root.

Caveats: this directory deliberately has no ``__init__.py``: with one, pytest would import it as
a package named ``emulators`` and shadow the real package.
"""

import sys
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

with warnings.catch_warnings():
    # google-api-core warns about the interpreter's end-of-life date at import time.
    warnings.simplefilter("ignore", FutureWarning)
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

from emulators.gmail import GmailEmulator  # noqa: E402


@pytest.fixture
def emu():
    with GmailEmulator(client_id="test-client", client_secret="test-secret") as emulator:
        yield emulator


@pytest.fixture
def gmail(emu):
    """``gmail(user, scope=...) -> (service, credentials)`` talking to ``emu``."""

    def make(user, scope="https://mail.google.com/"):
        tokens = emu.issue_tokens(user, scope=scope)
        credentials = Credentials(
            tokens["access_token"],
            refresh_token=tokens["refresh_token"],
            token_uri=emu.token_uri,
            client_id=emu.client_id,
            client_secret=emu.client_secret,
        )
        service = build(
            "gmail",
            "v1",
            credentials=credentials,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": emu.base_url},
        )
        return service, credentials

    return make
