"""Screenshots for the README, taken by tours in headless Chromium.

A tour asks for one by logging ``trail-screenshot:<name>`` to the console (see
``static/tests/tours/screenshot.js``). Nothing is written unless ``TRAIL_SCREENSHOTS_DIR`` names
a folder, so ordinary test runs leave the repository alone; ``./dev screenshots`` sets it.
"""

import base64
import os
import re
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

from odoo.tests.common import ChromeBrowser

MARKER = re.compile(r"trail-screenshot:([a-z0-9_-]+)")
ENV = "TRAIL_SCREENSHOTS_DIR"


def screenshot_dir():
    folder = os.environ.get(ENV)
    return Path(folder) if folder else None


@contextmanager
def screenshots():
    """Save a PNG for every screenshot a tour asks for while this block runs.

    Yields the list of files written, so a test can check the ones it expects.
    """
    written = []
    folder = screenshot_dir()
    original = ChromeBrowser._handle_console

    def handle_console(browser, type, args=None, stackTrace=None, **kw):
        original(browser, type, args=args, stackTrace=stackTrace, **kw)
        if folder is None or not args:
            return
        found = MARKER.search(str(browser._from_remoteobject(args[0])))
        if not found:
            return
        target = folder / f"{found.group(1)}.png"

        def save(future):
            data = future.result(timeout=0).get("data")
            if data:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(data, validate=True))
                written.append(target)

        browser._websocket_send("Page.captureScreenshot", with_future=True).add_done_callback(save)

    with patch.object(ChromeBrowser, "_handle_console", handle_console):
        yield written
