"""Gmail API v1 method handlers for the emulator.

What it is: one function per implemented discovery method id (``gmail.users.messages.list``
...), each taking a ``Call`` (the caller's mailbox, validated query parameters, JSON body,
uploaded media) and returning the JSON resource Gmail would answer, or raising ``ApiError``.

How it works: handlers only touch the ``Mailbox`` model and the emulator's delivery hook; auth,
quota, routing and validation already happened in the server. Listing is newest first by
internalDate; page tokens are opaque base64url keys of the last item returned, so pages stay
stable when new mail arrives between calls.

How to use it: ``HANDLERS[route.method_id](call)``. A method of the discovery document that is
missing from ``HANDLERS`` is answered 501 by the server.

Caveats: ``messages.send`` stores the submitted bytes as-is apart from adding a missing
``Message-ID``/``Date``; it does not rewrite ``From`` to a verified send-as alias the way Gmail
does. Deliveries to addresses that are not emulator users are appended to ``emulator.outbox``.
"""

import email.utils
from dataclasses import dataclass, field

from . import mime
from .search import compile_query
from .store import HISTORY_TYPES
from .wire import ApiError, error_body

METADATA_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
MAX_PAGE = 500


@dataclass
class Call:
    emulator: object
    mailbox: object
    params: dict
    path_params: dict
    scopes: set = field(default_factory=set)
    body: dict = field(default_factory=dict)
    media: bytes = None


def _metadata_only(call):
    return call.scopes == {METADATA_SCOPE}


def _page_size(call):
    size = call.params.get("maxResults", 100)
    return 100 if size <= 0 else min(size, MAX_PAGE)


def _encode_token(*parts):
    return mime.b64url(":".join(str(p) for p in parts).encode(), pad=False)


def _decode_token(token, count):
    try:
        parts = mime.b64url_decode(token).decode().split(":")
        values = [int(p) for p in parts]
    except (ValueError, UnicodeDecodeError):
        values = []
    if len(values) != count:
        raise ApiError.invalid_argument("Invalid pageToken")
    return values


def get_profile(call):
    return call.mailbox.profile()


def list_messages(call):
    box, params = call.mailbox, call.params
    if params.get("q") and _metadata_only(call):
        raise ApiError(
            403, error_body(403, "Metadata scope does not support 'q' parameter", "forbidden")
        )
    now_ms = int(call.emulator.clock.time() * 1000)
    query = compile_query(params.get("q", ""), box, now_ms)
    label_ids = params.get("labelIds", [])
    include_spam_trash = (
        params.get("includeSpamTrash", False)
        or query.names_spam_or_trash
        or any(label in ("SPAM", "TRASH") for label in label_ids)
    )
    hits = [
        m
        for m in box.newest_first()
        if all(label in m.label_ids for label in label_ids)
        and (include_spam_trash or not {"SPAM", "TRASH"} & set(m.label_ids))
        and query.matches(m)
    ]
    start = 0
    if params.get("pageToken"):
        date, number = _decode_token(params["pageToken"], 2)
        start = next(
            (i for i, m in enumerate(hits) if (m.internal_date, int(m.id, 16)) < (date, number)),
            len(hits),
        )
    page = hits[start : start + _page_size(call)]
    result = {}
    if page:
        result["messages"] = [m.reference() for m in page]
    if start + len(page) < len(hits):
        last = page[-1]
        result["nextPageToken"] = _encode_token(last.internal_date, int(last.id, 16))
    result["resultSizeEstimate"] = len(hits)
    return result


