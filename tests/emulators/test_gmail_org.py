"""Organisation mode of the Gmail emulator: service accounts with domain-wide delegation.

What it is: plain pytest (no Odoo) proving that a Google Workspace service account reaches the
mailboxes of its domain the way Google allows it, through the real clients: google-auth's
``service_account.Credentials(..., subject=...)`` for the JWT bearer grant, and
google-api-python-client for Gmail and the Admin SDK Directory API.

How to use it: ``.venv/bin/python -m pytest tests/emulators/test_gmail_org.py -p no:odoo``.

Caveats: assertions that google-auth would never sign (expired, wrong audience, foreign key) are
forged with ``emulators.crypto.sign_jwt`` and posted with ``requests``.
"""

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import requests

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from google.auth.exceptions import RefreshError
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account
    from googleapiclient.discovery import build
    from googleapiclient.errors import HttpError

from emulators import crypto
from emulators.gmail import GmailEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "acme.example"
ANN, BOB, DAN = (f"{name}@{DOMAIN}" for name in ("ann", "bob", "dan"))
OUTSIDER = "eve@other.example"
GMAIL = "https://mail.google.com/"
GMAIL_READ = "https://www.googleapis.com/auth/gmail.readonly"
DIRECTORY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def mime(subject, to):
    return (
        f"From: client@elsewhere.example\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello\r\n"
    ).encode()


@pytest.fixture
def emu():
    with GmailEmulator(client_id="test-client", client_secret="test-secret") as emulator:
        emulator.add_domain_user(ANN, "Ann Lee", admin=True)
        emulator.add_domain_user(BOB, "Bob Ray")
        emulator.add_domain_user(DAN, "Dan Moss")
        emulator.add_domain_user(OUTSIDER, "Eve Out", admin=True)
        yield emulator


@pytest.fixture
def key(emu):
    return emu.create_service_account(domain=DOMAIN, scopes=[GMAIL, GMAIL_READ, DIRECTORY])


def credentials(key, subject, scopes=(GMAIL,)):
    return service_account.Credentials.from_service_account_info(
        key, scopes=list(scopes), subject=subject
    )


def service(emu, creds, api="gmail", version="v1"):
    return build(
        api,
        version,
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emu.base_url},
    )


def refresh_error(creds):
    with pytest.raises(RefreshError) as caught:
        creds.refresh(Request())
    return caught.value.args[1]


# The key file and the grant


def test_the_key_dict_is_shaped_like_googles(emu, key):
    assert key["type"] == "service_account"
    assert key["client_email"] == "trail-sync@trail-project.iam.gserviceaccount.com"
    assert key["client_id"].isdigit() and len(key["client_id"]) == 21
    assert len(key["private_key_id"]) == 40
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert key["token_uri"] == emu.token_uri
    for name in ("project_id", "auth_uri", "auth_provider_x509_cert_url", "client_x509_cert_url"):
        assert key[name]


def test_impersonated_token_reads_only_that_users_mailbox(emu, key):
    emu.add_message(ANN, mime("for ann", ANN))
    emu.add_message(BOB, mime("for bob", BOB))
    bob = service(emu, credentials(key, BOB))
    [ref] = bob.users().messages().list(userId="me").execute()["messages"]
    got = bob.users().messages().get(userId=BOB, id=ref["id"], format="metadata").execute()
    headers = {h["name"]: h["value"] for h in got["payload"]["headers"]}
    assert headers["Subject"] == "for bob"
    assert bob.users().getProfile(userId="me").execute()["emailAddress"] == BOB
    with pytest.raises(HttpError) as denied:
        bob.users().messages().list(userId=ANN).execute()
    assert denied.value.resp.status == 403

    ann = service(emu, credentials(key, ANN))
    listed = ann.users().messages().list(userId="me").execute()["messages"]
    assert [m["id"] for m in listed] != [ref["id"]] and len(listed) == 1


