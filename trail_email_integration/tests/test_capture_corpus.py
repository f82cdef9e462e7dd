from odoo.tests import tagged

from .capture_common import NOW, CaptureCase
from .test_mime import CASES, EXPECTED


@tagged("post_install", "-at_install")
class TestCorpusIsStored(CaptureCase):
    """Every real message of the shared cases goes through the whole capture path."""

    def test_every_case_is_stored_with_its_attachments_and_readable_text(self):
        ids = {}
        for name in sorted(EXPECTED):
            ids[self.box.add((CASES / name).read_bytes(), date=NOW)] = name
        self.run_backfill()
        self.assertEqual(self.mailbox.failed_count, 0)
        Location = self.env["trail.mail.location"]
        for provider_id, name in ids.items():
            with self.subTest(case=name):
                mail = Location.search(
                    [("mailbox_id", "=", self.mailbox.id), ("provider_id", "=", provider_id)]
                ).mail_id
                self.assertEqual(len(mail), 1)
                raw = (CASES / name).read_bytes()
                self.assertEqual(mail.original_id.raw, raw)
                count, snippets = EXPECTED[name]
                self.assertEqual(mail.attachment_count, count)
                self.assertEqual(len(mail.attachment_ids), count)
                readable = "\n".join(
                    [
                        mail.subject or "",
                        mail.body_text or "",
                        str(mail.body_html or ""),
                        mail.email_from or "",
                        mail.email_to or "",
                        mail.email_cc or "",
                        mail.email_reply_to or "",
                        mail.email_sender or "",
                        *mail.attachment_ids.mapped("name"),
                        *(f"{p.name} {p.email}" for p in mail.participant_ids),
                    ]
                )
                for snippet in snippets:
                    self.assertIn(snippet, readable)


@tagged("post_install", "-at_install")
class TestHostileHtml(CaptureCase):
    def test_scripts_are_removed_and_remote_images_wait_for_the_user(self):
        raw = (
            b"From: a@example.com\r\nTo: adviser@firm.example\r\nSubject: html\r\n"
            b"Message-ID: <html@example.com>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/html; charset=utf-8\r\n\r\n"
            b'<p onclick="alert(1)">Hi<script>alert(2)</script>'
            b'<img src="https://tracker.example/pixel.gif">'
            b'<a href="javascript:alert(3)">x</a></p>'
        )
        self.box.add(raw, date=NOW)
        self.run_backfill()
        mail = self.mails()
        html = str(mail.body_html)
        for bad in ("<script", "onclick", "javascript:", ' src="https://tracker'):
            self.assertNotIn(bad, html)
        self.assertTrue(mail.has_remote_content)
        self.assertNotIn(' src="https://tracker', str(mail.body_html_view))
        mail.action_show_remote_content()
        self.assertIn(' src="https://tracker.example/pixel.gif"', str(mail.body_html_view))