def get_message(call):
    fmt = call.params.get("format", "full")
    if fmt in ("raw", "full") and _metadata_only(call):
        raise ApiError(
            403, error_body(403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden")
        )
    message = call.mailbox.get(call.path_params["id"])
    return message.resource(fmt, call.params.get("metadataHeaders"))


def get_attachment(call):
    message = call.mailbox.get(call.path_params["messageId"])
    owner, part_id = mime.parse_attachment_id(call.path_params["id"])
    part = mime.part_by_id(message.parsed, part_id) if owner == message.id else None
    if part is None:
        raise ApiError.invalid_argument("Invalid attachment token")
    data = mime.part_data(part)
    return {"size": len(data), "data": mime.b64url(data, pad=False)}


def _raw_from(call):
    if call.media is not None:
        return call.media
    raw = (call.body or {}).get("raw")
    if not raw:
        raise ApiError.invalid_argument(
            "'raw' RFC822 payload message string or uploading message via /upload/* URL required"
        )
    try:
        return mime.b64url_decode(raw)
    except ValueError:
        raise ApiError.invalid_argument("Invalid value for ByteString: raw") from None


def send_message(call):
    box = call.mailbox
    raw = _raw_from(call)
    to = mime.recipients(mime.parse(raw))
    if not to:
        raise ApiError.invalid_argument("Recipient address required")
    now = call.emulator.clock.time()
    raw = mime.add_missing_headers(
        raw, email.utils.formatdate(now), email.utils.make_msgid(domain="mail.gmail.com")
    )
    labels = ["SENT"] + (["INBOX"] if box.email in to else [])
    # The sender's copy keeps Bcc, like Gmail's Sent folder; recipients never see it.
    sent = box.insert(raw, labels, int(now * 1000), (call.body or {}).get("threadId"))
    call.emulator.deliver(box.email, to, mime.strip_header(raw, "Bcc"), int(now * 1000))
    return {"id": sent.id, "threadId": sent.thread_id, "labelIds": list(sent.label_ids)}


def insert_message(call):
    raw = _raw_from(call)
    node = mime.parse(raw)
    internal = int(call.emulator.clock.time() * 1000)
    if call.params.get("internalDateSource") == "dateHeader":
        internal = mime.date_ms(node) or internal
    body = call.body or {}
    message = call.mailbox.insert(raw, body.get("labelIds", []), internal, body.get("threadId"))
    return {"id": message.id, "threadId": message.thread_id, "labelIds": list(message.label_ids)}


def _minimal(message):
    return {"id": message.id, "threadId": message.thread_id, "labelIds": list(message.label_ids)}


def modify_message(call):
    body = call.body or {}
    message = call.mailbox.modify(
        call.path_params["id"], body.get("addLabelIds", []), body.get("removeLabelIds", [])
    )
    return _minimal(message)


def batch_modify(call):
    body = call.body or {}
    for message_id in body.get("ids", []):
        call.mailbox.modify(message_id, body.get("addLabelIds", []), body.get("removeLabelIds", []))


def trash_message(call):
    return _minimal(call.mailbox.modify(call.path_params["id"], add=["TRASH"]))


def untrash_message(call):
    return _minimal(call.mailbox.modify(call.path_params["id"], remove=["TRASH"]))


def delete_message(call):
    call.mailbox.delete(call.path_params["id"])


def list_history(call):
    box, params = call.mailbox, call.params
    if "startHistoryId" not in params:
        raise ApiError.invalid_argument("Missing required parameter: startHistoryId")
    box.prune_history(call.emulator.history_max_age)
    types = [t for t in params.get("historyTypes", []) if t in HISTORY_TYPES]
    records = box.history_since(int(params["startHistoryId"]), types, params.get("labelId"))
    if params.get("pageToken"):
        (after,) = _decode_token(params["pageToken"], 1)
        records = [r for r in records if r.id > after]
    page = records[: _page_size(call)]
    result = {}
    if page:
        result["history"] = [r.resource() for r in page]
    if len(page) < len(records):
        result["nextPageToken"] = _encode_token(page[-1].id)
    result["historyId"] = str(box.history_id)
    return result


def list_labels(call):
    return {"labels": [dict(label) for label in call.mailbox.labels.values()]}


def get_label(call):
    label = call.mailbox.labels.get(call.path_params["id"])
    if label is None:
        raise ApiError.not_found()
    return dict(label)


def list_send_as(call):
    return {"sendAs": [dict(alias) for alias in call.mailbox.aliases]}


HANDLERS = {
    "gmail.users.getProfile": get_profile,
    "gmail.users.messages.list": list_messages,
    "gmail.users.messages.get": get_message,
    "gmail.users.messages.attachments.get": get_attachment,
    "gmail.users.messages.send": send_message,
    "gmail.users.messages.insert": insert_message,
    "gmail.users.messages.modify": modify_message,
    "gmail.users.messages.batchModify": batch_modify,
    "gmail.users.messages.trash": trash_message,
    "gmail.users.messages.untrash": untrash_message,
    "gmail.users.messages.delete": delete_message,
    "gmail.users.history.list": list_history,
    "gmail.users.labels.list": list_labels,
    "gmail.users.labels.get": get_label,
    "gmail.users.settings.sendAs.list": list_send_as,
}
