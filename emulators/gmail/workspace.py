"""Google Workspace organisation mode: domains, service accounts, domain-wide delegation.

What it is: the part of Google the emulator needs so that one service account can read the mail
of many users of a domain. A ``Domain`` has users (each with a Gmail mailbox in the emulator),
administrators, a customer id, and the domain-wide delegation table an administrator fills in
the Admin console: service account client id -> OAuth scopes it may use when impersonating.
A ``ServiceAccount`` is the public half of a key Google issued (client email, client id, key id,
RSA public key).

How it works: ``Workspace.jwt_bearer_grant(form)`` answers the token endpoint's
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` the way Google does. It checks, in
Google's order: the assertion parses and names a known key (``kid``) of the ``iss`` account,
the RS256 signature, the audience (Google's token URI, which google-auth always signs for, or
the emulator's), the lifetime (``exp`` after
``iat``, at most one hour, not expired, not issued in the future), the scopes, and then the
subject: ``sub`` must be a user of a registered domain and the account's client id must be
delegated every requested scope in that domain. Without ``sub`` the token belongs to the
service account itself, which has no mailbox. Errors are Google's flat OAuth bodies:
``invalid_grant`` "Invalid JWT Signature." (400), ``invalid_grant`` "Invalid email or User ID"
(400) for an unknown subject, ``unauthorized_client`` "Client is unauthorized to retrieve access
tokens using this method, or client not authorized for any of the scopes requested." (401).

``list_directory_users`` serves Admin SDK Directory ``users.list`` for a token whose user is an
administrator of the customer: ``domain`` or ``customer`` (``my_customer`` or the id) is
required, ``maxResults`` 1..500 (default 100), opaque ``pageToken``, users sorted by primary
email. A token of a non-administrator gets 403 "Not Authorized to access this resource/api",
unless it asks ``viewType=domain_public`` (then only public fields are shown, as in Google).

How to use it: through ``GmailEmulator`` (``add_domain``, ``add_domain_user``,
``create_service_account``, ``delegate``, ``revoke_delegation``, ``set_admin``).

Caveats: delegation takes effect at once (Google may take minutes to hours); one key per
service account; suspended users, groups, org units and ``query`` searches are not modelled.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass, field

from emulators import crypto

from .wire import ApiError, error_body, json_response, oauth_error

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300  # Google tolerates a few minutes of skew on iat
DIRECTORY_READ_SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/cloud-platform",
)
DIRECTORY_PAGE_DEFAULT, DIRECTORY_PAGE_MAX = 100, 500
NOT_AUTHORIZED = "Not Authorized to access this resource/api"
PUBLIC_FIELDS = ("kind", "id", "etag", "primaryEmail", "name", "emails")
UNAUTHORIZED_CLIENT = (
    "Client is unauthorized to retrieve access tokens using this method, or client not "
    "authorized for any of the scopes requested."
)


class GrantError(Exception):
    """A token-endpoint refusal; ``response()`` is Google's flat OAuth error."""

    def __init__(self, status, error, description):
        super().__init__(f"{error}: {description}")
        self.status, self.error, self.description = status, error, description

    def response(self):
        return json_response(self.status, oauth_error(self.error, self.description))


def _invalid_grant(description):
    return GrantError(400, "invalid_grant", description)


@dataclass
class ServiceAccount:
    client_email: str
    client_id: str
    project_id: str
    key_id: str
    public_key: object
    disabled: bool = False


@dataclass
class DomainUser:
    email: str
    id: str
    given_name: str = ""
    family_name: str = ""
    admin: bool = False

    def resource(self, customer_id):
        full = " ".join(p for p in (self.given_name, self.family_name) if p) or self.email
        return {
            "kind": "admin#directory#user",
            "id": self.id,
            "etag": '"' + hashlib.sha1(self.email.encode()).hexdigest() + '"',
            "primaryEmail": self.email,
            "name": {
                "givenName": self.given_name,
                "familyName": self.family_name,
                "fullName": full,
            },
            "isAdmin": self.admin,
            "isDelegatedAdmin": False,
            "agreedToTerms": True,
            "suspended": False,
            "archived": False,
            "changePasswordAtNextLogin": False,
            "ipWhitelisted": False,
            "emails": [{"address": self.email, "primary": True}],
            "customerId": customer_id,
            "orgUnitPath": "/",
            "isMailboxSetup": True,
            "includeInGlobalAddressList": True,
        }


