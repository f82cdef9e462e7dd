"""Tests of the Gmail API + Google OAuth emulator through the real client libraries.

What it is: plain pytest (no Odoo) proving the emulator speaks the wire protocol the addon's
production code will meet: google-api-python-client (discovery build, batch) and google-auth
(refresh) for the API, ``requests`` for the browser side of OAuth and for raw protocol checks.

How it works: each test starts a fresh emulator on a free 127.0.0.1 port (fixtures in
``conftest.py``) and builds a service with ``client_options={'api_endpoint': emu.base_url}``;
batches use ``BatchHttpRequest(batch_uri=emu.batch_url)``. Real-world response shapes come from
``data/bugs`` (copies of /work/shared/cases/bugs, see the MANIFEST there).

How to use it: ``/tmp/trialvenv/bin/python -m pytest tests/emulators -q``.

Caveats: quota tests scale the 15,000 units/minute budget down instead of waiting a minute, and
history expiry advances the emulator clock rather than real time.
"""

import base64
import email.utils
import hashlib
import json
import mailbox
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth.exceptions import RefreshError
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, MediaInMemoryUpload

from emulators.gmail import wire

DATA_DIR = Path(__file__).parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[2]
ALICE = "alice@example.com"
BOB = "bob@example.com"
DAY_MS = 86400 * 1000
JAN_1_2024_MS = 1704067200000


def make_raw(subject="hello", *, sender=BOB, to=ALICE, body="hi there", extra=""):
    unique = hashlib.sha1(f"{subject}|{body}|{extra}".encode()).hexdigest()[:16]
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        f"Message-ID: <{unique}@example.com>\r\n{extra}\r\n{body}\r\n"
    ).encode()


def b64(data):
    return base64.urlsafe_b64encode(data).decode()


def error_json(error):
    return json.loads(error.content)


def load_case(name):
    return json.loads((DATA_DIR / "bugs" / name).read_text())


# OAuth


def authorize(emu, **overrides):
    params = {
        "client_id": emu.client_id,
        "redirect_uri": "http://localhost:8069/gmail/callback",
        "response_type": "code",
        "scope": "https://mail.google.com/ openid email",
        "state": "csrf-123",
        "access_type": "offline",
        "login_hint": ALICE,
    }
    params.update(overrides)
    return requests.get(emu.auth_uri, params=params, allow_redirects=False, timeout=5)


def consent(emu, page, decision):
    consent_id = re.search(r'name="consent" value="([^"]+)"', page.text).group(1)
    user = re.search(r'name="user" id="user" value="([^"]*)"', page.text).group(1)
    assert user == ALICE
    form = {"consent": consent_id, "user": user, "decision": decision}
    return requests.post(
        emu.base_url + "o/oauth2/approve", data=form, allow_redirects=False, timeout=5
    )


def test_oauth_code_flow_allow_exchange_and_use(emu):
    emu.add_user(ALICE)
    page = authorize(emu)
    assert page.status_code == 200
    assert 'id="allow"' in page.text and 'id="deny"' in page.text
    answer = consent(emu, page, "allow")
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/gmail/callback"
    query = parse_qs(location.query)
    assert query["state"] == ["csrf-123"]
    token = requests.post(
        emu.token_uri,
        timeout=5,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "http://localhost:8069/gmail/callback",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )
    assert token.status_code == 200
    tokens = token.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    assert tokens["refresh_token"] and tokens["scope"].startswith("https://mail.google.com/")
    claims = tokens["id_token"].split(".")[1]
    assert json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["email"] == ALICE
    profile = requests.get(
        emu.base_url + "gmail/v1/users/me/profile",
        timeout=5,
        headers={"Authorization": "Bearer " + tokens["access_token"]},
    )
    assert profile.json()["emailAddress"] == ALICE
    # Codes are single-use, as at Google.
    again = requests.post(
        emu.token_uri,
        timeout=5,
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": "http://localhost:8069/gmail/callback",
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_oauth_deny_and_request_validation(emu):
    emu.add_user(ALICE)
    denied = consent(emu, authorize(emu), "deny")
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["csrf-123"],
    }
    assert authorize(emu, client_id="nobody").status_code == 401
    wrong_type = authorize(emu, response_type="token")
    assert "error=unsupported_response_type" in wrong_type.headers["Location"]
    # Without access_type=offline Google issues no refresh token.
    page = authorize(emu, access_type="online")
    code = parse_qs(urlsplit(consent(emu, page, "allow").headers["Location"]).query)["code"][0]
    tokens = requests.post(
        emu.token_uri,
        timeout=5,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": "http://localhost:8069/gmail/callback",
            "client_id": emu.client_id,
            "client_secret": "wrong",
        },
    )
    assert tokens.status_code == 401 and tokens.json()["error"] == "invalid_client"


