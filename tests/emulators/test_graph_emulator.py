"""Tests of the Microsoft identity + Graph mail emulator through the real client libraries.

What it is: plain pytest (no Odoo) proving the emulator speaks the protocols the addon's
production code will meet: msal (auth code flow with PKCE, refresh, silent, client credentials)
for identity, and ``requests`` for Graph v1.0 (folders, delta, $value, attachments, $batch,
sendMail, upload sessions, throttling).

How it works: each test starts a fresh emulator on a free port (fixture ``graph_emu``); msal and
requests trust its CA through ``emu.ca_bundle``. Real-world error shapes come from
``/work/shared/cases`` (B03, B04, B10). Time-dependent rules use the emulator clock.

How to use it: ``.venv/bin/python -m pytest tests/emulators/test_graph_emulator.py -p no:odoo``.

Caveats: sessions set ``trust_env = False``: with ``REQUESTS_CA_BUNDLE`` set in the environment,
requests would otherwise ignore ``Session.verify`` and reject the emulator's CA.
"""

import base64
import email
import json
import mailbox
import re
import subprocess
import sys
import threading
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import msal
import pytest
import requests

from emulators.graph import GraphEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
EML_DIR = Path(__file__).parent / "data" / "eml"
REDIRECT = "http://localhost:8069/microsoft/callback"
SCOPES = ["Mail.Read", "Mail.Send", "User.Read"]
ANN, BOB, CAROL = "ann@contoso.example", "bob@contoso.example", "carol@fabrikam.example"


def make_mime(subject, sender=BOB, to=ANN, bcc=None, message_id=None, body="Hello"):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if bcc:
        message["Bcc"] = bcc
    message["Message-ID"] = message_id or f"<{abs(hash(subject))}@example.org>"
    message["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def graph_emu():
    with GraphEmulator(
        client_id="trail-app", client_secret="s3cret", redirect_uris=[REDIRECT]
    ) as emulator:
        emulator.add_user(ANN, "Ann Lee")
        emulator.add_user(BOB, "Bob Stone")
        emulator.add_user(CAROL, "Carol King")
        yield emulator


@pytest.fixture
def http(graph_emu):
    session = requests.Session()
    session.verify = graph_emu.ca_bundle
    session.trust_env = False
    yield session
    session.close()


def msal_app(emu, http, tenant="common"):
    return msal.ConfidentialClientApplication(
        "trail-app",
        client_credential="s3cret",
        authority=emu.authority(tenant),
        instance_discovery=False,
        http_client=http,
    )


def sign_in(emu, http, app, login=ANN, decision="accept"):
    """Run the browser side of the auth code flow; return (flow, posted auth response)."""
    flow = app.initiate_auth_code_flow(
        scopes=SCOPES, redirect_uri=REDIRECT, login_hint=login, response_mode="form_post"
    )
    page = http.get(flow["auth_uri"], allow_redirects=False)
    assert page.status_code == 200
    assert 'id="accept"' in page.text and 'id="cancel"' in page.text
    request_id = page.text.split('name="request" value="')[1].split('"')[0]
    action = page.text.split('action="')[1].split('"')[0]
    answer = http.post(
        emu.authority_base + action,
        data={"request": request_id, "login": login, "decision": decision},
        allow_redirects=False,
    )
    assert answer.status_code == 200 and f'action="{REDIRECT}"' in answer.text
    return flow, dict(re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text))


def api(http, token, method, path, **kwargs):
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    url = path if path.startswith("https://") else f"{http.graph_base}{path}"
    return http.request(method, url, headers=headers, **kwargs)


@pytest.fixture
def ann(graph_emu, http):
    """An access token for Ann with read/write/send, and the session (``http.graph_base`` set)."""
    http.graph_base = graph_emu.graph_base
    return graph_emu.issue_tokens(ANN)["access_token"]


# Identity