def test_mailboxes_keep_their_own_history_and_quota(emu, key):
    bob = service(emu, credentials(key, BOB))
    dan = service(emu, credentials(key, DAN))
    start = bob.users().getProfile(userId="me").execute()["historyId"]
    emu.add_message(BOB, mime("new for bob", BOB))
    dan_start = dan.users().getProfile(userId="me").execute()["historyId"]
    history = bob.users().history().list(userId="me", startHistoryId=start).execute()
    assert len(history["history"]) == 1
    assert (
        "history" not in dan.users().history().list(userId="me", startHistoryId=dan_start).execute()
    )
    emu.clock.advance(61)  # a fresh quota minute for everyone
    emu.set_quota(units_per_minute=10)
    bob.users().messages().list(userId="me").execute()  # 5 units
    bob.users().messages().list(userId="me").execute()  # 10 units: the budget is spent
    with pytest.raises(HttpError) as limited:
        bob.users().messages().list(userId="me").execute()
    assert limited.value.resp.status == 429
    assert dan.users().messages().list(userId="me").execute()["resultSizeEstimate"] == 0


def test_narrower_scopes_are_enforced_on_the_impersonated_token(emu, key):
    reader = service(emu, credentials(key, BOB, scopes=(GMAIL_READ,)))
    raw = crypto.b64url(mime("out", "x@elsewhere.example"))
    with pytest.raises(HttpError) as refused:
        reader.users().messages().send(userId="me", body={"raw": raw}).execute()
    assert refused.value.resp.status == 403


# Consent problems, as Google words them


def test_missing_delegation_is_unauthorized_client(emu, key):
    emu.revoke_delegation(key["client_id"], DOMAIN, [GMAIL])
    body = refresh_error(credentials(key, BOB))
    assert body["error"] == "unauthorized_client"
    assert body["error_description"] == (
        "Client is unauthorized to retrieve access tokens using this method, or client not "
        "authorized for any of the scopes requested."
    )
    # The scopes still delegated keep working; all of them must be.
    credentials(key, BOB, scopes=(GMAIL_READ,)).refresh(Request())
    both = credentials(key, BOB, scopes=(GMAIL_READ, GMAIL))
    assert refresh_error(both)["error"] == "unauthorized_client"
    emu.delegate(key["client_id"], DOMAIN, [GMAIL])
    credentials(key, BOB).refresh(Request())


def test_unknown_or_foreign_subject_is_invalid_grant(emu, key):
    body = refresh_error(credentials(key, f"nobody@{DOMAIN}"))
    assert body == {"error": "invalid_grant", "error_description": "Invalid email or User ID"}
    assert refresh_error(credentials(key, "someone@gmail.example"))["error"] == "invalid_grant"
    # A real user of a domain that never delegated anything to this client.
    assert refresh_error(credentials(key, OUTSIDER))["error"] == "unauthorized_client"


def test_a_key_google_does_not_know_has_an_invalid_signature(emu, key):
    other = emu.create_service_account(name="other", domain=DOMAIN)
    forged = dict(key, private_key=other["private_key"])
    body = refresh_error(credentials(forged, BOB))
    assert body == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    emu.disable_service_account(key["client_email"])
    assert refresh_error(credentials(key, BOB))["error"] == "invalid_grant"


def test_lifetime_and_audience_of_the_assertion_are_checked(emu, key):
    signer = crypto.load_private_key(key["private_key"])

    def grant(**overrides):
        now = int(time.time())
        claims = {
            "iss": key["client_email"],
            "scope": GMAIL,
            "aud": "https://oauth2.googleapis.com/token",
            "iat": now,
            "exp": now + 3600,
            "sub": BOB,
        }
        claims.update(overrides)
        assertion = crypto.sign_jwt(signer, claims, {"kid": key["private_key_id"]})
        form = {"grant_type": JWT_BEARER, "assertion": assertion}
        return requests.post(emu.token_uri, data=form, timeout=10)

    good = grant()
    assert good.status_code == 200 and "refresh_token" not in good.json()
    assert grant(aud=emu.token_uri).status_code == 200
    now = int(time.time())
    too_long = grant(iat=now, exp=now + 7200)
    assert too_long.status_code == 400 and "short-lived" in too_long.json()["error_description"]
    expired = grant(iat=now - 7200, exp=now - 3700)
    assert expired.json()["error"] == "invalid_grant"
    audience = grant(aud="https://example.com/token").json()
    assert "Failed audience check" in audience["error_description"]
    unsigned = requests.post(
        emu.token_uri, data={"grant_type": JWT_BEARER, "assertion": "a.b"}, timeout=10
    )
    assert unsigned.status_code == 400 and unsigned.json()["error"] == "invalid_grant"