def test_oauth_auto_consent_and_pkce(emu):
    emu.add_user(ALICE)
    emu.oauth.auto_consent = "allow"
    verifier = "v" * 64
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    )
    answer = authorize(emu, code_challenge=challenge, code_challenge_method="S256")
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "http://localhost:8069/gmail/callback",
        "client_id": emu.client_id,
        "client_secret": emu.client_secret,
    }
    bad = requests.post(emu.token_uri, data={**form, "code_verifier": "x" * 64}, timeout=5)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def test_expired_access_token_refreshes_then_revocation_is_invalid_grant(emu, gmail):
    emu.add_message(ALICE, make_raw(), ["INBOX"])
    service, credentials = gmail(ALICE)
    first_token = credentials.token
    emu.expire_tokens(ALICE)
    raw_401 = requests.get(
        emu.base_url + "gmail/v1/users/me/profile",
        timeout=5,
        headers={"Authorization": "Bearer " + first_token},
    )
    assert raw_401.status_code == 401
    assert raw_401.json()["error"]["status"] == "UNAUTHENTICATED"
    # google-auth sees the 401, refreshes at emu.token_uri and retries transparently.
    assert service.users().getProfile(userId="me").execute()["messagesTotal"] == 1
    assert credentials.token != first_token

    emu.revoke(credentials.refresh_token)
    emu.expire_tokens(ALICE)
    with pytest.raises(RefreshError) as refused:
        service.users().getProfile(userId="me").execute()
    assert "invalid_grant" in str(refused.value)
    answer = requests.post(
        emu.token_uri,
        timeout=5,
        data={
            "grant_type": "refresh_token",
            "refresh_token": credentials.refresh_token,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }


def test_revoke_by_user_and_revoke_endpoint(emu, gmail):
    emu.add_user(ALICE)
    service, credentials = gmail(ALICE)
    assert (
        requests.post(emu.revoke_uri, params={"token": credentials.token}, timeout=5).status_code
        == 200
    )
    with pytest.raises(RefreshError):
        service.users().getProfile(userId="me").execute()
    service, credentials = gmail(ALICE)
    assert emu.revoke(ALICE)
    with pytest.raises(RefreshError):
        service.users().labels().list(userId="me").execute()


# messages.list


def fill_mailbox(emu, count):
    ids = []
    for i in range(count):
        labels = ["SENT"] if i % 10 == 0 else ["INBOX"]
        if i % 25 == 1:
            labels = ["SPAM"]
        raw = make_raw(subject=f"message {i}", body=f"body {i}")
        ids.append(emu.add_message(ALICE, raw, labels, JAN_1_2024_MS + i * 3600 * 1000))
    return ids


def test_list_pages_of_500_newest_first(emu, gmail):
    fill_mailbox(emu, 1200)
    service, _ = gmail(ALICE)
    messages = service.users().messages()
    seen, token, sizes = [], None, []
    while True:
        page = messages.list(
            userId="me", maxResults=1000, pageToken=token, includeSpamTrash=True
        ).execute()
        sizes.append(len(page["messages"]))
        seen += [m["id"] for m in page["messages"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sizes == [500, 500, 200]
    assert len(set(seen)) == 1200
    dates = [int(emu.get_message(ALICE, i).internal_date) for i in seen]
    assert dates == sorted(dates, reverse=True)
    default = messages.list(userId="me").execute()
    assert len(default["messages"]) == 100
    assert default["resultSizeEstimate"] == 1200 - 48  # spam is left out by default


def test_list_query_after_before_in_and_negation(emu, gmail):
    fill_mailbox(emu, 120)  # one message an hour from 2024-01-01 00:00 UTC
    service, _ = gmail(ALICE)
    messages = service.users().messages()

    def count(**kwargs):
        return messages.list(userId="me", maxResults=500, **kwargs).execute()["resultSizeEstimate"]

    sent = {i for i in range(120) if i % 10 == 0}
    spam = {i for i in range(120) if i % 25 == 1}
    assert count(q="in:sent") == len(sent)
    assert count(q="after:2024/01/04") == len([i for i in range(72, 120) if i not in spam])
    epoch = (JAN_1_2024_MS + 100 * 3600 * 1000) // 1000
    assert count(q=f"after:{epoch}") == len([i for i in range(100, 120) if i not in spam])
    assert count(q="before:2024/01/02 -in:sent") == len(
        [i for i in range(24) if i not in sent | spam]
    )
    assert count(q="in:spam") == len(spam)
    assert count(q="-in:spam -in:trash -in:drafts", includeSpamTrash=True) == 120 - len(spam)
    assert count(labelIds=["SENT"]) == len(sent)
    assert count(q='subject:"message 7"') == len(
        [i for i in range(120) if "message 7" in f"message {i}" and i not in spam]
    )


# messages.get


@pytest.mark.parametrize("size_mod_3", [0, 1, 2])
def test_get_raw_is_byte_exact_and_padded(emu, gmail, size_mod_3):
    raw = make_raw(body="x")
    raw += b"y" * ((size_mod_3 - len(raw)) % 3)
    assert len(raw) % 3 == size_mod_3
    message_id = emu.add_message(ALICE, raw, ["INBOX"])
    service, _ = gmail(ALICE)
    got = service.users().messages().get(userId="me", id=message_id, format="raw").execute()
    assert got["raw"].count("=") == (3 - size_mod_3) % 3
    assert base64.urlsafe_b64decode(got["raw"]) == raw
    assert got["sizeEstimate"] == len(raw)


def test_get_raw_matches_real_padded_shape(emu, gmail):
    case = load_case("07-gmail-raw-padded-base64url.json")["response_body"]
    raw = base64.urlsafe_b64decode(case["raw"])
    message_id = emu.add_message(ALICE, raw, case["labelIds"], int(case["internalDate"]))
    service, _ = gmail(ALICE)
    got = service.users().messages().get(userId="me", id=message_id, format="raw").execute()
    assert got["raw"] == case["raw"]
    assert got["sizeEstimate"] == case["sizeEstimate"]
    assert set(got) == set(case) | {"snippet"}


def test_full_and_metadata_formats_and_unpadded_attachment(emu, gmail):
    attachment = b"%PDF-1.1\n% tiny fake pdf for padding tests\n"
    case = load_case("08-gmail-attachment-unpadded-base64url.json")["response_body"]
    raw = (
        b"From: bob@example.com\r\nTo: alice@example.com\r\nSubject: =?UTF-8?B?w6l0w6k=?=\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
        b'--b1\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
        b'Content-Disposition: attachment; filename="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(attachment).replace(b"\n", b"\r\n")
        + b"--b1--\r\n"
    )
    message_id = emu.add_message(ALICE, raw, ["INBOX"])
    messages = gmail(ALICE)[0].users().messages()
    full = messages.get(userId="me", id=message_id).execute()
    payload = full["payload"]
    assert payload["mimeType"] == "multipart/mixed" and payload["partId"] == ""
    subject = [h["value"] for h in payload["headers"] if h["name"] == "Subject"]
    assert subject == ["été"]
    text, pdf = payload["parts"]
    assert text["partId"] == "0" and "=" not in text["body"]["data"]
    assert pdf["filename"] == "a.pdf" and pdf["body"]["size"] == len(attachment)
    fetched = (
        messages.attachments()
        .get(userId="me", messageId=message_id, id=pdf["body"]["attachmentId"])
        .execute()
    )
    assert fetched == {"size": case["size"], "data": case["data"]}
    assert full["snippet"] == "See attached."
    meta = messages.get(
        userId="me", id=message_id, format="metadata", metadataHeaders=["Subject", "From"]
    ).execute()
    assert [h["name"] for h in meta["payload"]["headers"]] == ["From", "Subject"]
    assert "raw" not in meta and "parts" not in meta["payload"]


def test_real_messages_from_eml_dir_render_in_every_format(emu, gmail, tmp_path):
    user_dir = tmp_path / ALICE
    user_dir.mkdir()
    originals = {}
    for path in sorted((DATA_DIR / "eml").glob("*.eml")):
        (user_dir / path.name).write_bytes(path.read_bytes())
        originals[path.name] = path.read_bytes()
    ids = emu.load_eml_dir(tmp_path)
    assert len(ids) == len(originals)
    messages = gmail(ALICE)[0].users().messages()
    stored = set()
    for message_id in ids:
        for fmt in ("full", "metadata", "minimal"):
            assert messages.get(userId="me", id=message_id, format=fmt).execute()["id"]
        raw = messages.get(userId="me", id=message_id, format="raw").execute()["raw"]
        stored.add(base64.urlsafe_b64decode(raw))
    assert stored == set(originals.values())


# batch


def test_batch_of_50_gets_is_charged_per_part(emu, gmail):
    ids = [emu.add_message(ALICE, make_raw(subject=f"s{i}"), ["INBOX"]) for i in range(60)]
    service, _ = gmail(ALICE)
    emu.reset_stats()
    answers = {}

    def collect(request_id, response, exception):
        answers[request_id] = (response, exception)

    batch = BatchHttpRequest(callback=collect, batch_uri=emu.batch_url)
    for message_id in ids[:50]:
        batch.add(service.users().messages().get(userId="me", id=message_id, format="raw"))
    batch.execute()
    assert len(answers) == 50
    assert all(exc is None and resp["raw"] for resp, exc in answers.values())
    got = {resp["id"] for resp, _ in answers.values()}
    assert got == set(ids[:50])
    stats = emu.stats()[ALICE]
    assert stats["batches"] == 1
    assert stats["methods"]["gmail.users.messages.get"] == {
        "calls": 50,
        "units": 250,
        "rejected": 0,
    }

    too_big = BatchHttpRequest(callback=collect, batch_uri=emu.batch_url)
    for message_id in ids[:60] + ids[:41]:
        too_big.add(service.users().messages().get(userId="me", id=message_id))
    with pytest.raises(HttpError) as refused:
        too_big.execute()
    assert refused.value.resp.status == 400


def test_batch_parts_fail_independently(emu, gmail):
    message_id = emu.add_message(ALICE, make_raw(), ["INBOX"])
    service, _ = gmail(ALICE)
    answers = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: answers.__setitem__(rid, exc), batch_uri=emu.batch_url
    )
    batch.add(service.users().messages().get(userId="me", id=message_id), request_id="ok")
    batch.add(service.users().messages().get(userId="me", id="deadbeef"), request_id="missing")
    batch.add(
        service.users()
        .messages()
        .modify(userId="me", id=message_id, body={"addLabelIds": ["STARRED"]}),
        request_id="modify",
    )
    batch.execute()
    assert answers["ok"] is None and answers["modify"] is None
    assert answers["missing"].resp.status == 404
    assert "STARRED" in emu.get_message(ALICE, message_id).label_ids


# history


def test_history_records_adds_label_changes_deletes_and_pages(emu, gmail):
    emu.add_message(ALICE, make_raw(subject="old"), ["INBOX"])
    service, _ = gmail(ALICE)
    users = service.users()
    start = users.getProfile(userId="me").execute()["historyId"]
    added = emu.add_message(ALICE, make_raw(subject="new"), ["INBOX", "UNREAD"])
    users.messages().modify(
        userId="me", id=added, body={"removeLabelIds": ["UNREAD"], "addLabelIds": ["STARRED"]}
    ).execute()
    emu.delete_message(ALICE, added)

    history = users.history().list(userId="me", startHistoryId=start).execute()
    kinds = [next(k for k in r if k not in ("id", "messages")) for r in history["history"]]
    assert kinds == ["messagesAdded", "labelsRemoved", "labelsAdded", "messagesDeleted"]
    assert history["history"][1]["labelsRemoved"][0]["labelIds"] == ["UNREAD"]
    assert history["historyId"] == users.getProfile(userId="me").execute()["historyId"]
    ids = [int(r["id"]) for r in history["history"]]
    assert ids == sorted(ids) and ids[0] > int(start)

    only_added = (
        users.history()
        .list(userId="me", startHistoryId=start, historyTypes="messageAdded")
        .execute()
    )
    assert [list(r)[-1] for r in only_added["history"]] == ["messagesAdded"]
    paged, token = [], None
    while True:
        page = (
            users.history()
            .list(userId="me", startHistoryId=start, maxResults=1, pageToken=token)
            .execute()
        )
        paged += page.get("history", [])
        token = page.get("nextPageToken")
        if not token:
            break
    assert paged == history["history"]
    latest = history["historyId"]
    assert "history" not in users.history().list(userId="me", startHistoryId=latest).execute()


def test_history_expiry_answers_real_404_shape(emu, gmail):
    emu.history_max_age = 7 * 86400
    emu.add_message(ALICE, make_raw(), ["INBOX"])
    service, _ = gmail(ALICE)
    start = service.users().getProfile(userId="me").execute()["historyId"]
    emu.add_message(ALICE, make_raw(subject="later"), ["INBOX"])
    emu.clock.advance(8 * 86400)
    with pytest.raises(HttpError) as expired:
        service.users().history().list(
            userId="me", startHistoryId=start, historyTypes="messageAdded"
        ).execute()
    assert expired.value.resp.status == 404
    assert error_json(expired.value) == load_case("01-gmail-history-404.json")["response_body"]
    # A fresh cursor from getProfile works again after the full re-sync.
    fresh = service.users().getProfile(userId="me").execute()["historyId"]
    assert (
        "historyId" in service.users().history().list(userId="me", startHistoryId=fresh).execute()
    )
    emu.add_message(ALICE, make_raw(subject="newest"), ["INBOX"])
    emu.expire_history(ALICE)
    with pytest.raises(HttpError):
        service.users().history().list(userId="me", startHistoryId=fresh).execute()


# send


def test_send_files_sent_copy_with_bcc_and_delivers_without_it(emu, gmail):
    for user in (ALICE, BOB, "dora@example.com"):
        emu.add_user(user)
    service, _ = gmail(ALICE)
    raw = make_raw(
        subject="Plans",
        sender=ALICE,
        to=BOB,
        extra="Cc: carol@elsewhere.test\r\nBcc: dora@example.com\r\n",
    )
    sent = service.users().messages().send(userId="me", body={"raw": b64(raw)}).execute()
    assert sent["labelIds"] == ["SENT"] and sent["threadId"] == sent["id"]
    mine = emu.get_message(ALICE, sent["id"])
    assert mine.raw == raw and b"Bcc: dora@example.com" in mine.raw
    for user in (BOB, "dora@example.com"):
        (delivered,) = emu.mailbox(user).messages.values()
        assert delivered.label_ids == ["INBOX", "UNREAD"]
        assert b"Bcc:" not in delivered.raw
        assert delivered.raw == raw.replace(b"Bcc: dora@example.com\r\n", b"")
    assert emu.outbox[-1]["to"] == [BOB, "carol@elsewhere.test", "dora@example.com"]

    # Bob's reply threads with the delivered copy, and back in Alice's mailbox with hers.
    (delivered,) = emu.mailbox(BOB).messages.values()
    original_id = re.search(rb"Message-ID: (<[^>]+>)", raw).group(1).decode()
    reply = make_raw(
        subject="Re: Plans",
        sender=BOB,
        to=ALICE,
        body="ok",
        extra=f"In-Reply-To: {original_id}\r\nReferences: {original_id}\r\n",
    )
    bob_service, _ = gmail(BOB)
    answer = (
        bob_service.users()
        .messages()
        .send(userId="me", body={"raw": b64(reply), "threadId": delivered.thread_id})
        .execute()
    )
    assert answer["threadId"] == delivered.thread_id
    alice_copy = [m for m in emu.mailbox(ALICE).messages.values() if "INBOX" in m.label_ids]
    assert alice_copy[0].thread_id == sent["threadId"]


def test_send_without_recipient_and_media_upload_via_rebased_document(emu, gmail):
    emu.add_user(ALICE)
    service, credentials = gmail(ALICE)
    with pytest.raises(HttpError) as refused:
        service.users().messages().send(
            userId="me", body={"raw": b64(b"Subject: x\r\n\r\nno rcpt\r\n")}
        ).execute()
    assert refused.value.resp.status == 400
    uploader = build_from_document(emu.discovery_document(), credentials=credentials)
    raw = make_raw(sender=ALICE, to="zed@elsewhere.test", subject="uploaded")
    media = MediaInMemoryUpload(raw, mimetype="message/rfc822")
    sent = uploader.users().messages().send(userId="me", media_body=media).execute()
    assert emu.get_message(ALICE, sent["id"]).raw == raw
    # media_body plus body is a multipart/related upload; the bytes must survive it exactly.
    reply = make_raw(sender=ALICE, to="zed@elsewhere.test", subject="Re: uploaded", body="2")
    media = MediaInMemoryUpload(reply, mimetype="message/rfc822")
    threaded = (
        uploader.users()
        .messages()
        .send(userId="me", body={"threadId": sent["threadId"]}, media_body=media)
        .execute()
    )
    assert emu.get_message(ALICE, threaded["id"]).raw == reply
    assert threaded["threadId"] == sent["threadId"]
    # The rebased document also points new_batch_http_request() at the emulator.
    batch = uploader.new_batch_http_request()
    batch.add(uploader.users().getProfile(userId="me"))
    batch.execute()


# quota, concurrency, scripted failures, validation


def test_quota_429_under_scaled_quota_and_stats(emu, gmail):
    message_id = emu.add_message(ALICE, make_raw(), ["INBOX"])
    service, _ = gmail(ALICE)
    emu.set_quota(units_per_minute=15000, scale=0.002)  # 30 units a minute
    get = service.users().messages().get(userId="me", id=message_id, format="minimal")
    for _ in range(6):
        get.execute()
    with pytest.raises(HttpError) as limited:
        get.execute()
    assert limited.value.resp.status == 429
    assert 1 <= int(limited.value.resp["retry-after"]) <= 60
    body = error_json(limited.value)["error"]
    assert body["status"] == "RESOURCE_EXHAUSTED"
    assert body["errors"][0]["domain"] == "usageLimits"
    assert body["errors"][0]["reason"] == "rateLimitExceeded"
    stats = emu.stats()[ALICE]
    assert stats["methods"]["gmail.users.messages.get"] == {"calls": 7, "units": 30, "rejected": 1}
    assert emu.peak_minute_units(ALICE) == 30 <= emu.quota.limit
    emu.clock.advance(61)
    assert get.execute()["id"] == message_id


def test_concurrency_limit_per_user(emu, gmail):
    emu.add_user(ALICE)
    service, _ = gmail(ALICE)
    token = service._http.credentials.token
    emu.set_quota(concurrency_limit=1)
    emu.set_latency(0.4)
    statuses = []

    def call():
        answer = requests.get(
            emu.base_url + "gmail/v1/users/me/profile",
            timeout=5,
            headers={"Authorization": "Bearer " + token},
        )
        statuses.append((answer.status_code, answer.json()))

    workers = [threading.Thread(target=call) for _ in range(2)]
    for worker in workers:
        worker.start()
        time.sleep(0.05)
    for worker in workers:
        worker.join()
    codes = sorted(code for code, _ in statuses)
    assert codes == [200, 429]
    rejected = next(body for code, body in statuses if code == 429)
    assert rejected == load_case("05-gmail-403-ratelimit.json")["responses"][2]["body"]


def test_injected_errors_reproduce_real_rate_limit_shapes(emu, gmail):
    message_id = emu.add_message(ALICE, make_raw(), ["INBOX"])
    service, _ = gmail(ALICE)
    shapes = load_case("05-gmail-403-ratelimit.json")["responses"]
    emu.inject_errors(
        r"/messages/" + message_id, [(shape["status"], shape["body"], 5) for shape in shapes]
    )
    get = service.users().messages().get(userId="me", id=message_id)
    for shape in shapes:
        with pytest.raises(HttpError) as failed:
            get.execute()
        assert failed.value.resp.status == shape["status"]
        assert failed.value.resp["retry-after"] == "5"
        assert error_json(failed.value) == shape["body"]
    assert get.execute()["id"] == message_id
    emu.fail_next(1, 503, "backendError")
    with pytest.raises(HttpError) as unavailable:
        service.users().labels().list(userId="me").execute()
    assert unavailable.value.resp.status == 503
    assert error_json(unavailable.value)["error"]["errors"][0]["reason"] == "backendError"
    assert emu.stats()[ALICE]["rejected"] == 5


def test_canned_bodies_match_the_real_shapes():
    shapes = [r["body"] for r in load_case("05-gmail-403-ratelimit.json")["responses"]]
    assert [
        wire.user_rate_limit_403(),
        wire.rate_limit_403(),
        wire.concurrent_429(),
        wire.insufficient_permissions_403(),
    ] == shapes
    assert wire.history_not_found() == load_case("01-gmail-history-404.json")["response_body"]


def test_discovery_validation_rejects_unknown_parameter_and_bad_enum(emu, gmail):
    emu.add_user(ALICE)
    token = gmail(ALICE)[1].token
    headers = {"Authorization": "Bearer " + token}
    base = emu.base_url + "gmail/v1/users/me/"
    unknown = requests.get(base + "messages", params={"bogus": "1"}, headers=headers, timeout=5)
    assert unknown.status_code == 400
    error = unknown.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["errors"][0]["reason"] == "badRequest"
    assert 'Unknown name "bogus"' in error["message"]
    bad_enum = requests.get(
        base + "messages/x", params={"format": "bogus"}, headers=headers, timeout=5
    )
    assert bad_enum.status_code == 400
    bad_int = requests.get(
        base + "messages", params={"maxResults": "ten"}, headers=headers, timeout=5
    )
    assert bad_int.status_code == 400
    assert requests.get(base + "nonsense", headers=headers, timeout=5).status_code == 404
    assert requests.put(base + "profile", headers=headers, timeout=5).status_code == 404
    assert (
        requests.get(
            base + "messages",
            params={"alt": "json", "fields": "messages"},
            headers=headers,
            timeout=5,
        ).status_code
        == 200
    )
    other = requests.get(
        emu.base_url + "gmail/v1/users/bob%40example.com/profile", headers=headers, timeout=5
    )
    assert other.status_code == 403


def test_scope_and_metadata_restrictions(emu, gmail):
    message_id = emu.add_message(ALICE, make_raw(), ["INBOX"])
    send_only, _ = gmail(ALICE, scope="https://www.googleapis.com/auth/gmail.send")
    with pytest.raises(HttpError) as forbidden:
        send_only.users().messages().list(userId="me").execute()
    assert (
        error_json(forbidden.value)
        == load_case("05-gmail-403-ratelimit.json")["responses"][3]["body"]
    )
    metadata, _ = gmail(ALICE, scope="https://www.googleapis.com/auth/gmail.metadata")
    messages = metadata.users().messages()
    assert messages.get(userId="me", id=message_id, format="metadata").execute()["payload"]
    with pytest.raises(HttpError) as raw_refused:
        messages.get(userId="me", id=message_id, format="raw").execute()
    assert raw_refused.value.resp.status == 403


# loading


def test_takeout_mbox_labels_and_threads(emu, gmail, tmp_path):
    path = tmp_path / "All mail Including Spam and Trash.mbox"
    box = mailbox.mbox(str(path))
    rows = [
        ("Inbox,Important,Category Updates,Opened", "1"),
        ("Archived,Sent,Opened", "1"),
        ("Spam,Unread", "2"),
        ('"Projects/Odoo, 2024",Inbox,Unread', "3"),
        ("Trash,Drafts", "4"),
    ]
    for index, (labels, thread) in enumerate(rows):
        extra = f"X-GM-THRID: 16000000000000000{thread}\r\nX-Gmail-Labels: {labels}\r\n"
        box.add(make_raw(subject=f"takeout {index}", extra=extra))
    box.flush()
    box.close()
    ids = emu.load_mbox(path, ALICE)
    stored = [emu.get_message(ALICE, i) for i in ids]
    assert [m.label_ids for m in stored] == [
        ["INBOX", "IMPORTANT", "CATEGORY_UPDATES"],
        ["SENT"],
        ["SPAM", "UNREAD"],
        ["Label_1", "INBOX", "UNREAD"],
        ["TRASH", "DRAFT"],
    ]
    assert stored[0].thread_id == stored[1].thread_id != stored[2].thread_id
    labels = gmail(ALICE)[0].users().labels().list(userId="me").execute()["labels"]
    user_labels = [label for label in labels if label["type"] == "user"]
    assert user_labels[0]["id"] == "Label_1" and user_labels[0]["name"] == "Projects/Odoo, 2024"
    assert (
        stored[0].internal_date
        == email.utils.parsedate_to_datetime("Mon, 01 Jan 2024 10:00:00 +0000").timestamp() * 1000
    )


def test_send_as_aliases(emu, gmail):
    emu.add_user(ALICE, "Alice Example", aliases=["sales@example.com"])
    send_as = gmail(ALICE)[0].users().settings().sendAs().list(userId="me").execute()["sendAs"]
    assert [a["sendAsEmail"] for a in send_as] == [ALICE, "sales@example.com"]
    assert send_as[0]["isPrimary"] and send_as[0]["displayName"] == "Alice Example"


def test_command_line_serves_eml_dir(tmp_path):
    user_dir = tmp_path / ALICE
    user_dir.mkdir()
    (user_dir / "one.eml").write_bytes(make_raw())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulators.gmail",
            "--port",
            "0",
            "--eml-dir",
            str(tmp_path),
            "--auto-consent",
            "allow",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        info = json.loads(process.stdout.readline())
        assert info["users"] == {ALICE: 1}
        answer = requests.get(
            info["auth_uri"],
            allow_redirects=False,
            timeout=5,
            params={
                "client_id": info["client_id"],
                "redirect_uri": "http://localhost/cb",
                "response_type": "code",
                "scope": "https://mail.google.com/",
                "login_hint": ALICE,
            },
        )
        assert "code=" in answer.headers["Location"]
    finally:
        process.terminate()
        process.wait(timeout=5)