def test_auth_code_flow_with_consent_page_and_msal(graph_emu, http):
    app = msal_app(graph_emu, http)
    flow, params = sign_in(graph_emu, http, app)
    result = app.acquire_token_by_auth_code_flow(flow, params)

    assert "access_token" in result, result
    claims = result["id_token_claims"]
    user = graph_emu.user(ANN)
    assert claims["oid"] == user.id and claims["tid"] == user.tenant.id
    assert claims["preferred_username"] == ANN and claims["aud"] == "trail-app"
    assert claims["iss"] == f"{graph_emu.authority_base}/{user.tenant.id}/v2.0"
    [account] = app.get_accounts()
    assert account["home_account_id"] == f"{user.id}.{user.tenant.id}"
    assert set(SCOPES) <= set(result["scope"].split())

    http.graph_base = graph_emu.graph_base
    me = api(http, result["access_token"], "GET", "/me").json()
    assert (me["mail"], me["userPrincipalName"], me["displayName"]) == (ANN, ANN, "Ann Lee")


def test_cancel_and_authorize_validation(graph_emu, http):
    app = msal_app(graph_emu, http)
    flow, params = sign_in(graph_emu, http, app, decision="cancel")
    assert params["error"] == "access_denied" and params["state"] == flow["state"]
    assert params["error_description"].startswith("AADSTS65004")

    base = f"{graph_emu.authority('common')}/oauth2/v2.0/authorize"
    good = {"client_id": "trail-app", "redirect_uri": REDIRECT, "response_type": "code"}
    unknown = http.get(base, params={**good, "client_id": "nope"}, allow_redirects=False)
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.text
    wrong_uri = http.get(base, params={**good, "redirect_uri": "https://evil.example/"})
    assert wrong_uri.status_code == 400 and "AADSTS50011" in wrong_uri.text
    no_pkce = http.get(base, params={**good, "state": "s1"}, allow_redirects=False)
    query = dict(parse_qsl(urlsplit(no_pkce.headers["Location"]).query))
    assert query["error"] == "invalid_request" and query["state"] == "s1"


def test_pkce_verifier_is_checked_with_aad_error_shape(graph_emu, http):
    app = msal_app(graph_emu, http)
    flow, params = sign_in(graph_emu, http, app)
    answer = http.post(
        f"{graph_emu.authority('common')}/oauth2/v2.0/token",
        data={
            "client_id": "trail-app",
            "client_secret": "s3cret",
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": "not-the-verifier",
        },
    )
    body = answer.json()
    assert answer.status_code == 400 and body["error"] == "invalid_grant"
    assert body["error_codes"] == [501481] and body["error_description"].startswith("AADSTS501481")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    # A code is single-use, even when its redemption failed.
    again = app.acquire_token_by_auth_code_flow(flow, params)
    assert again.get("error") == "invalid_grant"


def test_refresh_token_rotation_and_grace(graph_emu, http):
    app = msal_app(graph_emu, http)
    result = app.acquire_token_by_auth_code_flow(*sign_in(graph_emu, http, app))
    first = result["refresh_token"]

    second = app.acquire_token_by_refresh_token(first, scopes=SCOPES)
    assert second["refresh_token"] != first and second["access_token"] != result["access_token"]
    retried = app.acquire_token_by_refresh_token(first, scopes=SCOPES)  # inside the grace period
    assert "access_token" in retried

    graph_emu.clock.advance(120)
    stale = app.acquire_token_by_refresh_token(first, scopes=SCOPES)
    assert stale["error"] == "invalid_grant" and 70008 in stale["error_codes"]

    [account] = app.get_accounts()
    silent = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert "access_token" in silent and silent["token_source"] == "identity_provider"

    graph_emu.revoke_user(ANN)
    revoked = app.acquire_token_by_refresh_token(silent["refresh_token"], scopes=SCOPES)
    assert 50173 in revoked["error_codes"]
    http.graph_base = graph_emu.graph_base
    assert api(http, silent["access_token"], "GET", "/me").status_code == 401


def test_missing_or_expired_token_is_401(graph_emu, http, ann):
    missing = http.get(graph_emu.graph_base + "/me/messages")
    error = missing.json()["error"]
    assert missing.status_code == 401 and error["code"] == "InvalidAuthenticationToken"
    assert {"date", "request-id", "client-request-id"} <= error["innerError"].keys()
    assert api(http, ann, "GET", "/me").status_code == 200
    graph_emu.expire_tokens(ANN)
    assert api(http, ann, "GET", "/me").json()["error"]["code"] == "InvalidAuthenticationToken"


