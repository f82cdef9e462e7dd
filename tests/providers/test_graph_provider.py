"""Tests of the Microsoft 365 provider and its OAuth helpers against the Graph emulator.

What it is: plain pytest (no Odoo) driving ``GraphProvider`` and ``graph_oauth`` through the
real msal and requests, against ``emulators.graph`` over TLS with the emulator's own CA:
sign-in (consent accepted and denied), token rotation and revocation, the folder walk, the
backfill, byte-exact ``$batch`` fetches, delta scans (new, moved, deleted, 410), throttling
storms, sending small and large MIME, reference attachments and app-only access.

How it works: each test starts its own emulator (fixture ``graph_emu``; the ``emu`` fixture of
``conftest.py`` is the Gmail emulator's). The provider's ``sleep`` advances the emulator clock,
so Retry-After waits and budget pacing cost no real time. ``conftest.py`` makes the addon's
``core`` importable as ``trail_email_core`` without Odoo. Real-world shapes come from
``tests/emulators/data/bugs`` (copies of ``/work/shared/cases/bugs``, see the MANIFEST there):
B03 and B04 both through the emulator's canned errors and as the files' answers, and the B10
listed link.

How to use it: ``.venv/bin/python -m pytest tests/providers/test_graph_provider.py -p no:odoo -q``
(without ``-p no:odoo``, pytest-odoo wants a database, as for the Gmail provider tests).

Caveats: the budget storm scales Graph's 10,000 requests per 10 minutes down to 60, so ten
minutes of virtual time pass in well under a second.
"""

import base64
import email
import email.policy
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from trail_email_core.provider import (
    ADDED,
    DELETED,
    LABELS_CHANGED,
    SKIP_TRASH,
    AuthorisationLost,
    Fetched,
    MessageError,
    MessageRef,
    TemporaryError,
)
from trail_email_core.providers import graph, graph_oauth, graph_wire

from emulators.graph import GraphEmulator

CLIENT_ID, CLIENT_SECRET = "trail-app", "s3cret"
REDIRECT = "http://localhost:8069/trail/microsoft/callback"
ANN, BOB, CAROL = "ann@contoso.example", "bob@contoso.example", "carol@fabrikam.example"
DAY = timedelta(days=1)
BUGS = Path(__file__).resolve().parents[1] / "emulators" / "data" / "bugs"


def load_case(name):
    return json.loads((BUGS / name).read_text())


# Case B04: the 429 answer (status, body, Retry-After) to too many requests on one mailbox.
B04 = load_case("04-graph-429-mailboxconcurrency.json")
B04_ANSWER = (
    B04["response_status"],
    B04["response_body"],
    int(B04["response_headers"]["Retry-After"]),
)
# Case B10: the listed reference attachment (a cloud link without bytes).
B10_REFERENCE = next(
    listed
    for listed in load_case("10-graph-reference-attachment.json")["list_response"]["value"]
    if listed["@odata.type"] == "#microsoft.graph.referenceAttachment"
)


def make_mime(subject, *, sender=BOB, to=ANN, bcc=None, body="Hello", date=None):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if bcc:
        message["Bcc"] = bcc
    message["Message-ID"] = f"<{hashlib.sha1(subject.encode()).hexdigest()[:16]}@example.org>"
    message["Date"] = date or "Mon, 01 Jan 2024 10:00:00 +0000"
    message.set_content(body)
    return message.as_bytes()


class VirtualSleep:
    """A ``sleep`` that moves the emulator clock forward and remembers each wait."""

    def __init__(self, clock):
        self.clock = clock
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def graph_emu():
    with GraphEmulator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uris=[REDIRECT]
    ) as emulator:
        for upn, name in ((ANN, "Ann Lee"), (BOB, "Bob Stone"), (CAROL, "Carol King")):
            emulator.add_user(upn, name)
        yield emulator


@pytest.fixture
def endpoints(graph_emu):
    return graph.GraphEndpoints.at(graph_emu.authority_base, graph_emu.ca_bundle)


@pytest.fixture
def vsleep(graph_emu):
    return VirtualSleep(graph_emu.clock)


