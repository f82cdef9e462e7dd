"""``GET /v1.0/users``: the tenant's user list, as Microsoft Graph pages and filters it.

What it is: the directory listing an organisation-mode client uses to pick the mailboxes it
reads. It answers an app-only token holding ``User.Read.All`` (or ``User.ReadBasic.All`` /
``Directory.Read.All``) and a delegated token holding ``User.ReadBasic.All`` / ``User.Read.All``
with the users of the token's tenant, sorted by user principal name.

How it works: ``$top`` is 1..999 (default 100; outside that Graph's 400
``Request_BadRequest``); more users than a page give an ``@odata.nextLink`` carrying an opaque
``$skiptoken``. ``$select`` keeps the named properties (``id`` always stays, as in Graph).
``$filter`` understands ``endswith(prop,'text')``, ``startswith(prop,'text')`` and
``prop eq 'text'`` on ``mail``, ``userPrincipalName`` and ``displayName``. ``endswith`` is an
"advanced query": without the header ``ConsistencyLevel: eventual`` and ``$count=true`` it gets
400 ``Request_UnsupportedQuery`` "Unsupported Query.", as in Graph; with them the page carries
``@odata.count``. Any other filter gets the 400 Graph gives for an unsupported clause.

How to use it: ``GraphEmulator.handle_api`` calls ``list_users`` for the path ``/users``.

Caveats: ``$orderby``, ``$search`` and ``$expand`` are not served (400); filters cannot be
combined with ``and``/``or``.
"""

import re
from urllib.parse import quote

from emulators import crypto

from .wire import GraphError, json_response

DEFAULT_TOP, MAX_TOP = 100, 999
INSUFFICIENT = "Insufficient privileges to complete the operation."
APP_ROLES = {"User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All", "Directory.Read.All"}
DELEGATED_SCOPES = {"User.Read.All", "User.ReadBasic.All", "Directory.Read.All"}
FILTERABLE = {"mail", "userprincipalname", "displayname"}
PROPERTY_NAMES = {"mail": "mail", "userprincipalname": "userPrincipalName"}
PROPERTY_NAMES["displayname"] = "displayName"
FILTER = re.compile(
    r"^\s*(?:(?P<fn>endswith|startswith)\(\s*(?P<fprop>\w+)\s*,\s*'(?P<fval>(?:[^']|'')*)'\s*\)"
    r"|(?P<prop>\w+)\s+eq\s+'(?P<val>(?:[^']|'')*)')\s*$",
    re.IGNORECASE,
)


def _unsupported(message="Unsupported Query."):
    return GraphError(400, "Request_UnsupportedQuery", message)


def _permitted(token):
    if token.app_only:
        return bool(APP_ROLES & token.roles)
    return bool(DELEGATED_SCOPES & token.scopes)


def _parse_filter(text, headers, query):
    """A predicate on a user resource for ``$filter`` (None: no filter), or Graph's 400."""
    if not text:
        return None
    found = FILTER.match(text)
    if found is None:
        raise GraphError(400, "BadRequest", f"Invalid filter clause: {text}")
    function = (found.group("fn") or "eq").lower()
    prop = (found.group("fprop") or found.group("prop")).lower()
    value = (found.group("fval") if found.group("fn") else found.group("val")).replace("''", "'")
    if prop not in FILTERABLE:
        raise _unsupported(
            f"Unsupported or invalid query filter clause specified for property '{prop}' of "
            "resource 'User'."
        )
    if function == "endswith":
        advanced = headers.get("consistencylevel", "").lower() == "eventual"
        if not advanced or query.get("$count", "").lower() != "true":
            raise _unsupported()
    name, value = PROPERTY_NAMES[prop], value.lower()

    def predicate(resource):
        actual = (resource.get(name) or "").lower()
        if function == "endswith":
            return actual.endswith(value)
        if function == "startswith":
            return actual.startswith(value)
        return actual == value

    return predicate


def _top(query):
    text = query.get("$top", str(DEFAULT_TOP))
    if not re.fullmatch(r"\d+", text) or not 1 <= int(text) <= MAX_TOP:
        raise GraphError(
            400,
            "Request_BadRequest",
            f"Invalid page size specified: '{text}'. Must be between 1 and {MAX_TOP} inclusive.",
        )
    return int(text)


def list_users(emulator, token, query, headers):
    if not _permitted(token):
        raise GraphError(403, "Authorization_RequestDenied", INSUFFICIENT)
    for name in ("$orderby", "$search", "$expand"):
        if name in query:
            raise _unsupported()
    top = _top(query)
    matches = _parse_filter(query.get("$filter"), headers, query)
    users = sorted(token.tenant.users.values(), key=lambda user: user.upn)
    select = [s.strip() for s in query.get("$select", "").split(",") if s.strip()]
    # accountEnabled is not a default property of user; Graph returns it when selected.
    resources = [{**u.resource(), "accountEnabled": True} for u in users]
    if not select:
        for resource in resources:
            del resource["accountEnabled"]
    if matches is not None:
        resources = [r for r in resources if matches(r)]
    total = len(resources)
    start = 0
    if "$skiptoken" in query:
        try:
            start = int(crypto.b64url_decode(query["$skiptoken"]).decode())
        except (ValueError, UnicodeDecodeError):
            raise GraphError(
                400, "Directory_ExpiredPageToken", "The specified page token value has expired."
            ) from None
    page = resources[start : start + top]
    if select:
        page = [{k: v for k, v in r.items() if k in select or k == "id"} for r in page]
    base = emulator.graph_base
    body = {"@odata.context": f"{base}/$metadata#users", "value": page}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = total
    if start + top < total:
        params = {k: v for k, v in query.items() if k != "$skiptoken"}
        params["$skiptoken"] = crypto.b64url(str(start + top).encode())
        encoded = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        body["@odata.nextLink"] = f"{base}/users?{encoded}"
    return json_response(200, body)
