"""Tests of the Gmail provider and its OAuth helpers against the Gmail emulator.

What it is: plain pytest (no Odoo) driving ``GmailProvider`` and ``gmail_oauth`` through the
real google-api-python-client, google-auth and requests, against ``emulators.gmail``: consent
and code exchange, backfill pages, byte-exact batch fetch, history scans, sending, and every
error kind (cursor expired, authorisation lost, throttling storms, missing scopes).

How it works: fixtures in ``conftest.py`` start an emulator per test and connect a provider to
it. The provider's ``sleep`` advances the emulator clock, so backoff and quota pacing cost no
real time, and the provider's quota bucket reads the same clock the emulator's quota does.
Real-world response shapes come from ``tests/emulators/data/bugs`` (cases B01, B05, B07, B08).

How to use it: ``python -m pytest tests/providers -p no:odoo -q``.

Caveats: quota storms use a quota scaled down to 600 units a minute, so minutes of virtual time
pass in a second of real time.
"""

import hashlib
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from trail_email_core.provider import (
    ADDED,
    DELETED,
    LABELS_CHANGED,
    SKIP_DRAFT,
    SKIP_SPAM,
    SKIP_TRASH,
    AuthorisationLost,
    CursorExpired,
    Fetched,
    MessageError,
    MessageRef,
    TemporaryError,
)
from trail_email_core.providers import gmail, gmail_errors, gmail_oauth
from trail_email_core.providers.quota import QuotaBucket

from emulators.gmail import wire

BUGS = Path(__file__).resolve().parents[1] / "emulators" / "data" / "bugs"
ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
REDIRECT_URI = "http://localhost:8069/trail/gmail/callback"
DAY = timedelta(days=1)


def make_raw(subject, *, sender=BOB, to=ALICE, body="hello", extra=""):
    unique = hashlib.sha1(f"{subject}|{body}|{extra}".encode()).hexdigest()[:16]
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{unique}@example.com>\r\n"
        f"{extra}\r\n{body}\r\n"
    ).encode()


def load_case(name):
    return json.loads((BUGS / name).read_text())


def endpoints(emu):
    return gmail.GmailEndpoints.at(emu.base_url)


def now(emu):
    return datetime.fromtimestamp(emu.clock.time(), tz=timezone.utc)


# OAuth helpers