def browser(endpoints, url, *, decision="accept", login=ANN):
    """Answer the emulator's sign-in page as the user would; return the posted answer."""
    session = graph_wire.make_session(endpoints.ca_bundle)
    page = session.get(url, allow_redirects=False)
    assert page.status_code == 200 and 'id="accept"' in page.text
    request_id = page.text.split('name="request" value="')[1].split('"')[0]
    action = page.text.split('action="')[1].split('"')[0]
    answer = session.post(
        endpoints.authority_base + action,
        data={"request": request_id, "login": login, "decision": decision},
        allow_redirects=False,
    )
    assert answer.status_code == 200 and f'action="{REDIRECT}"' in answer.text
    return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))


def connect(endpoints, login=ANN, tenant="organizations"):
    flow = graph_oauth.initiate_auth_code_flow(
        CLIENT_ID, CLIENT_SECRET, tenant, REDIRECT, "state-1", endpoints=endpoints,
        login_hint=login,
    )  # fmt: skip
    params = browser(endpoints, flow["auth_uri"], login=login)
    return graph_oauth.complete_auth_code_flow(
        CLIENT_ID, CLIENT_SECRET, tenant, flow, params, endpoints=endpoints
    )


@pytest.fixture
def make_provider(graph_emu, endpoints, vsleep):
    """``make_provider(login=ANN, **options) -> GraphProvider`` signed in through the flow."""

    def make(login=ANN, **options):
        if "token_cache" not in options and "user" not in options:
            options["token_cache"] = connect(endpoints, login).token_cache
        options.setdefault("sleep", vsleep)
        options.setdefault("clock", graph_emu.clock.time)
        return graph.GraphProvider(
            CLIENT_ID, CLIENT_SECRET, options.pop("tenant", "organizations"), endpoints, **options
        )

    return make


def now(emu):
    return datetime.fromtimestamp(emu.clock.time(), tz=timezone.utc)


def backfill(provider, start, page_size=500):
    refs, position, pages = [], None, 0
    while True:
        page = provider.list_window(start, position, page_size)
        refs.extend(page.refs)
        pages += 1
        position = page.next_position
        if position is None:
            return refs, pages


def by_kind(changes):
    found = {}
    for change in changes:
        found.setdefault(change.kind, []).append(change.ref)
    return found


# Sign-in and tokens


def test_sign_in_through_the_consent_page(graph_emu, endpoints, make_provider):
    grant = connect(endpoints)
    assert grant.address == ANN and grant.username == ANN
    assert set(graph.SCOPES) <= set(grant.scopes) and not grant.missing_scopes
    cache = json.loads(grant.token_cache)
    assert cache["RefreshToken"] and cache["Account"]

    provider = make_provider(token_cache=grant.token_cache)
    assert provider.identity() == graph.Identity(ANN, ())


def test_denied_consent_state_mismatch_and_wrong_secret(graph_emu, endpoints):
    flow = graph_oauth.initiate_auth_code_flow(
        CLIENT_ID, CLIENT_SECRET, "common", REDIRECT, "s-2", endpoints=endpoints
    )
    assert "code_challenge=" in flow["auth_uri"] and flow["state"] == "s-2"
    denied = browser(endpoints, flow["auth_uri"], decision="cancel")
    with pytest.raises(graph_oauth.ConsentDenied):
        graph_oauth.complete_auth_code_flow(
            CLIENT_ID, CLIENT_SECRET, "common", flow, denied, endpoints=endpoints
        )

    flow = graph_oauth.initiate_auth_code_flow(
        CLIENT_ID, CLIENT_SECRET, "common", REDIRECT, "s-3", endpoints=endpoints
    )
    params = browser(endpoints, flow["auth_uri"])
    with pytest.raises(graph_oauth.OAuthError):
        graph_oauth.complete_auth_code_flow(
            CLIENT_ID, CLIENT_SECRET, "common", flow, {**params, "state": "forged"},
            endpoints=endpoints,
        )  # fmt: skip
    with pytest.raises(graph.GraphConfigError):
        graph_oauth.complete_auth_code_flow(
            CLIENT_ID, "wrong-secret", "common", flow, params, endpoints=endpoints
        )


