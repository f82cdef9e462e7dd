"""Tests of core/providers/gmail_org.py and graph_org.py, the Odoo-free organisation helpers.

Plain pytest functions against the emulators, collected by ``./dev test``'s pytest run (with
pytest-odoo, which imports the addon's test package). Odoo's own test loader only runs TestCase
classes, so it ignores them. The helpers are loaded from the ``core`` folder as
``trail_email_core`` (as ``tests/providers`` does), so they run without Odoo's registry.
"""

import base64
import importlib
import importlib.util
import json
import sys
import warnings
from datetime import datetime
from pathlib import Path

import pytest

CORE_DIR = Path(__file__).resolve().parents[1] / "core"
CORE_PACKAGE = "trail_email_core"
REPO_ROOT = CORE_DIR.parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def _load(name):
    if CORE_PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            CORE_PACKAGE, CORE_DIR / "__init__.py", submodule_search_locations=[str(CORE_DIR)]
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[CORE_PACKAGE] = module
        spec.loader.exec_module(module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return importlib.import_module(f"{CORE_PACKAGE}.{name}")


gmail_org = _load("providers.gmail_org")
gmail_wire = _load("providers.gmail_wire")
graph_org = _load("providers.graph_org")
graph_wire = _load("providers.graph_wire")
graph_errors = _load("providers.graph_errors")
provider = _load("provider")

from emulators import crypto  # noqa: E402
from emulators.gmail import GmailEmulator  # noqa: E402
from emulators.graph import GraphEmulator  # noqa: E402

DOMAIN = "firm.example"


def jwt(claims):
    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


# Google


@pytest.fixture
def workspace():
    with GmailEmulator() as emulator:
        emulator.add_domain_user("ann@firm.example", "Ann Archer")
        emulator.add_domain_user("it@firm.example", "It Admin", admin=True)
        yield emulator


def test_parse_key_refuses_what_is_not_a_service_account_key(workspace):
    key = workspace.create_service_account()
    assert gmail_org.parse_key(json.dumps(key))["client_id"] == key["client_id"]
    with pytest.raises(gmail_wire.GmailConfigError, match="not valid JSON"):
        gmail_org.parse_key("{")
    with pytest.raises(gmail_wire.GmailConfigError, match="not a service-account key"):
        gmail_org.parse_key(json.dumps({"type": "authorized_user"}))
    with pytest.raises(gmail_wire.GmailConfigError, match="private_key") as caught:
        gmail_org.parse_key(json.dumps(dict(key, private_key="")))
    assert caught.value.reason == gmail_org.KEY_INCOMPLETE
    assert caught.value.facts == {"fields": ("private_key",)}
    broken = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    with pytest.raises(gmail_wire.GmailConfigError, match="Could not deserialize") as caught:
        gmail_org.parse_key(json.dumps(dict(key, private_key=broken)))
    assert caught.value.reason == gmail_org.KEY_UNREADABLE
    described = gmail_org.describe_key(key)
    assert key["client_email"] in described
    assert key["private_key_id"][-4:] in described
    assert key["private_key_id"] not in described


def test_missing_delegation_names_each_scope_refused(workspace):
    endpoints = gmail_wire.GmailEndpoints.at(workspace.base_url)
    key = workspace.create_service_account(domain=DOMAIN, scopes=gmail_wire.SCOPES)
    assert gmail_org.missing_delegation(key, "ann@firm.example", endpoints) == ()

    workspace.revoke_delegation(key["client_id"], DOMAIN, [gmail_wire.READONLY_SCOPE])
    scopes = gmail_wire.SCOPES + (gmail_org.DIRECTORY_SCOPE,)
    missing = gmail_org.missing_delegation(key, "ann@firm.example", endpoints, scopes)
    assert missing == (gmail_wire.READONLY_SCOPE, gmail_org.DIRECTORY_SCOPE)

    with pytest.raises(provider.AuthorisationLost, match=r"nobody@firm\.example") as caught:
        gmail_org.missing_delegation(key, "nobody@firm.example", endpoints)
    assert caught.value.reason == gmail_org.DELEGATION_REFUSED
    assert caught.value.facts["code"] == "invalid_grant"
    assert caught.value.facts["client_id"] == key["client_id"]


def test_a_delegated_provider_reads_the_users_own_mailbox(workspace):
    endpoints = gmail_wire.GmailEndpoints.at(workspace.base_url)
    key = workspace.create_service_account(domain=DOMAIN, scopes=gmail_wire.SCOPES)
    message_id = workspace.add_message("ann@firm.example", b"Subject: hi\r\n\r\nHello\r\n")
    ann = gmail_org.delegated_provider(key, "ann@firm.example", endpoints)
    assert ann.identity().address == "ann@firm.example"
    page = ann.list_window(datetime(2000, 1, 1))
    assert [ref.provider_id for ref in page.refs] == [message_id]


def test_directory_users_needs_an_administrator(workspace):
    endpoints = gmail_wire.GmailEndpoints.at(workspace.base_url)
    key = workspace.create_service_account(
        domain=DOMAIN, scopes=gmail_wire.SCOPES + (gmail_org.DIRECTORY_SCOPE,)
    )
    users = gmail_org.directory_users(key, "it@firm.example", DOMAIN, endpoints, workspace.base_url)
    assert [user["email"] for user in users] == ["ann@firm.example", "it@firm.example"]
    assert users[0]["name"] == "Ann Archer"
    with pytest.raises(provider.AuthorisationLost) as caught:
        gmail_org.directory_users(key, "ann@firm.example", DOMAIN, endpoints, workspace.base_url)
    assert caught.value.reason == gmail_org.DIRECTORY_REFUSED
    assert caught.value.facts["admin"] == "ann@firm.example"


# Microsoft


def test_certificate_thumbprint_is_the_sha1_entra_shows():
    key = crypto.new_private_key()
    pem, sha1, _sha256 = crypto.self_signed_certificate(key, "trail")
    assert graph_org.certificate_thumbprint(pem) == sha1
    with pytest.raises(graph_wire.GraphConfigError):
        graph_org.certificate_thumbprint(crypto.private_key_pem(key))


def test_app_credential_is_a_secret_or_a_certificate():
    assert graph_org.app_credential(secret="s3cret") == "s3cret"
    key = crypto.private_key_pem(crypto.new_private_key())
    credential = graph_org.app_credential(private_key=key, thumbprint="ab:cd")
    assert credential == {"private_key": key, "thumbprint": "ABCD"}
    with pytest.raises(graph_wire.GraphConfigError, match="thumbprint"):
        graph_org.app_credential(private_key=key)
    with pytest.raises(graph_wire.GraphConfigError):
        graph_org.app_credential()
    with pytest.raises(graph_wire.GraphConfigError, match="one tenant") as caught:
        graph_org.app_token_source("id", "secret", "common", graph_wire.GraphEndpoints())
    assert caught.value.reason == graph_org.TENANT_NEEDED
    broken = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    with pytest.raises(graph_wire.GraphConfigError) as caught:
        graph_org.app_credential(private_key=broken, thumbprint="AB")
    assert caught.value.reason == graph_org.PRIVATE_KEY_UNREADABLE


def test_token_roles_reads_the_claim_or_says_it_cannot():
    assert graph_org.token_roles(jwt({"roles": ["Mail.Read"]})) == {"Mail.Read"}
    assert graph_org.token_roles(jwt({"tid": "x"})) == frozenset()
    assert graph_org.token_roles("opaque-token") is None


@pytest.fixture
def tenant():
    with GraphEmulator() as emulator:
        for upn in ("ann@contoso.example", "ben@contoso.example"):
            emulator.add_user(upn)
        yield emulator


def tokens_for(emulator, app, credential=None):
    endpoints = graph_wire.GraphEndpoints.at(emulator.authority_base, emulator.ca_bundle)
    tokens = graph_org.app_token_source(
        app.client_id, credential or app.client_secret, app.tenant_id, endpoints
    )
    return tokens, endpoints


def test_check_access_reports_missing_consent_and_blocked_mailboxes(tenant):
    app = tenant.create_app("contoso.example", roles=("Mail.Read",))
    tokens, endpoints = tokens_for(tenant, app)
    report = graph_org.check_access(tokens, endpoints, probe_user="ann@contoso.example")
    assert report.missing == ("Mail.Send",)
    assert not report.problems
    assert not report.directory

    tenant.restrict_app(app.tenant_id, app.client_id, ["ben@contoso.example"])
    report = graph_org.check_access(tokens, endpoints, probe_user="ann@contoso.example")
    assert "ann@contoso.example" in str(report.problems[0])
    assert report.problems[0].reason == graph_org.MAILBOX_REFUSED
    assert report.problems[0].facts == {"user": "ann@contoso.example", "code": "ErrorAccessDenied"}


def test_check_access_signs_in_with_a_certificate_and_lists_users(tenant):
    app = tenant.create_app("contoso.example", roles=("Mail.Read", "Mail.Send", "User.Read.All"))
    tokens, endpoints = tokens_for(tenant, app, app.msal_credential())
    report = graph_org.check_access(tokens, endpoints, probe_user="ben@contoso.example")
    assert report.ok and report.directory
    emails = {user["email"] for user in graph_org.tenant_users(tokens, endpoints)}
    assert {"ann@contoso.example", "ben@contoso.example"} <= emails

    wrong, _endpoints = tokens_for(tenant, app, "not-the-secret")
    report = graph_org.check_access(wrong, endpoints)
    assert report.problems[0].reason == graph_org.CREDENTIAL_REFUSED
    assert report.problems[0].facts["code"] == "AADSTS7000215"
    assert "invalid_client" in str(report.problems[0])


def test_a_refused_sign_in_names_the_tenant_or_the_application(tenant):
    app = tenant.create_app("contoso.example", roles=("Mail.Read", "Mail.Send"))
    endpoints = graph_wire.GraphEndpoints.at(tenant.authority_base, tenant.ca_bundle)
    unknown = graph_org.app_token_source(
        app.client_id, app.client_secret, "nowhere.example", endpoints
    )
    with pytest.raises(provider.AuthorisationLost) as caught:
        unknown.token()
    assert caught.value.reason == graph_errors.TENANT_UNKNOWN
    stranger = graph_org.app_token_source("nope", app.client_secret, app.tenant_id, endpoints)
    with pytest.raises(provider.AuthorisationLost) as caught:
        stranger.token()
    assert caught.value.reason == graph_org.APP_UNKNOWN
    assert caught.value.facts["code"] == "AADSTS700016"
