"""Organisation mode of the Graph emulator: client credentials, admin consent, /users.

What it is: plain pytest (no Odoo) proving that an Entra ID app reads several mailboxes of its
tenant the way Microsoft 365 allows it: msal's ``ConfidentialClientApplication`` with a client
secret or a certificate, application permissions granted (or not) by admin consent, an
application access policy limiting the app to some mailboxes, and ``GET /users`` paging.

How to use it: ``.venv/bin/python -m pytest tests/emulators/test_graph_org.py -p no:odoo``.

Caveats: sessions set ``trust_env = False`` so ``REQUESTS_CA_BUNDLE`` cannot replace the
emulator's CA.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import msal
import pytest
import requests

from emulators import crypto
from emulators.graph import GraphEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "contoso.example"
ANN, BOB, DAN = (f"{name}@{DOMAIN}" for name in ("ann", "bob", "dan"))
CAROL = "carol@fabrikam.example"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]
MAIL_ROLES = ("Mail.Read", "Mail.Send")


def mime(subject, to=ANN):
    return (
        f"From: someone@elsewhere.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
        "Message-ID: <" + subject.replace(" ", "-") + "@elsewhere.example>\r\n\r\nHello\r\n"
    ).encode()


@pytest.fixture
def emu():
    with GraphEmulator() as emulator:
        for upn, name in ((ANN, "Ann Lee"), (BOB, "Bob Stone"), (DAN, "Dan Ray"), (CAROL, "C")):
            emulator.add_user(upn, name)
        yield emulator


@pytest.fixture
def http(emu):
    session = requests.Session()
    session.verify = emu.ca_bundle
    session.trust_env = False
    yield session
    session.close()


def confidential(emu, http, app, credential=None, tenant=None):
    return msal.ConfidentialClientApplication(
        app.client_id,
        client_credential=credential if credential is not None else app.msal_credential(),
        authority=emu.authority(tenant or app.tenant_id),
        instance_discovery=False,
        http_client=http,
    )


def app_token(emu, http, app, **kwargs):
    result = confidential(emu, http, app, **kwargs).acquire_token_for_client(GRAPH_DEFAULT)
    assert "access_token" in result, result
    return result["access_token"]


def claims(token):
    return json.loads(crypto.b64url_decode(token.split(".")[1]))


def get(emu, http, token, path, **kwargs):
    url = path if path.startswith("https://") else emu.graph_base + path
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return http.get(url, headers=headers, **kwargs)


# Client credentials


def test_secret_and_both_certificate_forms_give_an_app_token(emu, http):
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    by_secret = app_token(emu, http, app, credential=app.client_secret)
    by_sha1 = app_token(emu, http, app)  # RS256, x5t
    by_sha256 = app_token(  # PS256, x5t#S256 (msal computes it from the certificate)
        emu,
        http,
        app,
        credential={"private_key": app.private_key_pem, "public_certificate": app.certificate_pem},
    )
    for token in (by_secret, by_sha1, by_sha256):
        assert claims(token)["roles"] == ["Mail.Read", "Mail.Send"]
        assert claims(token)["tid"] == emu.tenant(DOMAIN).id
        assert "scp" not in claims(token)
    by_domain = app_token(emu, http, app, tenant=DOMAIN)
    assert get(emu, http, by_domain, f"/users/{ANN}/mailFolders/inbox").status_code == 200


def test_wrong_secret_unknown_app_and_foreign_certificate_are_refused(emu, http):
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    wrong = confidential(emu, http, app, credential="not-the-secret")
    result = wrong.acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error"] == "invalid_client" and 7000215 in result["error_codes"]

    other = emu.create_app(DOMAIN)
    stolen = {"private_key": other.private_key_pem, "thumbprint": app.thumbprint}
    result = confidential(emu, http, app, credential=stolen).acquire_token_for_client(GRAPH_DEFAULT)
    assert result["error"] == "invalid_client" and 700027 in result["error_codes"]
    assert "did not match" in result["error_description"]

    unknown_key = {"private_key": other.private_key_pem, "thumbprint": other.thumbprint}
    result = confidential(emu, http, app, credential=unknown_key).acquire_token_for_client(
        GRAPH_DEFAULT
    )
    assert 700027 in result["error_codes"] and other.thumbprint in result["error_description"]

    # A single-tenant app does not exist in another tenant.
    result = confidential(emu, http, app, tenant="fabrikam.example").acquire_token_for_client(
        GRAPH_DEFAULT
    )
    assert result["error"] == "unauthorized_client" and 700016 in result["error_codes"]


def test_forged_assertions_are_checked_for_issuer_audience_and_time(emu, http):
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    key = crypto.load_private_key(app.private_key_pem)
    endpoint = f"{emu.authority(app.tenant_id)}/oauth2/v2.0/token"
    x5t = crypto.b64url(bytes.fromhex(app.thumbprint))

    def post(**claim_overrides):
        now = int(time.time())
        body = {"aud": endpoint, "iss": app.client_id, "sub": app.client_id}
        body.update(iat=now, nbf=now, exp=now + 600, jti="x")
        body.update(claim_overrides)
        form = {
            "client_id": app.client_id,
            "grant_type": "client_credentials",
            "scope": GRAPH_DEFAULT[0],
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": crypto.sign_jwt(key, body, {"x5t": x5t}),
        }
        return http.post(endpoint, data=form)

    assert post().status_code == 200
    assert 700021 in post(iss="someone-else").json()["error_codes"]
    assert 700212 in post(aud="https://example.com/token").json()["error_codes"]
    expired = post(exp=1_000_000_000, nbf=999_999_000, iat=999_999_000)
    assert expired.status_code == 401 and 700024 in expired.json()["error_codes"]


# Admin consent and application permissions


def test_without_admin_consent_the_token_has_no_roles_and_graph_refuses(emu, http):
    app = emu.create_app(DOMAIN)
    token = app_token(emu, http, app)
    assert "roles" not in claims(token)
    denied = get(emu, http, token, f"/users/{ANN}/messages")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "AccessDenied"
    assert "roles claim" in denied.json()["error"]["message"]

    emu.grant_consent(DOMAIN, app.client_id, "Mail.Send")
    token = app_token(emu, http, app)
    assert claims(token)["roles"] == ["Mail.Send"]
    read = get(emu, http, token, f"/users/{ANN}/messages")
    assert read.status_code == 403 and read.json()["error"]["code"] == "ErrorAccessDenied"

    emu.grant_consent(DOMAIN, app.client_id, "Mail.Read")
    token = app_token(emu, http, app)
    assert get(emu, http, token, f"/users/{ANN}/messages").status_code == 200
    emu.revoke_consent(DOMAIN, app.client_id, "Mail.Read")
    token = app_token(emu, http, app)
    assert claims(token)["roles"] == ["Mail.Send"]


def test_send_needs_mail_send_and_me_is_for_delegated_tokens_only(emu, http):
    app = emu.create_app(DOMAIN, roles=("Mail.Read",))
    token = app_token(emu, http, app)
    me = get(emu, http, token, "/me/messages")
    assert me.status_code == 400
    assert me.json()["error"]["message"] == (
        "/me request is only valid with delegated authentication flow."
    )
    mail = {
        "message": {
            "subject": "From the firm",
            "body": {"contentType": "Text", "content": "Hi"},
            "toRecipients": [{"emailAddress": {"address": BOB}}],
        }
    }
    headers = {"Authorization": f"Bearer {token}"}
    sent = http.post(f"{emu.graph_base}/users/{ANN}/sendMail", json=mail, headers=headers)
    assert sent.status_code == 403 and sent.json()["error"]["code"] == "ErrorAccessDenied"
    emu.grant_consent(DOMAIN, app.client_id, "Mail.Send")
    headers = {"Authorization": f"Bearer {app_token(emu, http, app)}"}
    sent = http.post(f"{emu.graph_base}/users/{ANN}/sendMail", json=mail, headers=headers)
    assert sent.status_code == 202
    bob_inbox = [emu.message(BOB, i) for i in emu.user(BOB).messages]
    assert any(b"From the firm" in m.raw for m in bob_inbox)


# Several mailboxes


def test_each_user_has_an_own_mailbox_and_other_tenants_are_invisible(emu, http):
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    emu.add_message(ANN, mime("for ann"))
    emu.add_message(BOB, mime("for bob", to=BOB))
    emu.add_message(CAROL, mime("for carol", to=CAROL))
    token = app_token(emu, http, app)
    for upn, subject in ((ANN, "for ann"), (BOB, "for bob")):
        listed = get(emu, http, token, f"/users/{upn}/mailFolders/inbox/messages").json()
        assert [m["subject"] for m in listed["value"]] == [subject]
    by_id = get(emu, http, token, f"/users/{emu.user(BOB).id}/messages").json()
    assert [m["subject"] for m in by_id["value"]] == ["for bob"]
    assert get(emu, http, token, f"/users/{CAROL}/messages").status_code == 404
    assert get(emu, http, token, f"/users/{DAN}/messages").json()["value"] == []

    delta = get(emu, http, token, f"/users/{ANN}/mailFolders/inbox/messages/delta").json()
    assert [m["subject"] for m in delta["value"]] == ["for ann"]
    emu.add_message(ANN, mime("later"))
    emu.add_message(BOB, mime("bob later", to=BOB))
    newer = get(emu, http, token, delta["@odata.deltaLink"]).json()
    assert [m["subject"] for m in newer["value"]] == ["later"]


def test_batch_reads_several_users_mailboxes(emu, http):
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    emu.add_message(ANN, mime("ann one"))
    emu.add_message(BOB, mime("bob one", to=BOB))
    token = app_token(emu, http, app)
    requests_ = [
        {"id": "1", "method": "GET", "url": f"/users/{ANN}/messages?$select=subject"},
        {"id": "2", "method": "GET", "url": f"/users/{BOB}/messages?$select=subject"},
        {"id": "3", "method": "GET", "url": "/me/messages"},
    ]
    answer = http.post(
        f"{emu.graph_base}/$batch",
        json={"requests": requests_},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    by_id = {r["id"]: r for r in answer["responses"]}
    assert by_id["1"]["body"]["value"][0]["subject"] == "ann one"
    assert by_id["2"]["body"]["value"][0]["subject"] == "bob one"
    assert by_id["3"]["status"] == 400


def test_application_access_policy_limits_the_app_to_chosen_mailboxes(emu, http):
    app = emu.create_app(DOMAIN, roles=(*MAIL_ROLES, "User.Read.All"))
    emu.restrict_app(DOMAIN, app.client_id, [ANN])
    token = app_token(emu, http, app)
    assert get(emu, http, token, f"/users/{ANN}/messages").status_code == 200
    blocked = get(emu, http, token, f"/users/{BOB}/messages")
    assert blocked.status_code == 403
    assert blocked.json()["error"]["code"] == "ErrorAccessDenied"
    assert "[RAOP]" in blocked.json()["error"]["message"]
    # The directory is not an Exchange resource: the policy does not hide the user.
    assert get(emu, http, token, f"/users/{BOB}").status_code == 200
    emu.restrict_app(DOMAIN, app.client_id, None)
    assert get(emu, http, token, f"/users/{BOB}/messages").status_code == 200


def test_throttling_is_per_mailbox(emu, http):
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    token = app_token(emu, http, app)
    emu.set_throttle(requests_per_window=2)
    assert get(emu, http, token, f"/users/{ANN}/messages").status_code == 200
    assert get(emu, http, token, f"/users/{ANN}/messages").status_code == 200
    throttled = get(emu, http, token, f"/users/{ANN}/messages")
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    assert get(emu, http, token, f"/users/{BOB}/messages").status_code == 200


# The directory


def test_users_listing_pages_selects_and_needs_user_read_all(emu, http):
    for number in range(5):
        emu.add_user(f"user{number}@{DOMAIN}", f"User {number}")
    app = emu.create_app(DOMAIN, roles=MAIL_ROLES)
    token = app_token(emu, http, app)
    refused = get(emu, http, token, "/users")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"
    one = get(emu, http, token, f"/users/{ANN}")
    assert one.status_code == 403 and one.json()["error"]["code"] == "Authorization_RequestDenied"

    emu.grant_consent(DOMAIN, app.client_id, "User.Read.All")
    token = app_token(emu, http, app)
    page = get(emu, http, token, "/users?$top=3&$select=mail,accountEnabled").json()
    seen = []
    while True:
        assert len(page["value"]) <= 3
        assert all(set(u) == {"id", "mail", "accountEnabled"} for u in page["value"])
        seen += [u["mail"] for u in page["value"]]
        if "@odata.nextLink" not in page:
            break
        page = get(emu, http, token, page["@odata.nextLink"]).json()
    assert seen == sorted(u for u in emu.logins(emu.tenant(DOMAIN)))
    assert CAROL not in seen and len(seen) == 8

    too_big = get(emu, http, token, "/users?$top=1000")
    assert too_big.status_code == 400 and "between 1 and 999" in too_big.json()["error"]["message"]
    default = get(emu, http, token, "/users").json()
    assert len(default["value"]) == 8 and "accountEnabled" not in default["value"][0]


def test_users_filter_endswith_is_an_advanced_query(emu, http):
    emu.add_user("eve@sales.contoso.example", "Eve")
    app = emu.create_app(DOMAIN, roles=("User.Read.All",))
    token = app_token(emu, http, app)
    query = "/users?$filter=endswith(mail,'@contoso.example')"
    plain = get(emu, http, token, query)
    assert plain.status_code == 400
    assert plain.json()["error"]["code"] == "Request_UnsupportedQuery"
    advanced = get(
        emu, http, token, query + "&$count=true", headers={"ConsistencyLevel": "eventual"}
    )
    body = advanced.json()
    assert advanced.status_code == 200 and body["@odata.count"] == 3
    assert {u["mail"] for u in body["value"]} == {ANN, BOB, DAN}
    assert (
        get(emu, http, token, "/users?$filter=startswith(displayName,'Ann')").json()["value"][0][
            "mail"
        ]
        == ANN
    )
    odd = get(emu, http, token, "/users?$filter=jobTitle eq 'x'")
    assert odd.status_code == 400 and "'jobtitle'" in odd.json()["error"]["message"]


def test_delegated_me_flow_still_works_beside_app_tokens(emu, http):
    emu.create_app(DOMAIN, roles=MAIL_ROLES)
    emu.add_message(ANN, mime("mine"))
    token = emu.issue_tokens(ANN)["access_token"]
    assert get(emu, http, token, "/me/messages").json()["value"][0]["subject"] == "mine"
    assert get(emu, http, token, f"/users/{BOB}/messages").status_code == 403


def test_drafts_uploads_and_raw_mime_under_users(emu, http):
    app = emu.create_app(DOMAIN, roles=("Mail.ReadWrite", "Mail.Send"))
    headers = {"Authorization": f"Bearer {app_token(emu, http, app)}"}
    users = f"{emu.graph_base}/users/{BOB}"
    draft = http.post(
        f"{users}/messages",
        json={"subject": "Report", "toRecipients": [{"emailAddress": {"address": ANN}}]},
        headers=headers,
    ).json()
    size = 400 * 1024
    session = http.post(
        f"{users}/messages/{draft['id']}/attachments/createUploadSession",
        json={"AttachmentItem": {"attachmentType": "file", "name": "r.pdf", "size": size}},
        headers=headers,
    ).json()
    data = bytes(range(256)) * (size // 256)
    done = http.put(
        session["uploadUrl"], data=data, headers={"Content-Range": f"bytes 0-{size - 1}/{size}"}
    )
    assert done.status_code == 201
    [attachment] = http.get(f"{users}/messages/{draft['id']}/attachments", headers=headers).json()[
        "value"
    ]
    value = http.get(
        f"{users}/messages/{draft['id']}/attachments/{attachment['id']}/$value", headers=headers
    )
    assert value.content == data
    assert http.post(f"{users}/messages/{draft['id']}/send", headers=headers).status_code == 202
    [sent] = http.get(f"{users}/mailFolders/sentitems/messages", headers=headers).json()["value"]
    raw = http.get(f"{users}/messages/{sent['id']}/$value", headers=headers)
    assert b"Subject: Report" in raw.content
    assert emu.outbox[-1]["from"] == BOB


def test_command_line_writes_an_org_app_that_msal_can_use(tmp_path):
    target = tmp_path / "app.json"
    command = [sys.executable, "-m", "emulators.graph", "--port", "0", "--user", ANN]
    command += ["--user", BOB, "--org-app", str(target)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(process.stdout.readline())
        app = json.loads(target.read_text())
        session = requests.Session()
        session.verify, session.trust_env = info["ca_bundle"], False
        client = msal.ConfidentialClientApplication(
            app["client_id"],
            client_credential={
                "private_key": app["private_key_pem"],
                "thumbprint": app["thumbprint"],
            },
            authority=app["authority"],
            instance_discovery=False,
            http_client=session,
        )
        token = client.acquire_token_for_client(GRAPH_DEFAULT)["access_token"]
        users = session.get(
            info["graph_base"] + "/users", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert {u["mail"] for u in users["value"]} == {ANN, BOB}
    finally:
        process.terminate()
        process.wait(timeout=10)
