"""The demo: Odoo with the addon, and an emulated mailbox of real email.

What it is
    The README's first command (``./dev demo``) ends here, after ``./dev`` has set up the
    virtualenv and PostgreSQL and installed the addon. It shows the whole product at work on
    real mail, with no network: a local Gmail emulator, a connected adviser, the 7-year
    backfill with its progress, a scan that picks up newly arrived mail, and the Mailbox page
    and profiles in Odoo.

How it works
    1. Starts the Gmail emulator (``--provider microsoft``: the Microsoft Graph one, with
       inbox, sent items and archive folders) on 127.0.0.1 and loads the mailbox: by default
       the bundled real messages (``trail_email_integration/tests/data/cases``, see its
       NOTICE), with dates spread over six years and over inbox, sent and archive; with
       ``--mbox`` any mbox file (a Google Takeout export keeps its labels).
    2. Points the addon's Google settings at the emulator, creates the adviser user, the demo
       profiles and contacts (``demo/profiles.py``), and connects the adviser's mailbox through
       the real OAuth code flow (the emulator consents at once).
    3. Runs the backfill with a progress bar, then drops a few new messages into the emulator
       and runs a scan.
    4. Starts Odoo on http://localhost:8069 and waits; Ctrl-C stops Odoo and the emulator.
       With ``--headless`` it prints a JSON summary instead (alone on stdout; the progress
       and notes go to stderr) and stops.

Use
    ``./dev demo [--mbox PATH] [--headless]``. A second run reuses the database and mailbox.
    The options, and the check of ``--mbox``, are in ``demo/options.py``, which ``./dev``
    runs first, before any set-up work. The summary counts ``outside_window``: the held
    messages older than the history window the backfill listed.

Caveats
    The emulator lives in this process, so Odoo's own scan cron reaches it only while the demo
    runs. The mailbox's grant is renewed on every run, because the emulator keeps its tokens
    in memory.
"""

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, parse_qsl, urlparse

import requests

import odoo
from odoo.tools import config

from demo import options
from demo.profiles import PROFILES
from emulators.gmail import GmailEmulator
from emulators.graph import GraphEmulator

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "trail_email_integration" / "tests" / "data" / "cases"
ADVISER_EMAIL = "ada.adviser@trail-demo.example"
ADVISER_LOGIN = "adviser"
CLIENT_ID = "trail-demo-client"
CLIENT_SECRET = "trail-demo-secret"
# Fixed, so a second run gives the emulator the same messages with the same ids.
ANCHOR = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
SPACING = timedelta(days=37)
LABEL_CYCLE = [("INBOX",), ("INBOX",), ("SENT",), ("INBOX",), ()]  # () is archived
# The same cycle as Microsoft 365 folders.
FOLDER_FOR = {("INBOX",): "inbox", ("SENT",): "sentitems", (): "archive", ("SPAM",): "junkemail"}
ARRIVING_LATER = [
    "074-empty-subject.eml",
    "079-gmail-web-plain.eml",
    "080-gmail-html-long-links-qp.eml",
]
SPAM_LATER = "064-subject-200kb.eml"


class GmailSide:
    """The demo's mailbox at Google: the Gmail emulator and the Google connect flow."""

    provider = "google"
    name = "Gmail"

    def __init__(self, port):
        self.emulator = GmailEmulator(
            port=port, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
            default_user=ADVISER_EMAIL, auto_consent="allow",
        )  # fmt: skip

    def start(self):
        self.emulator.start()
        self.emulator.add_user(ADVISER_EMAIL, "Ada Adviser")
        return self.emulator.base_url

    def add(self, raw, labels, when):
        return self.emulator.add_message(ADVISER_EMAIL, raw, labels, when)

    def held(self):
        return len(self.emulator.mailbox(ADVISER_EMAIL).messages)

    def dates(self):
        """When each held message arrived, in epoch seconds."""
        messages = self.emulator.mailbox(ADVISER_EMAIL).messages.values()
        return [message.internal_date / 1000 for message in messages]

    def load_mbox(self, path):
        self.emulator.load_mbox(path, ADVISER_EMAIL)

    def configure(self, params):
        base = self.emulator.base_url
        for name, value in {
            "auth_uri": base + "o/oauth2/auth",
            "token_uri": base + "token",
            "revoke_uri": base + "revoke",
            "api_base": base,
            "batch_uri": base + "batch/gmail/v1",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }.items():
            params.set_param(f"trail_email_integration.google_{name}", value)

    def connect(self, mailbox):
        url = mailbox.action_connect_google()["url"]
        redirect = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
        mailbox._google_finish_connect(parse_qs(urlparse(redirect).query)["code"][0])

    def stop(self):
        self.emulator.stop()