def consent(emu, url, decision):
    """Answer the emulator's consent page as a user would; returns the redirect's query."""
    page = requests.get(url, allow_redirects=False, timeout=5)
    assert page.status_code == 200
    consent_id = re.search(r'name="consent" value="([^"]+)"', page.text).group(1)
    user = re.search(r'name="user" id="user" value="([^"]*)"', page.text).group(1)
    answer = requests.post(
        emu.base_url + "o/oauth2/approve",
        data={"consent": consent_id, "user": user, "decision": decision},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert location.netloc + location.path == "localhost:8069/trail/gmail/callback"
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def test_consent_url_code_exchange_and_identity(emu):
    emu.add_user(ALICE, aliases=["advice@firm.example"])
    url = gmail_oauth.authorization_url(
        emu.client_id, REDIRECT_URI, "signed-state", login_hint=ALICE, endpoints=endpoints(emu)
    )
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(emu.auth_uri + "?")
    assert query["scope"] == [" ".join(gmail.SCOPES)]
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["state"] == ["signed-state"] and query["login_hint"] == [ALICE]

    callback = consent(emu, url, "allow")
    assert callback["state"] == "signed-state"
    code = gmail_oauth.code_from_callback(callback)
    grant = gmail_oauth.exchange_code(
        emu.client_id, emu.client_secret, code, REDIRECT_URI, endpoints=endpoints(emu)
    )
    assert grant.refresh_token and grant.access_token
    assert grant.scopes == gmail.SCOPES and grant.missing_scopes == ()
    assert grant.expiry > datetime.now(timezone.utc).replace(tzinfo=None)

    identity = gmail_oauth.read_identity(
        grant, emu.client_id, emu.client_secret, endpoints=endpoints(emu)
    )
    assert identity.address == ALICE and identity.aliases == ("advice@firm.example",)
    methods = emu.stats()[ALICE]["methods"]
    assert methods["gmail.users.getProfile"]["calls"] == 1

    # Codes are single use: a replayed one is a lost authorisation, not a crash.
    with pytest.raises(AuthorisationLost):
        gmail_oauth.exchange_code(
            emu.client_id, emu.client_secret, code, REDIRECT_URI, endpoints=endpoints(emu)
        )
    assert gmail_oauth.revoke_token(grant.refresh_token, endpoints=endpoints(emu))
    provider = gmail.GmailProvider(
        emu.client_id, emu.client_secret, grant.refresh_token, endpoints(emu)
    )
    with pytest.raises(AuthorisationLost):
        provider.current_cursor()


def test_denied_consent_and_configuration_errors(emu):
    emu.add_user(ALICE)
    url = gmail_oauth.authorization_url(
        emu.client_id, REDIRECT_URI, "s1", login_hint=ALICE, endpoints=endpoints(emu)
    )
    callback = consent(emu, url, "deny")
    assert callback == {"error": "access_denied", "state": "s1"}
    with pytest.raises(gmail_oauth.ConsentDenied):
        gmail_oauth.code_from_callback(callback)

    with pytest.raises(gmail.GmailConfigError, match="client id"):
        gmail_oauth.authorization_url("", REDIRECT_URI, "s2")
    with pytest.raises(gmail.GmailConfigError, match="client id"):
        gmail_oauth.exchange_code(None, "secret", "code", REDIRECT_URI)
    code = gmail_oauth.code_from_callback(consent(emu, url, "allow"))
    with pytest.raises(gmail.GmailConfigError, match="invalid_client"):
        gmail_oauth.exchange_code(
            emu.client_id, "wrong-secret", code, REDIRECT_URI, endpoints=endpoints(emu)
        )


# Backfill


def test_backfill_of_nine_years_pages_newest_first_inside_the_window(emu, gmail_provider):
    today = now(emu)
    expected = []
    for i in range(90):
        # One message every ~36 days back over nine years; some in spam, trash or drafts.
        labels = ["SENT"] if i % 4 == 0 else ["INBOX"]
        labels = {3: ["SPAM"], 5: ["TRASH"], 7: ["DRAFT"]}.get(i % 11, labels)
        date = today - i * 36.5 * DAY - timedelta(hours=1)
        message_id = emu.add_message(ALICE, make_raw(f"m{i}", body=f"b{i}"), labels, date)
        if date > today - 7 * 365 * DAY and labels[0] not in ("SPAM", "TRASH", "DRAFT"):
            expected.append(message_id)
    start = today - 7 * 365 * DAY

    provider = gmail_provider(ALICE)
    seen, position, pages = [], None, 0
    while True:
        page = provider.list_window(start, position, page_size=7)
        if pages == 0:
            assert page.estimated_total == len(expected)
        seen += [ref.provider_id for ref in page.refs]
        pages += 1
        position = page.next_position
        if position is None:
            break
        if pages == 3:
            # The engine persists the position; a new provider resumes from it.
            provider = gmail_provider(ALICE)
    assert seen == expected
    assert pages == -(-len(expected) // 7) > 3
    calls = emu.stats()[ALICE]["methods"]["gmail.users.messages.list"]
    assert calls == {"calls": pages, "units": 5 * pages, "rejected": 0}


def test_resumed_page_drops_the_overlap_and_stale_token_is_cursor_expired(emu, gmail_provider):
    base = now(emu) - DAY
    ids = [emu.add_message(ALICE, make_raw(f"o{i}"), ["INBOX"], base - i * DAY) for i in range(6)]
    start = base - 30 * DAY
    provider = gmail_provider(ALICE)
    first = provider.list_window(start, page_size=2)
    assert [ref.provider_id for ref in first.refs] == ids[:2]
    state = json.loads(first.next_position)
    assert state["lastId"] == ids[1]

    # A page that starts with the id the previous page ended on does not repeat it.
    overlapping = json.dumps({**state, "lastId": ids[2]})
    second = provider.list_window(start, overlapping, page_size=3)
    assert [ref.provider_id for ref in second.refs] == ids[3:5]
    assert json.loads(second.next_position)["lastId"] == ids[4]

    stale = json.dumps({"pageToken": "not-a-token", "lastId": ids[2]})
    with pytest.raises(CursorExpired):
        provider.list_window(start, stale, page_size=3)


# Fetch


def test_fetch_is_byte_exact_in_batches_of_at_most_50(emu, gmail_provider):
    raws, ids = [], []
    for i in range(120):
        raw = make_raw(f"size {i}", body="x" * i)
        raws.append(raw)
        ids.append(emu.add_message(ALICE, raw, ["SPAM"] if i == 7 else ["INBOX", "UNREAD"]))
    assert {len(raw) % 3 for raw in raws} == {0, 1, 2}
    provider = gmail_provider(ALICE)
    refs = provider.list_window(now(emu) - 30 * DAY).refs
    spam = MessageRef(ids[7])
    missing = MessageRef("deadbeef")
    emu.reset_stats()

    results = provider.fetch([*refs, spam, missing])

    assert isinstance(results[-1], MessageError) and results[-1].provider_id == "deadbeef"
    assert results[-1].gone, "a 404 means the message is no longer in the mailbox"
    fetched = {result.ref.provider_id: result for result in results[:-1]}
    assert all(isinstance(result, Fetched) for result in fetched.values())
    assert {message_id: fetched[message_id].raw for message_id in ids} == dict(
        zip(ids, raws, strict=True)
    )
    ref = fetched[ids[0]].ref
    stored = emu.get_message(ALICE, ids[0])
    assert ref.labels == ("INBOX", "UNREAD") and ref.thread_id == stored.thread_id
    assert ref.internal_date == datetime.fromtimestamp(stored.internal_date / 1000, timezone.utc)
    assert fetched[ids[7]].ref.skip_reason == SKIP_SPAM
    stats = emu.stats()[ALICE]
    assert stats["batches"] == 3  # 121 parts: 50 + 50 + 21
    assert stats["methods"]["gmail.users.messages.get"]["calls"] == 121


def test_raw_decoding_accepts_padded_and_unpadded_base64url(emu, gmail_provider):
    padded = load_case("07-gmail-raw-padded-base64url.json")["response_body"]
    assert padded["raw"].endswith("=")
    assert len(gmail.decode_base64url(padded["raw"])) == padded["sizeEstimate"] == 134
    unpadded = load_case("08-gmail-attachment-unpadded-base64url.json")["response_body"]
    assert len(gmail.decode_base64url(unpadded["data"])) == unpadded["size"] == 43
    for size in (0, 1, 2, 3, 4, 5):
        data = bytes(range(200, 200 + size))
        text = gmail.encode_base64url(data)
        assert gmail.decode_base64url(text) == gmail.decode_base64url(text.rstrip("=")) == data

    # An unpadded raw through the real batch path still gives the exact bytes.
    raw = make_raw("odd", body="12")
    message_id = emu.add_message(ALICE, raw, ["INBOX"])
    answer = emu.get_message(ALICE, message_id).resource("raw")
    assert answer["raw"].endswith("=")
    answer["raw"] = answer["raw"].rstrip("=")
    emu.inject_errors(r"/messages/" + message_id, [(200, answer, None)])
    (result,) = gmail_provider(ALICE).fetch([MessageRef(message_id)])
    assert result.raw == raw


# Scan


def test_history_reports_additions_label_changes_and_deletions_in_pages(emu, gmail_provider):
    emu.add_message(ALICE, make_raw("before"), ["INBOX"])
    provider = gmail_provider(ALICE)
    provider.history_page_size = 2
    cursor = provider.current_cursor()
    kept = emu.add_message(ALICE, make_raw("kept"), ["INBOX", "UNREAD"])
    junk = emu.add_message(ALICE, make_raw("junk"), ["SPAM"])
    emu.modify_labels(ALICE, kept, add=["STARRED"], remove=["UNREAD"])
    emu.modify_labels(ALICE, kept, add=["TRASH"])
    emu.delete_message(ALICE, junk)

    changes, pages, more = [], 0, True
    while more:
        change_set = provider.list_changes(cursor)
        changes += change_set.changes
        cursor, more = change_set.cursor, change_set.more
        pages += 1
    assert pages == 3
    assert [(c.kind, c.ref.provider_id, c.ref.labels, c.ref.skip_reason) for c in changes] == [
        (ADDED, kept, ("INBOX", "UNREAD"), ""),
        (ADDED, junk, ("SPAM",), SKIP_SPAM),
        (LABELS_CHANGED, kept, ("INBOX",), ""),
        (LABELS_CHANGED, kept, ("INBOX", "STARRED"), ""),
        (LABELS_CHANGED, kept, ("INBOX", "STARRED", "TRASH"), SKIP_TRASH),
        (DELETED, junk, (), ""),
    ]
    assert cursor == provider.current_cursor()
    assert provider.list_changes(cursor).changes == []

    draft = emu.add_message(ALICE, make_raw("draft"), ["DRAFT"])
    (change,) = provider.list_changes(cursor).changes
    assert (change.ref.provider_id, change.ref.skip_reason) == (draft, SKIP_DRAFT)


def test_user_labels_read_by_name_with_one_labels_list(emu, gmail_provider):
    first = emu.add_message(ALICE, make_raw("one"), ["INBOX", "Clients/Smith, Jones"])
    emu.add_message(ALICE, make_raw("two"), ["INBOX", "IMPORTANT", "Clients/Smith, Jones"])
    provider = gmail_provider(ALICE)
    fetched = provider.fetch(provider.list_window(now(emu) - DAY).refs)
    names = [provider.label_names(item.ref.labels) for item in fetched]
    assert sorted(names) == [
        ("INBOX", "Clients/Smith, Jones"),
        ("INBOX", "IMPORTANT", "Clients/Smith, Jones"),
    ]
    # System labels alone never need a call; user labels needed one for both messages.
    assert provider.label_names(("SENT", "CATEGORY_UPDATES")) == ("SENT", "CATEGORY_UPDATES")
    labels_list = emu.stats()[ALICE]["methods"]["gmail.users.labels.list"]
    assert labels_list == {"calls": 1, "units": 1, "rejected": 0}

    # A label made later is read on its first sight, though no more than once a minute.
    emu.modify_labels(ALICE, first, add=["Tax 2025"])
    (ref,) = [item.ref for item in provider.fetch([MessageRef(first)])]
    tax = ref.labels[2]
    # The names were read a moment ago: the new label keeps its id for now.
    assert provider.label_names(ref.labels) == ("INBOX", "Clients/Smith, Jones", tax)
    emu.clock.advance(gmail.LABELS_RETRY_SECONDS)
    assert provider.label_names(ref.labels) == ("INBOX", "Clients/Smith, Jones", "Tax 2025")

    # A renamed label reads right once the names are old.
    smith = ref.labels[1]
    emu.mailbox(ALICE).labels[smith]["name"] = "Clients/Smith"
    assert provider.label_names((smith,)) == ("Clients/Smith, Jones",)
    emu.clock.advance(gmail.LABELS_MAX_AGE_SECONDS)
    assert provider.label_names((smith,)) == ("Clients/Smith",)
    assert emu.stats()[ALICE]["methods"]["gmail.users.labels.list"]["calls"] == 3


def test_label_names_that_cannot_be_read_keep_the_ids(emu, gmail_provider, caplog):
    message = emu.add_message(ALICE, make_raw("one"), ["INBOX", "Family"])
    provider = gmail_provider(ALICE)
    (fetched,) = provider.fetch([MessageRef(message)])
    emu.inject_errors(r"/labels", [(403, {"error": {"code": 403, "message": "no"}}, None)])
    # The level as a number: with Odoo's logging set up, the name "INFO" stands for 25.
    with caplog.at_level(logging.INFO, logger=gmail.__name__):
        assert provider.label_names(fetched.ref.labels) == fetched.ref.labels
    assert fetched.ref.labels[1].startswith("Label_")
    assert "label names could not be read" in caplog.text


def test_expired_history_is_cursor_expired(emu, gmail_provider):
    emu.add_message(ALICE, make_raw("one"), ["INBOX"])
    provider = gmail_provider(ALICE)
    cursor = provider.current_cursor()
    emu.add_message(ALICE, make_raw("two"), ["INBOX"])
    emu.expire_history(ALICE)
    with pytest.raises(CursorExpired):
        provider.list_changes(cursor)

    # The real-world 404 shape (case B01) is read the same way, and is never retried.
    fresh = provider.current_cursor()
    case = load_case("01-gmail-history-404.json")
    emu.inject_errors(r"/history\?", [(404, case["response_body"], None)])
    emu.reset_stats()
    with pytest.raises(CursorExpired):
        provider.list_changes(fresh)
    assert emu.stats()[ALICE]["calls"] == 1
    assert provider.list_changes(fresh).changes == []


# Authorisation


def test_expired_token_is_refreshed_once_and_reported(emu, gmail_provider):
    emu.add_user(ALICE)
    tokens = []
    provider = gmail_provider(ALICE, on_token=lambda token, expiry: tokens.append(expiry))
    emu.expire_tokens(ALICE)
    assert provider.current_cursor().isdigit()
    assert len(tokens) == 1 and tokens[0] > datetime.now(timezone.utc).replace(tzinfo=None)

    # A 401 that survives the refresh means the grant is unusable.
    unauthenticated = wire.ApiError.unauthenticated().body
    emu.inject_errors(r"/profile", [(401, unauthenticated, None)] * 2)
    with pytest.raises(AuthorisationLost):
        provider.current_cursor()
    assert len(tokens) == 2


def test_revoked_grant_is_authorisation_lost_everywhere(emu, gmail_provider):
    message_id = emu.add_message(ALICE, make_raw("a"), ["INBOX"])
    provider = gmail_provider(ALICE)
    cursor = provider.current_cursor()
    emu.revoke(ALICE)
    with pytest.raises(AuthorisationLost):
        provider.list_window(now(emu) - DAY)
    with pytest.raises(AuthorisationLost):
        provider.fetch([MessageRef(message_id)])
    with pytest.raises(AuthorisationLost):
        provider.list_changes(cursor)


def test_missing_scope_is_authorisation_lost_without_retry(emu, gmail_provider):
    message_id = emu.add_message(ALICE, make_raw("a"), ["INBOX"])
    provider = gmail_provider(ALICE, scope=gmail.SEND_SCOPE)
    with pytest.raises(AuthorisationLost, match="permission"):
        provider.list_window(now(emu) - DAY)
    assert emu.stats()[ALICE]["calls"] == 1

    # The same 403 status with the insufficientPermissions reason inside a batch part.
    shape = load_case("05-gmail-403-ratelimit.json")["responses"][3]
    emu.inject_errors(r"/messages/" + message_id, [(403, shape["body"], None)])
    with pytest.raises(AuthorisationLost):
        gmail_provider(ALICE).fetch([MessageRef(message_id)])


# Throttling and quota


def test_errors_are_classified_by_reason_not_status():
    verdicts = [
        gmail_errors.classify(shape["status"], json.dumps(shape["body"]).encode()).verdict
        for shape in load_case("05-gmail-403-ratelimit.json")["responses"]
    ]
    assert verdicts == [
        gmail_errors.THROTTLED,
        gmail_errors.THROTTLED,
        gmail_errors.THROTTLED,
        gmail_errors.AUTH_LOST,
    ]
    daily = wire.error_for_reason(403, "dailyLimitExceeded")
    assert gmail_errors.classify(403, json.dumps(daily)).verdict == gmail_errors.EXHAUSTED
    assert gmail_errors.classify(503, b"<html>").verdict == gmail_errors.UNAVAILABLE
    assert gmail_errors.classify(429, b"", {"retry-after": "7"}).retry_after == 7


def test_storm_of_rate_limits_loses_nothing_and_stays_within_quota(
    emu, gmail_provider, virtual_sleep
):
    limit = 600
    # One request in flight at a time: any overlap would be refused and counted below.
    emu.set_quota(units_per_minute=limit, concurrency_limit=1)
    raws = {}
    for i in range(150):
        raw = make_raw(f"storm {i}", body="y" * i)
        raws[emu.add_message(ALICE, raw, ["INBOX"], now(emu) - i * DAY)] = raw
    shapes = load_case("05-gmail-403-ratelimit.json")["responses"][:3]
    part_storm = [(s["status"], s["body"], None) for s in shapes] * 12
    part_storm += [(429, wire.quota_429(), 3)] * 4
    emu.inject_errors(r"/messages/[0-9a-f]+\?", part_storm)
    emu.inject_errors(r"/messages\?", [(403, wire.rate_limit_403(), None), (429, {}, 2)])
    emu.inject_errors(r"/profile", [(503, wire.error_for_reason(503, "backendError"), None)])
    provider = gmail_provider(ALICE, quota=limit)

    cursor = provider.current_cursor()
    fetched, position = {}, None
    while True:
        page = provider.list_window(now(emu) - 400 * DAY, position, page_size=100)
        for result in provider.fetch(page.refs):
            fetched[result.ref.provider_id] = result.raw
        position = page.next_position
        if position is None:
            break

    assert fetched == raws
    assert provider.list_changes(cursor).changes == []
    stats = emu.stats()[ALICE]
    injected = len(part_storm) + 3
    # Every rejection was scripted: the pacing alone never ran into the emulator's quota.
    assert stats["rejected"] == injected
    gets = stats["methods"]["gmail.users.messages.get"]
    # Only refused parts were sent again; no message was fetched twice.
    assert gets["calls"] - gets["rejected"] == len(raws)
    assert emu.peak_minute_units(ALICE) <= limit
    assert provider.quota.waited_total > 60  # pacing did hold calls back
    assert 3 in virtual_sleep.waits and 2 in virtual_sleep.waits  # Retry-After honoured


def test_throttling_that_does_not_stop_becomes_temporary_error(emu, gmail_provider):
    message_id = emu.add_message(ALICE, make_raw("a"), ["INBOX"])
    provider = gmail_provider(ALICE)
    emu.inject_errors(r"/profile", [(429, wire.quota_429(), 7)] * 10)
    with pytest.raises(TemporaryError) as throttled:
        provider.current_cursor()
    assert throttled.value.retry_after == 7
    emu.clear_failures()

    emu.fail_next(10, 503, "backendError")
    with pytest.raises(TemporaryError):
        provider.current_cursor()
    emu.clear_failures()

    emu.inject_errors(r"/messages/" + message_id, [(403, wire.user_rate_limit_403(), None)] * 10)
    with pytest.raises(TemporaryError) as parts:
        provider.fetch([MessageRef(message_id)])
    assert parts.value.retry_after == gmail_errors.BACKOFF_CAP_SECONDS
    emu.clear_failures()

    emu.inject_errors(r"/profile", [(403, wire.error_for_reason(403, "dailyLimitExceeded"), None)])
    emu.reset_stats()
    with pytest.raises(TemporaryError) as daily:
        provider.current_cursor()
    assert daily.value.retry_after == gmail_errors.DAILY_LIMIT_RETRY_SECONDS
    assert emu.stats()[ALICE]["calls"] == 1


def test_quota_bucket_keeps_every_rolling_window_under_the_limit():
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds

    bucket = QuotaBucket(100, window=60.0, clock=lambda: clock[0], sleep=sleep)
    spends = []
    for units in [30, 5, 40, 25, 5, 50, 1, 100, 5] * 5:
        bucket.spend(units)
        spends.append((clock[0], units))
        clock[0] += 0.5
    for stamp, _ in spends:
        assert sum(u for t, u in spends if stamp - 60.0 < t <= stamp) <= 100
    elapsed = spends[-1][0] - spends[0][0]
    assert elapsed >= 60.0 * (sum(u for _, u in spends) // 100 - 1)
    with pytest.raises(ValueError):
        bucket.spend(101)


# Send


def test_send_lands_in_sent_with_bcc_only_in_the_senders_copy_and_threads(emu, gmail_provider):
    for user in (ALICE, BOB, CAROL):
        emu.add_user(user)
    provider = gmail_provider(ALICE)
    raw = make_raw("Plan", sender=ALICE, to=BOB, extra=f"Bcc: {CAROL}\r\n")

    sent = provider.send(raw)

    assert "SENT" in sent.labels and sent.thread_id == sent.provider_id
    assert emu.get_message(ALICE, sent.provider_id).raw == raw
    for user in (BOB, CAROL):
        (delivered,) = emu.mailbox(user).messages.values()
        assert delivered.raw == raw.replace(f"Bcc: {CAROL}\r\n".encode(), b"")
    message_id = re.search(rb"Message-ID: (<[^>]+>)", raw).group(1).decode()
    reply = make_raw(
        "Re: Plan",
        sender=ALICE,
        to=BOB,
        body="also",
        extra=f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n",
    )
    again = provider.send(reply, thread_id=sent.thread_id)
    assert again.thread_id == sent.thread_id
    assert emu.stats()[ALICE]["methods"]["gmail.users.messages.send"]["units"] == 200


def test_send_is_not_repeated_after_a_server_error(emu, gmail_provider):
    emu.add_user(BOB)
    provider = gmail_provider(ALICE)
    emu.fail_next(1, 500, "backendError")
    with pytest.raises(TemporaryError):
        provider.send(make_raw("once", sender=ALICE, to=BOB))
    assert emu.outbox == []
    emu.fail_next(1, 429, "rateLimitExceeded")
    provider.send(make_raw("once", sender=ALICE, to=BOB))
    assert len(emu.outbox) == 1