def test_app_only_access_with_and_without_admin_consent(graph_emu, http):
    http.graph_base = graph_emu.graph_base
    tenant = graph_emu.user(ANN).tenant
    graph_emu.add_message(ANN, make_mime("For the app"))
    app = msal_app(graph_emu, http, tenant.id)
    token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])["access_token"]

    listed = api(http, token, "GET", f"/users/{ANN}/messages")
    assert listed.status_code == 200 and listed.json()["value"][0]["subject"] == "For the app"
    user_id = graph_emu.user(ANN).id
    assert api(http, token, "GET", f"/users/{user_id}").json()["mail"] == ANN
    assert api(http, token, "GET", "/me").status_code == 400
    assert api(http, token, "GET", f"/users/{CAROL}/messages").status_code == 404

    graph_emu.set_app_roles(("User.Read.All",), tenant=tenant.id)
    app = msal_app(graph_emu, http, tenant.domain)
    token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])["access_token"]
    denied = api(http, token, "GET", f"/users/{ANN}/messages")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    assert denied.json()["error"]["message"] == "Access is denied. Check credentials and try again."

    # No admin consent at all: the token carries no roles claim, which Graph refuses first.
    graph_emu.set_app_roles((), tenant=tenant.id)
    app = msal_app(graph_emu, http, tenant.id)  # a fresh token cache
    token = app.acquire_token_for_client(["https://graph.microsoft.com/.default"])["access_token"]
    bare = api(http, token, "GET", f"/users/{ANN}/messages")
    assert bare.status_code == 403 and bare.json()["error"]["code"] == "AccessDenied"
    assert bare.json()["error"]["message"] == (
        "Either scp or roles claim need to be present in the token."
    )


# Folders and delta


def test_folder_walk_with_child_folders_hidden_and_well_known_names(graph_emu, http, ann):
    graph_emu.add_folder(ANN, "Clients/Acme")
    graph_emu.add_folder(ANN, "Clients/Globex")
    first = api(http, ann, "GET", "/me/mailFolders").json()
    folders = first["value"]
    while "@odata.nextLink" in first:
        first = api(http, ann, "GET", first["@odata.nextLink"]).json()
        folders += first["value"]
    names = [f["displayName"] for f in folders]
    assert len(folders) > 10 and {"Inbox", "Sent Items", "Clients"} <= set(names)
    assert "Conversation Action Settings" not in names and "wellKnownName" not in folders[0]

    hidden = api(http, ann, "GET", "/me/mailFolders?includeHiddenFolders=true&$top=50").json()
    assert "Conversation Action Settings" in [f["displayName"] for f in hidden["value"]]

    clients = next(f for f in folders if f["displayName"] == "Clients")
    children = api(http, ann, "GET", f"/me/mailFolders/{clients['id']}/childFolders").json()
    assert sorted(f["displayName"] for f in children["value"]) == ["Acme", "Globex"]
    sync = api(http, ann, "GET", "/me/mailFolders/syncissues/childFolders").json()["value"]
    assert len(sync) == 3

    inbox = api(http, ann, "GET", "/me/mailFolders/inbox").json()
    assert inbox["displayName"] == "Inbox"
    assert api(http, ann, "GET", "/me/mailFolders('SentItems')").json()["displayName"] == (
        "Sent Items"
    )
    assert inbox["id"] in {f["id"] for f in folders}


def _delta_all(http, token, url, headers=None):
    pages, items = 0, []
    while True:
        body = api(http, token, "GET", url, headers=headers or {}).json()
        pages += 1
        items += body["value"]
        if "@odata.deltaLink" in body:
            return items, body["@odata.deltaLink"], pages
        url = body["@odata.nextLink"]