def test_rotated_refresh_token_is_saved_and_revocation_is_lost(graph_emu, make_provider):
    first = connect(graph.GraphEndpoints.at(graph_emu.authority_base, graph_emu.ca_bundle))
    saved = []
    provider = make_provider(token_cache=first.token_cache, on_cache=saved.append)
    assert provider.identity().address == ANN
    graph_emu.expire_tokens(ANN)  # msal still trusts its copy: Graph's 401 forces the refresh
    assert provider.identity().address == ANN
    assert saved and saved[-1] != first.token_cache
    old_refresh = next(iter(json.loads(first.token_cache)["RefreshToken"].values()))["secret"]
    new_refresh = next(iter(json.loads(saved[-1])["RefreshToken"].values()))["secret"]
    assert new_refresh != old_refresh

    graph_emu.clock.advance(120)  # past the grace period of the replaced refresh token
    graph_emu.expire_tokens(ANN)
    with pytest.raises(AuthorisationLost):
        make_provider(token_cache=first.token_cache).identity()
    assert make_provider(token_cache=saved[-1]).identity().address == ANN

    graph_emu.revoke_user(ANN)
    with pytest.raises(AuthorisationLost, match="invalid_grant"):
        make_provider(token_cache=saved[-1]).identity()


# Folders, backfill and fetch


def test_folder_walk_skips_system_folders_and_finds_new_ones(graph_emu, make_provider):
    for path in ("Clients/Acme", "Deleted Items/Old", "Sync Issues/Conflicts/Deep"):
        graph_emu.add_folder(ANN, path)
    for folder in ("inbox", "junkemail", "drafts", "outbox", "Deleted Items/Old", "Clients/Acme"):
        graph_emu.add_message(ANN, make_mime(f"in {folder}"), folder=folder)
    provider = make_provider()

    labels = [label for _, label in provider.folders()]
    assert labels[:3] == ["inbox", "sentitems", "archive"]
    assert sorted(labels[3:]) == ["Clients", "Clients/Acme"]
    refs, _ = backfill(provider, now(graph_emu) - 30 * DAY)
    assert sorted(r.labels[0] for r in refs) == ["Clients/Acme", "inbox"]

    cursor = provider.current_cursor()
    graph_emu.add_folder(ANN, "Projects")
    late = graph_emu.add_message(ANN, make_mime("late"), folder="Projects")
    changes = provider.list_changes(cursor)
    assert [(c.kind, c.ref.provider_id, c.ref.labels) for c in changes.changes] == [
        (ADDED, late, ("Projects",))
    ]
    assert not changes.more
    assert provider.list_changes(changes.cursor).changes == []


def test_backfill_of_a_multi_year_mailbox_stays_inside_the_window(graph_emu, make_provider):
    graph_emu.add_folder(ANN, "Clients/Acme")
    today = now(graph_emu)
    expected = set()
    folders = ("inbox", "sentitems", "Clients/Acme", "deleteditems")
    for number in range(120):
        received = today - DAY * (number * 15 + 1)  # about five years
        folder = folders[number % 4]
        message_id = graph_emu.add_message(
            ANN, make_mime(f"m{number}"), folder=folder, received=received
        )
        if received >= today - 3 * 365 * DAY and folder != "deleteditems":
            expected.add(message_id)
    provider = make_provider()
    start = today - 3 * 365 * DAY

    first = provider.list_window(start, None, 7)
    # The first page counts the window across the folders read (Deleted Items is not).
    assert first.estimated_total == len(expected)
    assert provider.list_window(start, first.next_position, 7).estimated_total is None

    refs, pages = backfill(provider, start, page_size=7)
    assert {r.provider_id for r in refs} == expected and len(refs) == len(expected)
    assert pages >= len(expected) // 7
    assert all(r.internal_date >= start and r.thread_id for r in refs)
    inbox = [r.internal_date for r in refs if r.labels == ("inbox",)]
    assert inbox == sorted(inbox, reverse=True)  # Graph's order inside a folder: newest first


