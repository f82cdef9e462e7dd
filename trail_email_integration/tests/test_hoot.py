"""Runs every hoot unit test of this addon in headless Chromium, as part of the test suite.

Hoot names each test after its file, so the filter below selects the files under
``static/tests/`` of this addon (any ``*.test.js`` the manifest adds to
``web.assets_unit_tests``) and nothing of the other addons. A failing hoot test fails this test;
so does a run that finds no test at all.
"""

import re
from unittest.mock import patch
from urllib.parse import quote

from odoo.tests import HttpCase, no_retry, tagged
from odoo.tests.common import ChromeBrowser

ADDON = "trail_email_integration"
SUITE_FILTER = f"/^@{ADDON}\\//"
PASSED = re.compile(r"passed (\d+) tests")


def hoot_error_checker(message):
    # Hoot's own log lines ("[HOOT] ...") are progress, anything else on error is a failure.
    return "[HOOT]" not in message


@tagged("post_install", "-at_install")
class TestHootSuite(HttpCase):
    @no_retry
    def test_hoot_unit_tests(self):
        messages = []
        original = ChromeBrowser._handle_console

        def handle_console(browser, type, args=None, stackTrace=None, **kw):
            if args:
                messages.append(" ".join(str(browser._from_remoteobject(a)) for a in args))
            return original(browser, type, args=args, stackTrace=stackTrace, **kw)

        url = (
            "/web/tests?headless&loglevel=2&preset=desktop&timeout=15000"
            f"&filter={quote(SUITE_FILTER, safe='')}"
        )
        with patch.object(ChromeBrowser, "_handle_console", handle_console):
            self.browser_js(
                url,
                "",
                "",
                login="admin",
                timeout=600,
                success_signal="[HOOT] test suite succeeded",
                error_checker=hoot_error_checker,
            )
        counts = [int(found.group(1)) for m in messages for found in PASSED.finditer(m)]
        self.assertTrue(counts and counts[-1] > 0, "the hoot run found none of this addon's tests")