def test_without_subject_the_service_account_has_no_mailbox(emu, key):
    own = service(emu, credentials(key, None))
    with pytest.raises(HttpError) as failed:
        own.users().getProfile(userId="me").execute()
    assert failed.value.resp.status == 400
    assert b"Precondition check failed." in failed.value.content


# The Directory API


def test_directory_lists_the_domain_users_page_by_page(emu, key):
    for number in range(4):
        emu.add_domain_user(f"user{number}@{DOMAIN}")
    directory = service(emu, credentials(key, ANN, (DIRECTORY,)), "admin", "directory_v1")
    seen, token = [], None
    while True:
        page = (
            directory.users().list(customer="my_customer", maxResults=3, pageToken=token).execute()
        )
        assert page["kind"] == "admin#directory#users" and len(page["users"]) <= 3
        seen += [u["primaryEmail"] for u in page["users"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == sorted([ANN, BOB, DAN] + [f"user{n}@{DOMAIN}" for n in range(4)])
    by_domain = directory.users().list(domain=DOMAIN).execute()["users"]
    assert len(by_domain) == 7 and OUTSIDER not in {u["primaryEmail"] for u in by_domain}
    ann = next(u for u in by_domain if u["primaryEmail"] == ANN)
    assert ann["isAdmin"] is True and ann["name"]["fullName"] == "Ann Lee"


def test_directory_refusals(emu, key):
    admin_api = service(emu, credentials(key, ANN, (DIRECTORY,)), "admin", "directory_v1")
    with pytest.raises(HttpError) as too_many:
        admin_api.users().list(customer="my_customer", maxResults=501).execute()
    assert too_many.value.resp.status == 400
    with pytest.raises(HttpError) as neither:
        admin_api.users().list().execute()
    assert neither.value.resp.status == 400
    with pytest.raises(HttpError) as foreign:
        admin_api.users().list(domain="other.example").execute()
    assert foreign.value.resp.status == 403

    member = service(emu, credentials(key, BOB, (DIRECTORY,)), "admin", "directory_v1")
    with pytest.raises(HttpError) as not_admin:
        member.users().list(customer="my_customer").execute()
    assert not_admin.value.resp.status == 403
    assert b"Not Authorized to access this resource/api" in not_admin.value.content
    public = member.users().list(domain=DOMAIN, viewType="domain_public").execute()["users"]
    assert len(public) == 3 and all("isAdmin" not in u for u in public)
    emu.set_admin(BOB)
    assert member.users().list(customer="my_customer").execute()["users"]

    mail_only = service(emu, credentials(key, ANN, (GMAIL,)), "admin", "directory_v1")
    with pytest.raises(HttpError) as scope:
        mail_only.users().list(customer="my_customer").execute()
    assert scope.value.resp.status == 403
    assert b"insufficient authentication scopes" in scope.value.content


def test_user_consent_flow_still_works_beside_the_domain(emu):
    tokens = emu.issue_tokens(BOB)
    assert emu.oauth.authenticate(tokens["access_token"]).user == BOB


def test_command_line_writes_a_delegated_service_account_key(tmp_path):
    target = tmp_path / "key.json"
    command = [sys.executable, "-m", "emulators.gmail", "--port", "0", "--domain-user", BOB]
    command += ["--admin", ANN, "--service-account-key", str(target)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        key = json.loads(target.read_text())
        assert key["token_uri"] == info["token_uri"]
        creds = credentials(key, ANN, (GMAIL, DIRECTORY))
        directory = build(
            "admin",
            "directory_v1",
            credentials=creds,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": info["base_url"]},
        )
        listed = directory.users().list(customer="my_customer").execute()["users"]
        assert {u["primaryEmail"] for u in listed} == {ANN, BOB}
    finally:
        process.terminate()
        process.wait(timeout=10)