class GraphSide(GmailSide):
    """The demo's mailbox at Microsoft 365: the Graph emulator and the msal connect flow."""

    provider = "microsoft"
    name = "Microsoft Graph"

    def __init__(self, port):  # pylint: disable=super-init-not-called
        self.emulator = GraphEmulator(
            port=port, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
            default_user=ADVISER_EMAIL, auto_consent="accept",
        )  # fmt: skip

    def start(self):
        self.emulator.start()
        self.emulator.add_user(ADVISER_EMAIL, "Ada Adviser")
        return self.emulator.base_url

    def add(self, raw, labels, when):
        folder = FOLDER_FOR[tuple(labels)]
        return self.emulator.add_message(ADVISER_EMAIL, raw, folder=folder, received=when)

    def held(self):
        return len(self.emulator.user(ADVISER_EMAIL).messages)

    def dates(self):
        return [message.received for message in self.emulator.user(ADVISER_EMAIL).messages.values()]

    def load_mbox(self, path):
        self.emulator.load_mbox(path, ADVISER_EMAIL)

    def configure(self, params):
        for name, value in {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "authority_base": self.emulator.authority_base,
            "graph_base": self.emulator.graph_base,
            "ca_bundle": self.emulator.ca_bundle,
        }.items():
            params.set_param(f"trail_email_integration.microsoft_{name}", value)

    def connect(self, mailbox):
        # Importable only once Odoo's configuration has set the addons path up.
        from odoo.addons.trail_email_integration.core.providers.graph_wire import make_session

        url = mailbox.action_connect_microsoft()["url"]
        session = make_session(self.emulator.ca_bundle)
        try:
            redirect = session.get(url, allow_redirects=False, timeout=10).headers["Location"]
        finally:
            session.close()
        params = dict(parse_qsl(urlparse(redirect).query, keep_blank_values=True))
        mailbox._microsoft_finish_connect(params)


def bundled_messages():
    return sorted(p for p in BUNDLED.glob("*.eml") if p.name[:3].isdigit())


def load_mailbox(side, mbox, sources):
    """Fill the emulator; return the messages held back for the scan.

    ``sources`` collects the file each provider id came from.
    """
    if mbox:
        side.load_mbox(mbox)
        return []
    later = []
    index = 0
    for path in bundled_messages():
        if path.name in ARRIVING_LATER:
            later.append(path)
            continue
        provider_id = side.add(path.read_bytes(), LABEL_CYCLE[index % 5], ANCHOR - index * SPACING)
        sources[provider_id] = path.name
        index += 1
    return later


def configure(env, side, http_port):
    side.configure(env["ir.config_parameter"].sudo())
    env["ir.config_parameter"].sudo().set_param("web.base.url", f"http://localhost:{http_port}")


def ensure_adviser(env):
    Users = env["res.users"].with_context(no_reset_password=True)
    # An adviser keeps the client files: an internal user who may edit contacts (so also
    # profiles, their notes and the link icons).
    groups = [env.ref("base.group_user").id, env.ref("base.group_partner_manager").id]
    adviser = Users.search([("login", "=", ADVISER_LOGIN)])
    if not adviser:
        adviser = Users.create(
            {
                "name": "Ada Adviser",
                "login": ADVISER_LOGIN,
                "password": ADVISER_LOGIN,
                "email": ADVISER_EMAIL,
                "groups_id": [(6, 0, groups)],
            }
        )
    else:
        # A database made by an earlier demo gets the right too.
        adviser.groups_id = [(4, group) for group in groups]
    return adviser


def ensure_profiles(env):
    Partner = env["res.partner"].with_context(tracking_disable=True)
    Address = env["trail.email.address"]
    Member = env["trail.profile.member"]
    for profile_name, profile_type, members in PROFILES:
        profile = Partner.search([("name", "=", profile_name), ("is_profile", "=", True)])
        if not profile:
            profile = Partner.create(
                {"name": profile_name, "is_profile": True, "profile_type": profile_type,
                 "is_company": profile_type != "person"}
            )  # fmt: skip
        for contact_name, role, addresses in members:
            contact = Partner.search(
                [("name", "=", contact_name), ("is_profile", "=", False)], limit=1
            )
            if contact_name == profile_name:
                contact = profile
            if not contact:
                contact = Partner.create({"name": contact_name})
            for email, linked in addresses:
                if not Address.search([("partner_id", "=", contact.id), ("email", "=", email)]):
                    Address.create({"partner_id": contact.id, "email": email, "linked": linked})
            if not Member.search(
                [("profile_id", "=", profile.id), ("contact_id", "=", contact.id)]
            ):
                Member.create({"profile_id": profile.id, "contact_id": contact.id, "role": role})