def test_delta_paging_then_changes_with_removed(graph_emu, http, ann):
    ids = [graph_emu.add_message(ANN, make_mime(f"m{i}"), received=1e9 + i) for i in range(25)]
    prefer = {"Prefer": "odata.maxpagesize=10"}
    url = "/me/mailFolders/inbox/messages/delta?$select=subject,receivedDateTime"
    first = api(http, ann, "GET", url, headers=prefer)
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=10"
    assert len(first.json()["value"]) == 10 and "$skiptoken=" in first.json()["@odata.nextLink"]
    items, delta_link, pages = _delta_all(http, ann, url, prefer)
    assert pages == 3 and len(items) == 25 and "$deltatoken=" in delta_link
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "subject", "receivedDateTime"}
    assert items[0]["subject"] == "m24"  # newest first

    empty, delta_link, _ = _delta_all(http, ann, delta_link)
    assert empty == []

    rest_moved = graph_emu.message(ANN, ids[3]).rest_id
    rest_deleted = graph_emu.message(ANN, ids[4]).rest_id
    new_id = graph_emu.add_message(ANN, make_mime("fresh"))
    graph_emu.move_message(ANN, ids[3], "archive")
    graph_emu.delete_message(ANN, ids[4])
    changes, _, _ = _delta_all(http, ann, delta_link)
    removed = {c["id"]: c["@removed"]["reason"] for c in changes if "@removed" in c}
    assert removed == {rest_moved: "changed", rest_deleted: "deleted"}
    [added] = [c for c in changes if "@removed" not in c]
    assert added["id"] == graph_emu.message(ANN, new_id).rest_id and added["subject"] == "fresh"
    assert set(added) == {"@odata.type", "@odata.etag", "id", "subject", "receivedDateTime"}


def test_immutable_ids_are_stable_across_moves(graph_emu, http, ann):
    message_id = graph_emu.add_message(ANN, make_mime("keep my id"))
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    listed = api(http, ann, "GET", "/me/mailFolders/inbox/messages", headers=immutable).json()
    assert listed["value"][0]["id"] == message_id
    plain_id = api(http, ann, "GET", "/me/mailFolders/inbox/messages").json()["value"][0]["id"]
    assert plain_id != message_id

    moved = api(
        http, ann, "POST", f"/me/messages/{message_id}/move", json={"destinationId": "archive"},
        headers=immutable,
    ).json()  # fmt: skip
    assert moved["id"] == message_id
    assert moved["parentFolderId"] == graph_emu.folder(ANN, "archive").id
    assert api(http, ann, "GET", f"/me/messages/{message_id}", headers=immutable).ok
    stale = api(http, ann, "GET", f"/me/messages/{plain_id}")
    assert stale.status_code == 404 and stale.json()["error"]["code"] == "ErrorItemNotFound"


def test_delta_token_expiry_is_410_sync_state_not_found(graph_emu, http, ann):
    graph_emu.add_message(ANN, make_mime("one"))
    _, delta_link, _ = _delta_all(http, ann, "/me/mailFolders/inbox/messages/delta")
    graph_emu.expire_delta(ANN, "inbox")
    gone = api(http, ann, "GET", delta_link)
    error = gone.json()["error"]
    assert gone.status_code == 410 and error["code"] == "SyncStateNotFound"
    assert error["message"].startswith("The sync state generation is not found; generation=")
    assert {"date", "request-id"} <= error["innerError"].keys()

    graph_emu.delta.max_age = 3600
    _, delta_link, _ = _delta_all(http, ann, "/me/mailFolders/inbox/messages/delta")
    assert api(http, ann, "GET", delta_link).status_code == 200
    graph_emu.clock.advance(3601)
    fresh = graph_emu.issue_tokens(ANN)["access_token"]  # the old one expired as well
    assert api(http, fresh, "GET", delta_link).status_code == 410


