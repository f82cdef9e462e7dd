"""Email HTML is hostile input: a body full of XSS vectors renders inert in a real browser.

Each vector would call ``window.trailXss(name)`` (or add a ``.trail-xss-marker``) if it ran;
the tour (``static/tests/tours/hostile_html_tour.js``) opens the email on the Mailbox page and
fails if any did, or if the remote image loaded before *Show remote images*. A local HTTP
server stands in for the remote host and counts the requests it gets.
"""

import base64
import json
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo.addons.trail_email_integration.core.provider import MessageRef
from odoo.addons.trail_email_integration.models.trail_mail import (
    block_remote_content,
    unblock_remote_content,
)
from odoo.tests import HttpCase, TransactionCase, tagged

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
FIRE = "window.trailXss && window.trailXss('{0}')"
MARK = "document.body.insertAdjacentHTML('beforeend', '<i class=trail-xss-marker></i>')"

VECTORS = [
    "<script>{fire:script}</script>",
    '<img src="/nowhere.png" onerror="{fire:img-onerror}">',
    '<body onload="{fire:body-onload}"><p>in body</p></body>',
    '<a href="javascript:{fire:js-href}">a javascript: link</a>',
    '<a href="JaVaScRiPt:{fire:js-href-case}">mixed case</a>',
    '<a href="&#106;avascript:{fire:js-href-entity}">entity-encoded</a>',
    '<svg onload="{fire:svg-onload}"><circle r="1"/></svg>',
    "<iframe srcdoc=\"&lt;script&gt;parent.trailXss('iframe-srcdoc')&lt;/script&gt;\"></iframe>",
    '<meta http-equiv="refresh" content="0;url=javascript:{fire:meta-refresh}">',
    '<div style="width: expression({fire:css-expression})">css expression</div>',
    '<div style="background: url(javascript:{fire:css-url})">css javascript url</div>',
    '<form action="javascript:{fire:form-action}"><button>go</button></form>',
    '<base href="http://evil.invalid/">',
    '<a href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">a data: link</a>',
    '<img src="data:image/svg+xml,&lt;svg onload=alert(1)&gt;">',
    '<details open ontoggle="{fire:details-ontoggle}"><summary>s</summary></details>',
    '<img data-trail-blocked-onerror="{fire:fake-blocked-attribute}" src="/nowhere.png">',
    '<div data-trail-blocked-style="background:url(javascript:{fire:fake-blocked-style})">x</div>',
    '<math><mtext><table><mglyph><style><img src=x onerror="{mark}"></style></mglyph></table>',
    '<noscript><p title="</noscript><img src=x onerror={fire:noscript}>"></p></noscript>',
    '<link rel="stylesheet" href="http://evil.invalid/x.css">',
    "<style>@import url(http://evil.invalid/y.css); p {{ color: red }}</style>",
]


def hostile_html(origin):
    parts = ["<html><head><title>t</title></head><body>", "<p>Hostile body loaded</p>"]
    parts.append(f"<p>Remote origin: {origin}</p>")
    parts.append(f'<p><img class="remote" src="{origin}/pixel.png" alt="remote"></p>')
    parts.append(f'<div style="background-image: url({origin}/bg.png)">remote css</div>')
    for vector in VECTORS:
        html = vector
        for name in [v.split("}")[0] for v in vector.split("{fire:")[1:]]:
            html = html.replace(f"{{fire:{name}}}", FIRE.format(name))
        parts.append(html.replace("{mark}", MARK).replace("{{", "{").replace("}}", "}"))
    parts.append("</body></html>")
    return "\n".join(parts)


def hostile_message(origin):
    message = EmailMessage()
    message["From"] = "attacker@evil.example"
    message["To"] = "admin.box@firm.example"
    message["Subject"] = "Hostile HTML"
    message["Message-ID"] = "<hostile-html@evil.example>"
    message.set_content("Plain part")
    message.add_alternative(hostile_html(origin), subtype="html")
    return message.as_bytes()


class RemoteHost:
    """A local stand-in for a sender's web server that counts image requests."""

    def __init__(self):
        host = self
        self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/hits"):
                    body = json.dumps({"hits": len(host.hits)}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Access-Control-Allow-Origin", "*")
                else:
                    host.hits.append(self.path)
                    body = PIXEL
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@tagged("post_install", "-at_install")
class TestRemoteContentBlocking(TransactionCase):
    def test_only_our_blocked_attributes_come_back(self):
        html, blocked = block_remote_content(
            '<img src="https://pics.example/a.png" data-trail-blocked-onerror="x()">'
            '<div data-trail-blocked-style="background:url(javascript:x())">d</div>'
        )
        self.assertTrue(blocked)
        self.assertNotIn("onerror", html)
        self.assertNotIn("javascript", html)
        shown = unblock_remote_content(html)
        self.assertIn('src="https://pics.example/a.png"', shown)
        self.assertNotIn("onerror", shown)
        # Mail stored before the fix: a sender's own attribute is dropped, not restored.
        old = '<img data-trail-blocked-onerror="x()" data-trail-blocked-src="javascript:x()">'
        self.assertEqual(unblock_remote_content(old), "<img>")


@tagged("post_install", "-at_install")
class TestHostileHtmlTour(HttpCase):
    def test_hostile_body_renders_inert(self):
        remote = RemoteHost().start()
        self.addCleanup(remote.stop)
        admin = self.env.ref("base.user_admin")
        mailbox = self.env["trail.mailbox"].create(
            {
                "address": "admin.box@firm.example",
                "provider": "google",
                "user_id": admin.id,
                "state": "active",
            }
        )
        ref = MessageRef(provider_id="hostile-1", labels=("INBOX",))
        mail, created = self.env["trail.mail"]._capture(
            mailbox, ref, hostile_message(remote.origin)
        )
        self.assertTrue(created)
        self.assertTrue(mail.has_remote_content)
        self.assertNotIn("<script", mail.body_html)
        self.start_tour(
            "/odoo/action-trail_email_integration.action_mailbox_page",
            "trail_hostile_html",
            login="admin",
        )
        self.assertIn("/pixel.png", remote.hits)
        self.assertTrue(mail.show_remote_content)