def connect(env, adviser, side):
    """Connect the adviser's mailbox through the real OAuth flow; the emulator consents."""
    Mailbox = env["trail.mailbox"].with_user(adviser)
    mailbox = Mailbox.search([("user_id", "=", adviser.id), ("provider", "=", side.provider)])
    if not mailbox:
        mailbox = Mailbox.create({"provider": side.provider, "user_id": adviser.id})
    else:
        # The emulator is new: its bookmarks start again, so take a fresh one.
        mailbox.sudo().write({"cursor": False})
    side.connect(mailbox)
    return mailbox.sudo()


def progress_bar(mailbox, width=36):
    done, total = mailbox.backfill_count, max(mailbox.backfill_total, mailbox.backfill_count, 1)
    filled = int(width * min(done, total) / total)
    reached = mailbox.backfill_reached.strftime("%Y-%m-%d") if mailbox.backfill_reached else "…"
    return (
        f"\r  backfill [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  reached {reached}"
    )


def run_backfill(cr, mailbox):
    if mailbox.state != "backfilling":
        print(f"  history already imported: {mailbox.backfill_count} messages")
        return
    pages = {}
    live = sys.stdout.isatty()  # a bar redrawn in place; a pipe or a file gets the last one
    while mailbox.state == "backfilling":
        mailbox._run_guarded(mailbox._backfill_step, pages)
        cr.commit()
        if live:
            sys.stdout.write(progress_bar(mailbox))
            sys.stdout.flush()
        if mailbox.retry_after:
            time.sleep(1)
            mailbox.retry_after = False
    sys.stdout.write("\n" if live else progress_bar(mailbox).lstrip("\r") + "\n")


def outside_window(side, mailbox):
    """How many held messages are older than the history window the backfill listed."""
    start = mailbox.backfill_start.replace(tzinfo=timezone.utc).timestamp()
    return sum(1 for when in side.dates() if when < start)


def summary(env, mailbox, sources, outside):
    Mail = env["trail.mail"]
    mails = Mail.search([("location_ids.mailbox_id", "=", mailbox.id)])
    per_profile = {}
    for mail in mails:
        for profile in mail.profile_ids:
            per_profile[profile.name] = per_profile.get(profile.name, 0) + 1
    return {
        "state": mailbox.state,
        "captured": len(mails),
        "filed": len(mails.filtered("profile_ids")),
        "unfiled": len(mails.filtered(lambda m: not m.profile_ids)),
        "skipped": mailbox.skipped_count,
        "failed": mailbox.failed_count,
        "outgoing": len(mails.filtered(lambda m: m.direction == "outgoing")),
        "outside_window": outside,
        "per_profile": dict(sorted(per_profile.items())),
        "filed_files": {
            sources[location.provider_id]: sorted(location.mail_id.profile_ids.mapped("name"))
            for location in mails.location_ids
            if location.provider_id in sources and location.mail_id.profile_ids
        },
        "filed_subjects": sorted(
            f"{m.subject or '(no subject)'} -> {', '.join(sorted(m.profile_ids.mapped('name')))}"
            for m in mails.filtered("profile_ids")
        ),
    }


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def odoo_log_path(conf):
    """Where the demo's Odoo writes its log: beside its configuration, in .local/."""
    return Path(conf).resolve().parent / "demo-odoo.log"