def test_delta_filter_on_received_date(graph_emu, http, ann):
    graph_emu.add_message(ANN, make_mime("old"), received="2020-01-01T00:00:00Z")
    graph_emu.add_message(ANN, make_mime("new"), received="2024-06-01T00:00:00Z")
    url = "/me/mailFolders/inbox/messages/delta?$filter=receivedDateTime ge 2024-01-01T00:00:00Z"
    items, _, _ = _delta_all(http, ann, url)
    assert [i["subject"] for i in items] == ["new"]
    bad = api(http, ann, "GET", "/me/mailFolders/inbox/messages/delta?$filter=subject eq 'x'")
    assert bad.status_code == 400


def test_mbox_without_date_header_is_dated_by_its_from_line(graph_emu, http, ann, tmp_path):
    path = tmp_path / "export.mbox"
    box = mailbox.mbox(str(path))
    for raw in (make_mime("dated"), make_mime("undated").replace(b"Date: ", b"X-Old-Date: ")):
        message = mailbox.mboxMessage(raw)
        message.set_from(f"{BOB} Sat Mar  2 08:30:00 2019")
        box.add(message)
    box.flush()
    box.close()

    dated, undated = graph_emu.load_mbox(path, ANN)
    assert graph_emu.message(ANN, dated).received == 1704103200  # its Date: 2024-01-01 10:00
    assert graph_emu.message(ANN, undated).received == 1551515400  # the From line, as in Gmail
    resource = api(http, ann, "GET", f"/me/messages/{graph_emu.message(ANN, undated).rest_id}")
    assert resource.json()["receivedDateTime"] == "2019-03-02T08:30:00Z"


# Content


def test_value_is_byte_exact_and_message_properties(graph_emu, http, ann):
    paths = sorted(EML_DIR.glob("*.eml"))
    graph_emu.load_folders(ANN, {"Clients/Acme": paths})
    for path in paths:
        raw = path.read_bytes()
        message = next(m for m in graph_emu.user(ANN).messages.values() if m.raw == raw)
        value = api(http, ann, "GET", f"/me/messages/{message.rest_id}/$value")
        assert value.content == raw and value.headers["Content-Type"].startswith("text/plain")
        resource = api(http, ann, "GET", f"/me/messages/{message.rest_id}").json()
        assert resource["parentFolderId"] == graph_emu.folder(ANN, "Clients/Acme").id
        parsed = email.message_from_bytes(raw)
        if parsed["Message-ID"]:
            assert resource["internetMessageId"] == parsed["Message-ID"].strip()
        assert resource["receivedDateTime"].endswith("Z")


def test_attachments_file_item_and_reference(graph_emu, http, ann):
    raw = (EML_DIR / "033-nested-rfc822-with-attachments.eml").read_bytes()
    message_id = graph_emu.add_message(ANN, raw)
    reference = graph_emu.add_reference_attachment(
        ANN, message_id, "Budget 2024.xlsx", "https://contoso.sharepoint.com/budget.xlsx"
    )
    base = f"/me/messages/{message_id}/attachments"
    items = api(http, ann, "GET", base).json()["value"]
    kinds = {i["@odata.type"] for i in items}
    assert "#microsoft.graph.itemAttachment" in kinds
    assert "#microsoft.graph.referenceAttachment" in kinds
    ref = next(i for i in items if i["id"] == reference)
    assert "contentBytes" not in ref and ref["sourceUrl"].startswith("https://contoso")

    bad = api(http, ann, "GET", f"{base}/{reference}/$value")
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == (
        "$value segment is only supported for file and item attachments"
    )
    item = next(i for i in items if i["@odata.type"] == "#microsoft.graph.itemAttachment")
    assert "contentBytes" not in item
    attached = api(http, ann, "GET", f"{base}/{item['id']}/$value")
    assert attached.status_code == 200 and attached.headers["Content-Type"] == "message/rfc822"
    assert b"Subject:" in attached.content
    for file_item in (i for i in items if i["@odata.type"] == "#microsoft.graph.fileAttachment"):
        data = api(http, ann, "GET", f"{base}/{file_item['id']}/$value").content
        assert base64.b64decode(file_item["contentBytes"]) == data


# Batching and throttling