def test_fetch_is_byte_exact_in_batches_of_twenty(graph_emu, make_provider):
    raws = []
    for number in range(45):
        raw = make_mime(f"exact {number}", body="x" * number).replace(b"\n", b"\r\n")
        raws.append(raw + b"\xe9\xff trailing 8-bit bytes" + b"=" * (number % 3))
    ids = [graph_emu.add_message(ANN, raw) for raw in raws]
    provider = make_provider()
    refs = [MessageRef(message_id) for message_id in ids] + [MessageRef("AAkALgmissing")]

    graph_emu.reset_stats()
    results = provider.fetch(refs)
    assert [r.raw for r in results[:-1]] == raws
    assert all(isinstance(r, Fetched) for r in results[:-1])
    assert isinstance(results[-1], MessageError) and results[-1].provider_id == "AAkALgmissing"
    assert results[-1].gone, "ErrorItemNotFound means the message is no longer in the mailbox"
    stats = graph_emu.stats()
    assert stats["batch_requests"] == 3 and stats["batch_inner_requests"] == 46
    # The three batches, and msal reading the authority's metadata once for this provider.
    assert stats["http_requests"] == 4


# Scans


def test_scan_reports_new_moved_once_and_deleted(graph_emu, make_provider):
    graph_emu.add_folder(ANN, "Clients")
    moved, gone, trashed = (graph_emu.add_message(ANN, make_mime(s)) for s in "abc")
    provider = make_provider()
    cursor = provider.current_cursor()

    new = graph_emu.add_message(ANN, make_mime("new"))
    graph_emu.move_message(ANN, moved, "Clients")
    graph_emu.delete_message(ANN, gone)
    graph_emu.move_message(ANN, trashed, "deleteditems")
    changes = provider.list_changes(cursor)

    kinds = by_kind(changes.changes)
    assert [r.provider_id for r in kinds[ADDED]] == [new]
    relabelled = {r.provider_id: r for r in kinds[LABELS_CHANGED]}
    assert relabelled.keys() == {moved, trashed}
    assert relabelled[moved].labels == ("Clients",) and not relabelled[moved].skip_reason
    assert relabelled[trashed].labels == ("deleteditems",)
    assert relabelled[trashed].skip_reason == SKIP_TRASH
    assert [r.provider_id for r in kinds[DELETED]] == [gone]
    assert len(changes.changes) == 4
    assert provider.list_changes(changes.cursor).changes == []


def lose_delta_state(graph_emu, how):
    """Make the inbox's next delta (or skip) link fail: expired in the emulator, or answered
    once with case B03's 410 carrying the error code ``how``."""
    if how == "expired":
        graph_emu.expire_delta(ANN, "inbox")
        return
    case = load_case("03-graph-delta-410-syncstatenotfound.json")
    body = case["response_body"]
    body["error"]["code"] = how
    inbox = graph_emu.folder(ANN, "inbox").id
    link = re.escape(f"/mailFolders('{inbox}')/messages/delta?") + r".*\$(delta|skip)token="
    graph_emu.inject_errors(link, [(case["response_status"], body, None)])


# SyncStateNotFound is the file's code; resyncRequired the other one Graph documents.
@pytest.mark.parametrize("how", ["expired", "SyncStateNotFound", "resyncRequired"])
def test_expired_delta_state_restarts_the_folder(graph_emu, make_provider, caplog, how):
    old = graph_emu.add_message(ANN, make_mime("old"))
    provider = make_provider()
    cursor = provider.current_cursor()
    new = graph_emu.add_message(ANN, make_mime("new"))
    lose_delta_state(graph_emu, how)

    changes = provider.list_changes(cursor)
    assert {(c.kind, c.ref.provider_id) for c in changes.changes} == {(ADDED, old), (ADDED, new)}
    assert "restarting its delta" in caplog.text
    assert provider.list_changes(changes.cursor).changes == []

    # A saved backfill position whose delta state expired restarts that folder too.
    page = provider.list_window(now(graph_emu) - 30 * DAY, None, 1)
    lose_delta_state(graph_emu, how)
    rest, _ = backfill_from(provider, now(graph_emu) - 30 * DAY, page.next_position)
    assert {r.provider_id for r in rest} >= {old, new} - {page.refs[0].provider_id}


def backfill_from(provider, start, position):
    refs, pages = [], 0
    while position is not None:
        page = provider.list_window(start, position, 1)
        refs.extend(page.refs)
        position, pages = page.next_position, pages + 1
    return refs, pages


# Throttling