def log_tail(path, size=2000):
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def start_odoo(conf, db):
    # Odoo logs every request: to a file, since a pipe nobody reads would fill up and stall it.
    odoo_bin = Path(odoo.__file__).resolve().parent.parent / "odoo-bin"
    with odoo_log_path(conf).open("ab") as log:
        return subprocess.Popen(
            [sys.executable, str(odoo_bin), "-c", conf, "-d", db, f"--db-filter=^{db}$"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_for_login_page(port, process, log, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Odoo stopped: {log_tail(log)}")
        try:
            if requests.get(f"http://localhost:{port}/web/login", timeout=5).status_code == 200:
                return True
        except requests.RequestException:
            pass
        time.sleep(1)
    return False


def refuse_busy_port(port, side):
    if not port_is_free(port):
        side.stop()
        raise SystemExit(
            f"Port {port} is already in use (another Odoo?). Stop it, or run the demo "
            "on another port: TRAIL_HTTP_PORT=8070 ./dev demo"
        )


def main():
    args = options.parse()  # refuses a missing, empty or non-mbox --mbox before any work
    config.parse_config(["-c", args.conf, "-d", args.db, "--log-level=warn"])
    side = (GraphSide if args.provider == "microsoft" else GmailSide)(args.gmail_port)
    # Headless, stdout carries the JSON summary alone (for jq and scripts); the rest is stderr.
    chatter = contextlib.redirect_stdout(sys.stderr) if args.headless else contextlib.nullcontext()
    with chatter:
        try:
            base_url = side.start()
        except OSError as error:
            raise SystemExit(
                f"The {side.name} emulator cannot listen on port {args.gmail_port}: {error}"
            ) from error
        if not args.headless:
            # Said before the work, not after it; checked again just before Odoo starts.
            refuse_busy_port(args.http_port, side)
        sources = {}
        later = load_mailbox(side, args.mbox, sources)
        print(
            f"{side.name} emulator on {base_url} holding {side.held()} "
            f"{'message' if side.held() == 1 else 'messages'} for {ADVISER_EMAIL}"
        )
        result = capture(args, side, sources, later)

    if args.headless:
        print(json.dumps(result, ensure_ascii=False))
        side.stop()
        return 0

    return serve(args, side, result)


def capture(args, side, sources, later):
    """Set Odoo up, connect the mailbox, run the backfill and a scan; return the summary."""
    registry = odoo.modules.registry.Registry(args.db)
    with registry.cursor() as cr:
        env = odoo.api.Environment(cr, odoo.SUPERUSER_ID, {})
        configure(env, side, args.http_port)
        adviser = ensure_adviser(env)
        ensure_profiles(env)
        cr.commit()
        mailbox = connect(env, adviser, side)
        cr.commit()
        print(f"Connected {mailbox.address} for {adviser.name}; importing the history:")
        imported_before = mailbox.state != "backfilling"
        run_backfill(cr, mailbox)
        if args.mbox and imported_before:
            print(
                f"Note: database '{args.db}' imported this mailbox's history in an earlier run; "
                f"the history is imported once per mailbox, so the messages of {args.mbox} "
                "are not read. Give an mbox a database of its own: "
                f"TRAIL_DB=another ./dev demo --mbox {args.mbox}",
                file=sys.stderr,
            )

        if later:
            print(f"New mail arrives: {len(later)} messages, and one to spam; scanning.")
        else:
            print("Scanning for new mail.")
        for path in later:
            sources[side.add(path.read_bytes(), ("INBOX",), ANCHOR)] = path.name
        if later:
            side.add((BUNDLED / SPAM_LATER).read_bytes(), ("SPAM",), ANCHOR)
        mailbox.next_scan = False
        mailbox._run_guarded(mailbox._scan_step)
        cr.commit()
        result = summary(env, mailbox, sources, outside_window(side, mailbox))
    return result


def serve(args, side, result):
    """Start Odoo and keep it, and the emulator, up until Ctrl-C."""
    print(
        f"\nCaptured {result['captured']} emails: {result['filed']} filed, "
        f"{result['unfiled']} unfiled, {result['skipped']} skipped, {result['failed']} failed; "
        f"{result['outside_window']} older than the history window, left out."
    )
    for name, count in result["per_profile"].items():
        print(f"  {name}: {count}")
    refuse_busy_port(args.http_port, side)
    server = start_odoo(args.conf, args.db)
    log = odoo_log_path(args.conf)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        if wait_for_login_page(args.http_port, server, log):
            print(f"\nOdoo is up: http://localhost:{args.http_port}/odoo/action-"
                  "trail_email_integration.action_mailbox_page")  # fmt: skip
            print(f"  database {args.db}; log in as {ADVISER_LOGIN} / {ADVISER_LOGIN} "
                  "(the adviser), or admin / admin")  # fmt: skip
            print(f"Odoo's log: {log}")
            if args.stops_database:
                print("Press Ctrl-C to stop Odoo, the emulator and the database.")
            else:
                print("Press Ctrl-C to stop Odoo and the emulator (the database was already "
                      "running and stays up: ./dev pg stop stops it).")  # fmt: skip
        while server.poll() is None and not stop:
            time.sleep(0.5)
        if server.poll() not in (None, 0) and not stop:
            print(f"Odoo stopped:\n{log_tail(log)}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        side.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