def test_batch_of_20_ok_21_rejected_and_binary_bodies_base64(graph_emu, http, ann):
    raw = make_mime("batched")
    message_id = graph_emu.add_message(ANN, raw)
    requests_ = [{"id": str(i), "method": "GET", "url": "/me/mailFolders/inbox"} for i in range(19)]
    requests_.append({"id": "mime", "method": "GET", "url": f"/me/messages/{message_id}/$value"})
    graph_emu.reset_stats()
    answer = api(http, ann, "POST", "/$batch", json={"requests": requests_})
    assert answer.status_code == 200
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert len(responses) == 20 and all(r["status"] == 200 for r in responses.values())
    assert responses["0"]["body"]["displayName"] == "Inbox"
    assert base64.b64decode(responses["mime"]["body"]) == raw
    stats = graph_emu.stats()
    assert stats["http_requests"] == 1 and stats["batch_inner_requests"] == 20
    assert stats["users"][ANN]["inner_requests"] == 20

    too_many = requests_ + [{"id": "21", "method": "GET", "url": "/me"}]
    rejected = api(http, ann, "POST", "/$batch", json={"requests": too_many})
    assert rejected.status_code == 400 and rejected.json()["error"]["code"] == "BadRequest"


def test_batch_depends_on_failed_request_is_424(graph_emu, http, ann):
    body = {
        "requests": [
            {"id": "a", "method": "GET", "url": "/me/messages/missing"},
            {"id": "b", "method": "GET", "url": "/me", "dependsOn": ["a"]},
        ]
    }
    responses = {
        r["id"]: r for r in api(http, ann, "POST", "/$batch", json=body).json()["responses"]
    }
    assert responses["a"]["status"] == 404 and responses["b"]["status"] == 424


def test_mailbox_concurrency_limit_gives_429_with_retry_after(graph_emu, http, ann):
    graph_emu.set_latency(0.3)
    results, barrier = [], threading.Barrier(6)

    def call():
        session = requests.Session()
        session.verify, session.trust_env = graph_emu.ca_bundle, False
        session.graph_base = graph_emu.graph_base
        barrier.wait()
        results.append(api(session, ann, "GET", "/me/mailFolders/inbox"))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    throttled = [r for r in results if r.status_code == 429]
    assert len(throttled) == 2 and sum(r.ok for r in results) == 4
    assert throttled[0].headers["Retry-After"].isdigit()
    error = throttled[0].json()["error"]
    assert error["code"] == "ApplicationThrottled" and "MailboxConcurrency" in error["message"]
    assert graph_emu.stats()["users"][ANN]["throttled"] == 2


def test_request_budget_429_scaled_and_inside_batches(graph_emu, http, ann):
    graph_emu.set_throttle(scale=0.0005)  # 5 requests per 10 minutes
    for _ in range(5):
        assert api(http, ann, "GET", "/me").ok
    over = api(http, ann, "GET", "/me")
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 500
    assert over.json()["error"]["code"] == "ApplicationThrottled"

    graph_emu.clock.advance(601)
    batch = {"requests": [{"id": str(i), "method": "GET", "url": "/me"} for i in range(8)]}
    responses = api(http, ann, "POST", "/$batch", json=batch).json()["responses"]
    statuses = sorted(r["status"] for r in responses)
    assert statuses == [200] * 5 + [429] * 3
    assert all("Retry-After" in r["headers"] for r in responses if r["status"] == 429)


def test_error_injection_and_fail_next(graph_emu, http, ann):
    graph_emu.inject_errors(r"/mailFolders/inbox$", [(503, {"error": {"code": "x"}}, 7)])
    first = api(http, ann, "GET", "/me/mailFolders/inbox")
    assert first.status_code == 503 and first.headers["Retry-After"] == "7"
    assert api(http, ann, "GET", "/me/mailFolders/inbox").ok
    graph_emu.fail_next(1, 504, "GatewayTimeout", "Gateway timed out.")
    failed = api(http, ann, "GET", "/me")
    assert failed.status_code == 504 and failed.json()["error"]["code"] == "GatewayTimeout"


# Sending