def test_mailbox_concurrency_storm_and_scaled_budget_lose_nothing(graph_emu, make_provider):
    ids = [graph_emu.add_message(ANN, make_mime(f"storm {n}")) for n in range(70)]
    graph_emu.inject_errors(r"/\$value$", [B04_ANSWER] * 3)
    graph_emu.set_throttle(concurrency=2, requests_per_window=60)
    graph_emu.set_latency(0.01)
    sleep = VirtualSleep(graph_emu.clock)
    provider = make_provider(sleep=sleep, quota=60)

    refs, _ = backfill(provider, now(graph_emu) - DAY)
    results = provider.fetch(refs)
    assert sorted(r.ref.provider_id for r in results if isinstance(r, Fetched)) == sorted(ids)
    stats = graph_emu.stats()["users"][ANN]
    assert stats["throttled"] >= 3  # the injected B04 answers and the concurrency refusals
    assert B04_ANSWER[2] in sleep.waits and sum(sleep.waits) >= 600  # Retry-After, then pacing

    # Without pacing, a spent budget is a TemporaryError with Graph's wait; nothing is lost.
    graph_emu.set_latency(0)
    eager = make_provider(sleep=VirtualSleep(graph_emu.clock))
    fetched, waits = [], 0
    for first in range(0, len(refs), 20):  # the engine's way: a chunk, retried when told
        while True:
            try:
                fetched.extend(eager.fetch(refs[first : first + 20]))
                break
            except TemporaryError as error:
                assert error.retry_after and error.retry_after > 120
                graph_emu.clock.advance(error.retry_after)
                waits += 1
    assert waits and [r.raw for r in fetched] == [r.raw for r in results]


# Sending


def test_send_small_mime_keeps_bcc_only_in_the_sent_copy(graph_emu, make_provider):
    raw = make_mime("Proposal", sender=ANN, to=BOB, bcc=CAROL)
    sent = make_provider().send(raw)

    copy = graph_emu.message(ANN, sent.provider_id)
    assert copy.folder_id == graph_emu.folder(ANN, "sentitems").id
    assert b"Bcc: " + CAROL.encode() in copy.raw and sent.thread_id
    for user in (BOB, CAROL):
        [received] = graph_emu.user(user).messages.values()
        assert b"Bcc:" not in received.raw
    assert graph_emu.stats()["users"][ANN]["routes"]["send"]["requests"] == 1


