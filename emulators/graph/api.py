"""Graph v1.0 mail routes of the emulator: users, mail folders, messages, delta, attachments.

What it is: the handlers behind ``/v1.0/me/...`` and ``/v1.0/users/{id|upn}/...``, and the route
table that maps a path (after the user prefix) to a handler, a route kind (for statistics) and
the permission it needs. Sending, drafts and upload sessions live in ``outgoing.py``.

How it works: ``match`` normalises ``mailFolders('id')`` to ``mailFolders/id`` and
``mailFolders/{id}/messages/{mid}/...`` to ``messages/{mid}/...`` (Graph addresses a message the
same way under either), then finds the route. Each handler receives a ``Call`` (the parsed
request plus the authenticated token and target user) and returns a ``Response``; it runs under
the emulator lock, so it may read and change the store freely. Folders are addressed by id or
by well-known name (``inbox``, ``sentitems``, ...), as Graph allows, but the folder resource
itself carries no ``wellKnownName``, as in v1.0: a client resolves names by GETting them.

How to use it: ``GraphEmulator.handle_api`` calls ``match`` and the handler.

Caveats: ``$orderby`` is ignored (lists are newest first); ``$filter`` on lists accepts only
``receivedDateTime ge|gt``; ``$count=true`` adds ``@odata.count``; PATCH changes ``isRead``
(and subject/body of drafts) only.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote

from . import outgoing
from .delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, UPSERT, matches, parse_filter
from .resources import attachment_resource, message_resource, page, parse_select
from .wire import GraphError, bytes_response, json_response, reference_value_400

READ, WRITE, SEND, PROFILE = "read", "write", "send", "profile"
# Delegated scopes and application roles that satisfy each permission.
PERMISSIONS = {
    READ: {"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic"},
    WRITE: {"Mail.ReadWrite"},
    SEND: {"Mail.Send"},
    PROFILE: {"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All"},
}
APP_PROFILE_ROLES = {"User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All"}


@dataclass
class Call:
    method: str
    path: list
    args: list
    query: dict
    headers: dict
    body: bytes
    token: object
    user: object
    prefix: str
    base: str
    immutable: bool
    max_page: int
    emulator: object

    def link(self, suffix):
        return f"{self.base}/{self.prefix}/{suffix}"


def allowed(token, permission):
    if token.app_only:
        granted = APP_PROFILE_ROLES if permission == PROFILE else PERMISSIONS[permission]
        return bool(granted & token.roles)
    return bool(PERMISSIONS[permission] & token.scopes)


def _folder(call, key):
    folder = call.user.folder(key)
    if folder is None:
        raise GraphError.not_found()
    return folder


def _message(call, key):
    message = call.user.message(key)
    if message is None:
        raise GraphError.not_found()
    return message


def _top(call, default=10):
    try:
        top = int(call.query.get("$top", default))
        skip = int(call.query.get("$skip", 0))
    except ValueError as error:
        raise GraphError.bad_request("Invalid $top or $skip value.") from error
    return max(1, min(top, MAX_PAGE_SIZE)), max(0, skip)


def _listing(call, items, suffix):
    top, skip = _top(call)
    params = {k: v for k, v in call.query.items() if k not in ("$skip", "$top")}
    params.update({"$top": str(top)})

    def next_link(next_skip):
        query = "&".join(
            f"{k}={quote(v, safe='')}" for k, v in {**params, "$skip": str(next_skip)}.items()
        )
        return call.link(suffix) + "?" + query

    body = page(items, top, skip, next_link)
    if call.query.get("$count", "").lower() == "true":
        # Graph counts the whole filtered collection, not the page.
        body["@odata.count"] = len(items)
    return body


# Users and folders


def get_user(call):
    return json_response(200, call.user.resource())


def _folder_list(call, parent_id, suffix):
    hidden = call.query.get("includeHiddenFolders", "").lower() == "true"
    folders = [f.resource(call.user) for f in call.user.children(parent_id, hidden)]
    return json_response(200, _listing(call, folders, suffix))


def list_folders(call):
    return _folder_list(call, call.user.root_id, "mailFolders")


def get_folder(call):
    return json_response(200, _folder(call, call.args[0]).resource(call.user))


def list_child_folders(call):
    folder = _folder(call, call.args[0])
    return _folder_list(call, folder.id, f"mailFolders/{folder.id}/childFolders")


def create_folder(call):
    parent = _folder(call, call.args[0]) if call.args else call.user.folder("msgfolderroot")
    name = (outgoing.json_body(call).get("displayName") or "").strip()
    if not name:
        raise GraphError.bad_request("The displayName property is required.", "ErrorInvalidRequest")
    folder = call.user.add_folder(name, parent.id, bool(outgoing.json_body(call).get("isHidden")))
    return json_response(201, folder.resource(call.user))


# Messages


def list_messages(call):
    folder = _folder(call, call.args[0]) if call.args else None
    received_filter = parse_filter(call.query.get("$filter"))
    select = parse_select(call.query.get("$select"))
    members = [
        m
        for m in call.user.messages.values()
        if (folder is None or m.folder_id == folder.id) and matches(m, received_filter)
    ]
    members.sort(key=lambda m: m.received, reverse=True)
    resources = [message_resource(call.user, m, call.immutable, select) for m in members]
    suffix = f"mailFolders/{folder.id}/messages" if folder else "messages"
    return json_response(200, _listing(call, resources, suffix))


def get_message(call):
    select = parse_select(call.query.get("$select"))
    message = _message(call, call.args[0])
    return json_response(200, message_resource(call.user, message, call.immutable, select))


def get_message_value(call):
    return bytes_response(200, _message(call, call.args[0]).raw, "text/plain")


def patch_message(call):
    message = _message(call, call.args[0])
    changes = outgoing.json_body(call)
    if "isRead" in changes:
        message.is_read = bool(changes["isRead"])
    if message.is_draft and ({"subject", "body"} & changes.keys()):
        outgoing.rewrite_draft(call, message, changes)
    call.user.update(message, call.emulator.clock.time())
    return json_response(200, message_resource(call.user, message, call.immutable))


def delete_message(call):
    call.user.delete(_message(call, call.args[0]))
    return bytes_response(204, b"", "text/plain")


def move_message(call):
    message = _message(call, call.args[0])
    destination = outgoing.json_body(call).get("destinationId") or ""
    folder = call.user.folder(destination)
    if folder is None:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    call.user.move(message, folder, call.emulator.clock.time())
    return json_response(201, message_resource(call.user, message, call.immutable))


# Delta


def prefer(headers):
    """(max page size or None, ImmutableId asked) from the Prefer header(s)."""
    value = headers.get("prefer", "")
    found = re.search(r"odata\.maxpagesize\s*=\s*(\d+)", value)
    immutable = re.search(r'IdType\s*=\s*"?ImmutableId"?', value, re.IGNORECASE) is not None
    return (int(found.group(1)) if found else None), immutable


def delta(call):
    tracker = call.emulator.delta
    if "$deltatoken" in call.query:
        round_ = tracker.resume(call.user, call.query["$deltatoken"], call.immutable)
        offset = 0
    elif "$skiptoken" in call.query:
        round_, offset = tracker.continue_round(call.user, call.query["$skiptoken"])
    else:
        folder = _folder(call, call.args[0])
        received_filter = parse_filter(call.query.get("$filter"))
        select = parse_select(call.query.get("$select"))
        round_ = tracker.begin(call.user, folder, received_filter, select)
        offset = 0
    size = min(call.max_page or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    chunk, skiptoken, deltatoken = tracker.page(round_, offset, size)

    value = []
    for entry in chunk:
        if entry[0] == UPSERT:
            item = message_resource(call.user, entry[1], call.immutable, round_.select)
        else:
            old_ids, reason = entry[1], entry[2]
            item = {
                "id": old_ids[0] if call.immutable else old_ids[1],
                "@removed": {"reason": reason},
            }
        value.append({"@odata.type": "#microsoft.graph.message", **item})
    base = call.link(f"mailFolders('{round_.folder_id}')/messages/delta")
    body = {"@odata.context": f"{call.base}/$metadata#Collection(message)", "value": value}
    if skiptoken:
        body["@odata.nextLink"] = f"{base}?$skiptoken={skiptoken}"
    else:
        body["@odata.deltaLink"] = f"{base}?$deltatoken={deltatoken}"
    applied = [f"odata.maxpagesize={size}"] if call.max_page else []
    if call.immutable:
        applied.append('IdType="ImmutableId"')
    headers = {"Preference-Applied": ", ".join(applied)} if applied else {}
    return json_response(200, body, headers)


# Attachments


def _attachment(call):
    message = _message(call, call.args[0])
    for item, data in message.attachments():
        if item["id"] == call.args[1]:
            return item, data
    raise GraphError.not_found()


def list_attachments(call):
    message = _message(call, call.args[0])
    value = [attachment_resource(item, data) for item, data in message.attachments()]
    return json_response(200, {"value": value})


def get_attachment(call):
    return json_response(200, attachment_resource(*_attachment(call)))


def get_attachment_value(call):
    item, data = _attachment(call)
    kind = item["@odata.type"]
    if kind == "#microsoft.graph.referenceAttachment":
        raise reference_value_400()
    if kind == "#microsoft.graph.itemAttachment":
        return bytes_response(200, data, "message/rfc822")
    return bytes_response(200, data, item.get("contentType") or "application/octet-stream")


ROUTES = (
    ("GET", (), get_user, "user", PROFILE),
    ("GET", ("mailFolders",), list_folders, "mailFolders", READ),
    ("POST", ("mailFolders",), create_folder, "mailFolders", WRITE),
    ("GET", ("mailFolders", "*"), get_folder, "mailFolders", READ),
    ("GET", ("mailFolders", "*", "childFolders"), list_child_folders, "mailFolders", READ),
    ("POST", ("mailFolders", "*", "childFolders"), create_folder, "mailFolders", WRITE),
    ("GET", ("mailFolders", "*", "messages"), list_messages, "messages", READ),
    ("GET", ("mailFolders", "*", "messages", "delta"), delta, "delta", READ),
    ("GET", ("messages",), list_messages, "messages", READ),
    ("POST", ("messages",), outgoing.create_draft, "drafts", WRITE),
    ("GET", ("messages", "*"), get_message, "message", READ),
    ("PATCH", ("messages", "*"), patch_message, "message", WRITE),
    ("DELETE", ("messages", "*"), delete_message, "message", WRITE),
    ("GET", ("messages", "*", "$value"), get_message_value, "mime", READ),
    ("POST", ("messages", "*", "move"), move_message, "move", WRITE),
    ("POST", ("messages", "*", "send"), outgoing.send_draft, "send", SEND),
    ("GET", ("messages", "*", "attachments"), list_attachments, "attachments", READ),
    ("POST", ("messages", "*", "attachments"), outgoing.add_attachment, "attachments", WRITE),
    (
        "POST",
        ("messages", "*", "attachments", "createUploadSession"),
        outgoing.create_upload_session,
        "upload",
        WRITE,
    ),
    ("GET", ("messages", "*", "attachments", "*"), get_attachment, "attachments", READ),
    ("GET", ("messages", "*", "attachments", "*", "$value"), get_attachment_value, "mime", READ),
    ("POST", ("sendMail",), outgoing.send_mail, "send", SEND),
)


def split_path(path):
    """Path segments with OData key syntax ``name('key')`` turned into ``name/key``."""
    segments = []
    for raw in path.strip("/").split("/"):
        found = re.fullmatch(r"([^(]+)\('?([^')]*)'?\)", raw)
        segments.extend(found.groups() if found else [raw])
    return [s for s in segments if s]


def match(method, segments):
    """(handler, kind, permission, args) for the path after the user prefix; 400 if unknown."""
    if (
        len(segments) >= 4
        and segments[0] == "mailFolders"
        and segments[2] == "messages"
        and segments[3] != "delta"
    ):
        segments = segments[2:]
    known_path = False
    for route_method, pattern, handler, kind, permission in ROUTES:
        if len(pattern) != len(segments):
            continue
        args = []
        for want, got in zip(pattern, segments, strict=True):
            if want == "*":
                args.append(got)
            elif want != got:
                break
        else:
            known_path = True
            if route_method == method:
                return handler, kind, permission, args
    if known_path:
        raise GraphError(405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed.")
    last = segments[-1] if segments else ""
    raise GraphError.bad_request(f"Resource not found for the segment '{last}'.")