def test_send_mime_keeps_bcc_in_sent_items_only(graph_emu, http, ann):
    raw = make_mime("Proposal", sender=ANN, to=BOB, bcc=CAROL, message_id="<proposal-1@trail>")
    sent = api(
        http, ann, "POST", "/me/sendMail", data=base64.b64encode(raw),
        headers={"Content-Type": "text/plain"},
    )  # fmt: skip
    assert sent.status_code == 202

    [copy] = graph_emu.user(ANN).messages.values()
    assert copy.folder_id == graph_emu.folder(ANN, "sentitems").id
    resource = api(http, ann, "GET", f"/me/messages/{copy.rest_id}").json()
    assert resource["internetMessageId"] == "<proposal-1@trail>"
    assert resource["bccRecipients"][0]["emailAddress"]["address"] == CAROL
    for user in (BOB, CAROL):
        [received] = graph_emu.user(user).messages.values()
        assert b"Bcc:" not in received.raw and b"<proposal-1@trail>" in received.raw

    json_mail = {
        "message": {
            "subject": "No copy",
            "body": {"contentType": "Text", "content": "hi"},
            "toRecipients": [{"emailAddress": {"address": BOB}}],
        },
        "saveToSentItems": False,
    }
    assert api(http, ann, "POST", "/me/sendMail", json=json_mail).status_code == 202
    assert len(graph_emu.user(ANN).messages) == 1 and len(graph_emu.user(BOB).messages) == 2


def test_upload_session_of_10_mb_attachment_then_send(graph_emu, http, ann):
    draft = api(
        http, ann, "POST", "/me/messages",
        json={"subject": "Report", "toRecipients": [{"emailAddress": {"address": BOB}}]},
    ).json()  # fmt: skip
    assert draft["isDraft"] is True
    size = 10 * 1024 * 1024
    data = bytes(range(256)) * (size // 256)
    session = api(
        http, ann, "POST", f"/me/messages/{draft['id']}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "report.pdf", "size": size}},
    ).json()  # fmt: skip
    upload_url = session["uploadUrl"]
    assert session["nextExpectedRanges"] == ["0-"]

    with_auth = http.put(
        upload_url, data=data[:327680], headers={
            "Content-Range": f"bytes 0-327679/{size}", "Authorization": f"Bearer {ann}"},
    )  # fmt: skip
    assert with_auth.status_code == 401
    odd = http.put(upload_url, data=data[:1000], headers={"Content-Range": f"bytes 0-999/{size}"})
    assert odd.status_code == 416

    chunk, start, answer = 320 * 1024 * 10, 0, None
    while start < size:
        part = data[start : start + chunk]
        headers = {"Content-Range": f"bytes {start}-{start + len(part) - 1}/{size}"}
        answer = http.put(upload_url, data=part, headers=headers)
        start += len(part)
        if start < size:
            assert answer.json()["nextExpectedRanges"] == [f"{start}-"]
    assert answer.status_code == 201 and "/attachments/" in answer.headers["Location"]

    listed = api(http, ann, "GET", f"/me/messages/{draft['id']}/attachments").json()["value"]
    assert [(a["name"], a["size"]) for a in listed] == [("report.pdf", size)]
    assert api(http, ann, "POST", f"/me/messages/{draft['id']}/send").status_code == 202
    [delivered] = graph_emu.user(BOB).messages.values()
    parts = [p for p in email.message_from_bytes(delivered.raw).walk() if p.get_filename()]
    assert parts[0].get_payload(decode=True) == data


# Command line


def test_cli_prints_one_json_line(tmp_path):
    user_dir = tmp_path / ANN / "inbox"
    user_dir.mkdir(parents=True)
    (user_dir / "a.eml").write_bytes(make_mime("from disk"))
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.graph", "--port", "0", "--eml-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(process.stdout.readline())
        assert info["users"] == {ANN: 1}
        assert info["authority_base"].startswith("https://localhost:")
        config = requests.get(
            info["authority"] + "/v2.0/.well-known/openid-configuration",
            verify=info["ca_bundle"],
            timeout=5,
        ).json()
        assert config["token_endpoint"].endswith("/common/oauth2/v2.0/token")
    finally:
        process.terminate()
        process.wait(timeout=10)