def test_send_with_a_10_mb_attachment_through_an_upload_session(graph_emu, make_provider):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ANN, BOB, "Annual report"
    message["Message-ID"] = "<report-1@contoso.example>"
    message.set_content("The report is attached.")
    data = hashlib.sha256(b"seed").digest() * (10 * 1024 * 1024 // 32)
    message.add_attachment(data, maintype="application", subtype="pdf", filename="report.pdf")
    sent = make_provider().send(message.as_bytes())

    copy = graph_emu.message(ANN, sent.provider_id)
    assert b"<report-1@contoso.example>" in copy.raw
    [delivered] = graph_emu.user(BOB).messages.values()
    parts = [p for p in email.message_from_bytes(delivered.raw).walk() if p.get_filename()]
    assert parts[0].get_filename() == "report.pdf" and parts[0].get_payload(decode=True) == data
    routes = graph_emu.stats()["users"][ANN]["routes"]
    assert routes["drafts"]["requests"] == 1 and routes["upload"]["requests"] == 1
    assert graph_emu.stats()["users"]["-"]["routes"]["upload"]["requests"] == 4  # 10 MB / 3.1
    assert not graph_emu.user(ANN).message(sent.provider_id).is_draft


# Attachments and app-only access


def test_reference_attachment_is_kept_as_a_link(graph_emu, make_provider):
    listed = B10_REFERENCE
    raw = make_mime("Budget")
    message_id = graph_emu.add_message(ANN, raw)
    url = "https://contoso.sharepoint.example/budget.xlsx"
    graph_emu.add_reference_attachment(ANN, message_id, listed["name"], url, listed["contentType"])
    provider = make_provider()

    [fetched] = provider.fetch([MessageRef(message_id)])
    assert fetched.raw == raw
    [link] = provider.reference_attachments(message_id)
    assert (link["name"], link["source_url"]) == ("Budget 2024.xlsx", url)
    assert link["content_type"] == listed["contentType"]


def with_file(raw, name="quote.pdf"):
    """``raw`` with one PDF attached."""
    message = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
    message.add_attachment(b"%PDF-1.4 quote", maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


def test_link_attachments_lists_only_messages_with_attachments(graph_emu, make_provider):
    url = "https://contoso.sharepoint.example/budget.xlsx"
    mixed = graph_emu.add_message(ANN, with_file(make_mime("Budget and quote")))
    graph_emu.add_reference_attachment(
        ANN, mixed, B10_REFERENCE["name"], url, B10_REFERENCE["contentType"]
    )
    file_only = graph_emu.add_message(ANN, with_file(make_mime("Quote only")))
    plain = [graph_emu.add_message(ANN, make_mime(f"plain {n}")) for n in range(5)]
    provider = make_provider()
    refs, _ = backfill(provider, now(graph_emu) - DAY)
    assert {r.provider_id for r in refs if r.has_attachments} == {mixed, file_only}

    graph_emu.reset_stats()
    links = provider.link_attachments(refs)
    assert links == {
        mixed: [{"name": "Budget 2024.xlsx", "url": url, "mimetype": B10_REFERENCE["contentType"]}],
        file_only: [],
    }
    assert all(message_id not in links for message_id in plain)
    stats = graph_emu.stats()
    assert stats["http_requests"] == 1 and stats["batch_inner_requests"] == 2

    # The scan's refs say it too: a link added later makes the message change.
    cursor = provider.current_cursor()
    graph_emu.add_reference_attachment(ANN, plain[0], "Minutes.docx", url + "?m", None)
    [change] = provider.list_changes(cursor).changes
    assert change.ref.provider_id == plain[0] and change.ref.has_attachments
    [link] = provider.link_attachments([change.ref])[plain[0]]
    assert (link["name"], link["url"]) == ("Minutes.docx", url + "?m")


def test_link_attachments_leaves_out_a_message_it_cannot_list(graph_emu, make_provider, caplog):
    url = "https://contoso.sharepoint.example/budget.xlsx"
    ids = [graph_emu.add_message(ANN, with_file(make_mime(f"Files {n}"))) for n in range(2)]
    for message_id in ids:
        graph_emu.add_reference_attachment(ANN, message_id, "Budget.xlsx", url, None)
    not_found = {"error": {"code": "ErrorItemNotFound", "message": "Not found."}}
    graph_emu.inject_errors(re.escape(f"/messages/{ids[0]}/attachments"), [(404, not_found, None)])
    provider = make_provider()
    refs = [MessageRef(message_id, has_attachments=True) for message_id in ids]

    links = provider.link_attachments(refs)
    assert ids[0] not in links
    assert [link["url"] for link in links[ids[1]]] == [url]
    assert "could not be listed" in caplog.text
    assert provider.link_attachments(refs[:0]) == {}


def test_app_only_reads_users_mailbox_and_names_missing_permission(graph_emu, make_provider):
    tenant = graph_emu.user(ANN).tenant
    message_id = graph_emu.add_message(ANN, make_mime("for the firm"))
    user_id = graph_emu.user(ANN).id
    provider = make_provider(user=user_id, tenant=tenant.id)

    assert provider.identity().address == ANN
    refs, _ = backfill(provider, now(graph_emu) - DAY)
    assert [r.provider_id for r in refs] == [message_id]
    assert provider.fetch(refs)[0].raw == make_mime("for the firm")

    graph_emu.set_app_roles((), tenant=tenant.id)
    denied = make_provider(user=user_id, tenant=tenant.id)
    with pytest.raises(AuthorisationLost, match=r"Mail\.Read application permission"):
        denied.list_window(now(graph_emu) - DAY)


def test_batch_bodies_are_decoded_from_base64(graph_emu, make_provider):
    raw = bytes(range(256))
    message_id = graph_emu.add_message(ANN, b"Subject: bin\r\n\r\n" + raw)
    [fetched] = make_provider().fetch([MessageRef(message_id)])
    assert fetched.raw == b"Subject: bin\r\n\r\n" + raw
    assert base64.b64encode(fetched.raw)