@dataclass
class Domain:
    name: str
    customer_id: str
    users: dict = field(default_factory=dict)  # lower-case email -> DomainUser
    delegations: dict = field(default_factory=dict)  # client id -> set of scopes


class Workspace:
    def __init__(self, token_audiences):
        self.token_audiences = token_audiences  # callable -> URIs accepted as ``aud``
        self.domains = {}
        self.accounts = {}  # client email -> ServiceAccount

    # Set-up (called by the emulator under its lock)

    def add_domain(self, name, customer_id=None):
        name = name.lower()
        if name not in self.domains:
            customer = customer_id or "C0" + secrets.token_hex(4)
            self.domains[name] = Domain(name, customer)
        return self.domains[name]

    def domain_of(self, email):
        return self.domains.get(email.lower().rpartition("@")[2])

    def user(self, email):
        domain = self.domain_of(email)
        return domain.users.get(email.lower()) if domain else None

    def add_user(self, email, given_name="", family_name="", admin=False):
        email = email.lower()
        domain = self.add_domain(email.rpartition("@")[2])
        user = domain.users.get(email)
        if user is None:
            user_id = str(int(hashlib.sha256(email.encode()).hexdigest(), 16))[:21]
            user = domain.users[email] = DomainUser(email, user_id)
        user.given_name = given_name or user.given_name
        user.family_name = family_name or user.family_name
        user.admin = admin or user.admin
        return user

    def register(self, account):
        self.accounts[account.client_email.lower()] = account

    def delegate(self, client_id, domain, scopes):
        target = self.add_domain(domain)
        target.delegations.setdefault(client_id, set()).update(scopes)

    def revoke_delegation(self, client_id, domain, scopes=None):
        target = self.domains.get(domain.lower())
        if target is None or client_id not in target.delegations:
            return
        if scopes is None:
            del target.delegations[client_id]
        else:
            target.delegations[client_id].difference_update(scopes)

    # Token endpoint

    def jwt_bearer_grant(self, form):
        """(user email, client id, scope) for a valid assertion; raises ``GrantError``."""
        try:
            header, claims, signing_input, signature = crypto.decode_signed_jwt(
                form.get("assertion", "")
            )
        except crypto.MalformedJwt:
            raise _invalid_grant("Invalid JWT: Malformed JWT.") from None
        account = self.accounts.get(str(claims.get("iss", "")).lower())
        if account is None or account.disabled:
            raise _invalid_grant("Invalid grant: account not found")
        if header.get("kid") not in (None, account.key_id):
            raise _invalid_grant("Invalid JWT Signature.")
        if header.get("alg") != "RS256" or not crypto.verify_signature(
            account.public_key, "RS256", signing_input, signature
        ):
            raise _invalid_grant("Invalid JWT Signature.")
        self._check_audience(claims)
        self._check_lifetime(claims)
        scope = str(claims.get("scope") or "").strip()
        if not scope:
            raise GrantError(
                400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
            )
        subject = str(claims.get("sub") or "").lower()
        if not subject or subject == account.client_email.lower():
            return account.client_email.lower(), account.client_id, scope
        domain = self.domain_of(subject)
        if domain is None or subject not in domain.users:
            raise _invalid_grant("Invalid email or User ID")
        if not set(scope.split()) <= domain.delegations.get(account.client_id, set()):
            raise GrantError(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
        return subject, account.client_id, scope

    def _check_audience(self, claims):
        audiences = list(self.token_audiences())
        if claims.get("aud") not in audiences:
            right = audiences[0] if audiences else ""
            raise _invalid_grant(
                f"Invalid JWT: Failed audience check. The right audience is {right}"
            )

    @staticmethod
    def _check_lifetime(claims):
        # The client signs with its own wall clock, which ``Clock.advance`` does not move.
        now = time.time()
        try:
            issued, expires = int(claims["iat"]), int(claims["exp"])
        except (KeyError, TypeError, ValueError):
            issued = expires = None
        if (
            issued is None
            or expires <= issued
            or expires - issued > MAX_ASSERTION_LIFETIME
            or issued > now + CLOCK_SKEW
            or expires < now - CLOCK_SKEW
        ):
            raise _invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
                "timeframe. Check your iat and exp values in the JWT claim."
            )

    # Admin SDK Directory

    def list_directory_users(self, access, params):
        """The users.list resource for the caller ``access`` (an oauth AccessToken)."""
        if not access.scopes & set(DIRECTORY_READ_SCOPES):
            raise ApiError.insufficient_permissions()
        caller = self.user(access.user)
        # Any user of the customer may read the public view; the admin view is for admins.
        public = params.get("viewType") == "domain_public"
        if caller is None or not (caller.admin or public):
            raise ApiError(403, error_body(403, NOT_AUTHORIZED, "forbidden", status=""))
        customer_id = self.domain_of(access.user).customer_id
        domains = self._listed_domains(customer_id, params)
        size = params.get("maxResults", DIRECTORY_PAGE_DEFAULT)
        if not 1 <= size <= DIRECTORY_PAGE_MAX:
            raise ApiError(
                400,
                error_body(
                    400,
                    f"Invalid value '{size}'. Values must be within the range: "
                    f"[1, {DIRECTORY_PAGE_MAX}]",
                    "invalid",
                ),
            )
        users = sorted((u for d in domains for u in d.users.values()), key=lambda user: user.email)
        after = ""
        if params.get("pageToken"):
            try:
                after = crypto.b64url_decode(params["pageToken"]).decode()
            except (ValueError, UnicodeDecodeError):
                after = None
            if not after:
                raise ApiError(400, error_body(400, "Invalid Input: pageToken", "invalid"))
        remaining = [u for u in users if u.email > after]
        page = remaining[:size]
        result = {
            "kind": "admin#directory#users",
            "etag": '"' + secrets.token_hex(8) + '"',
            "users": [self._view(u.resource(customer_id), public) for u in page],
        }
        if len(remaining) > size:
            result["nextPageToken"] = crypto.b64url(page[-1].email.encode())
        return result

    @staticmethod
    def _view(resource, public):
        if not public:
            return resource
        return {k: v for k, v in resource.items() if k in PUBLIC_FIELDS}

    def _listed_domains(self, customer_id, params):
        if params.get("domain"):
            domain = self.domains.get(params["domain"].lower())
            if domain is None or domain.customer_id != customer_id:
                raise ApiError(403, error_body(403, NOT_AUTHORIZED, "forbidden", status=""))
            return [domain]
        customer = params.get("customer")
        if not customer:
            raise ApiError(400, error_body(400, "Bad Request", "badRequest", status=""))
        if customer not in ("my_customer", customer_id):
            raise ApiError(403, error_body(403, NOT_AUTHORIZED, "forbidden", status=""))
        return [d for d in self.domains.values() if d.customer_id == customer_id]


def new_client_id():
    """A 21-digit numeric OAuth client id, as Google gives service accounts."""
    return "1" + "".join(str(secrets.randbelow(10)) for _ in range(20))


def service_account_key(emulator_base_url, name, project_id, key, client_id, key_id):
    """The JSON key dict Google's console downloads, with URIs pointing at the emulator."""
    client_email = f"{name}@{project_id}.iam.gserviceaccount.com"
    base = emulator_base_url.rstrip("/")
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": crypto.private_key_pem(key),
        "client_email": client_email,
        "client_id": client_id,
        "auth_uri": f"{base}/o/oauth2/auth",
        "token_uri": f"{base}/token",
        "auth_provider_x509_cert_url": f"{base}/oauth2/v1/certs",
        "client_x509_cert_url": f"{base}/robot/v1/metadata/x509/"
        + client_email.replace("@", "%40"),
        "universe_domain": "googleapis.com",
    }
