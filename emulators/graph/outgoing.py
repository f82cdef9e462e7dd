"""Sending and drafting through the Graph emulator: sendMail, drafts, attachment uploads.

What it is: ``POST /me/sendMail`` (JSON ``{"message", "saveToSentItems"}`` or MIME: Content-Type
``text/plain`` with the base64 of the MIME as body), ``POST /me/messages`` (a draft from JSON or
MIME), ``POST /me/messages/{id}/send``, ``POST .../attachments`` (a small fileAttachment as
JSON) and ``POST .../attachments/createUploadSession`` with its upload URL, which takes the file
in ``PUT`` chunks with ``Content-Range``.

How it works: every outgoing message becomes MIME first (JSON through ``mime.build_mime``);
a Message-ID and Date are added only when missing, so the client's internetMessageId survives.
``GraphEmulator.deliver`` then files the sender's copy in Sent Items (Bcc kept) and gives each
recipient who has a mailbox here a copy without the Bcc header, in their Inbox. An upload
session collects chunks in order; the last one attaches the file to the draft's MIME.

How to use it: the handlers are wired in ``api.ROUTES``; ``upload_chunk`` is called by the
emulator for ``PUT /upload/{token}``, which must come WITHOUT an Authorization header, as
Outlook's upload URL carries its own token and refuses a bearer one.

Caveats: chunks must be a multiple of 320 KiB except the last, at most ``MAX_CHUNK`` each, and
an attachment at most 150 MB; the 3 MB minimum Graph documents for upload sessions is not
enforced. Attachments can be added to drafts only.
"""

import base64
import binascii
import json
import re
import secrets
import threading
from dataclasses import dataclass, field

from . import mime
from .resources import attachment_resource, message_resource
from .wire import GraphError, Response, bytes_response, json_response, utc_iso

CHUNK_UNIT = 320 * 1024
MAX_CHUNK = 60 * 1024 * 1024
MAX_ATTACHMENT = 150 * 1024 * 1024
SESSION_TTL_SECONDS = 15 * 60
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def json_body(call):
    if not call.body:
        return {}
    try:
        value = json.loads(call.body)
    except ValueError as error:
        raise GraphError.bad_request("Unable to read JSON request payload.") from error
    if not isinstance(value, dict):
        raise GraphError.bad_request("The request body must be a JSON object.")
    return value


def _is_mime(call):
    return call.headers.get("content-type", "").lower().startswith("text/plain")


def _mime_body(call):
    try:
        raw = base64.b64decode(call.body.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise GraphError(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        ) from error
    if not raw.strip():
        raise GraphError(400, "ErrorMimeContentInvalid", "The MIME content is empty.")
    return raw


def _new_message_id(call):
    domain = call.user.upn.split("@")[-1]
    return f"<{secrets.token_hex(16)}@{domain}>"


def _outgoing_raw(call, message):
    now = call.emulator.clock.time()
    return mime.build_mime(message, call.user.upn, now, _new_message_id(call))


def send_mail(call):
    if _is_mime(call):
        raw, save = _mime_body(call), True
    else:
        payload = json_body(call)
        if not isinstance(payload.get("message"), dict):
            raise GraphError.bad_request("The message property is required.", "ErrorInvalidRequest")
        raw = _outgoing_raw(call, payload["message"])
        save = payload.get("saveToSentItems", True) not in (False, "false")
    now = call.emulator.clock.time()
    raw = mime.add_missing_headers(raw, now, _new_message_id(call))
    call.emulator.deliver(call.user, raw, save)
    return bytes_response(202, b"", "text/plain")


def create_draft(call):
    raw = _mime_body(call) if _is_mime(call) else _outgoing_raw(call, json_body(call))
    now = call.emulator.clock.time()
    draft = call.user.insert(raw, call.user.folder("drafts"), now, now, is_read=True, is_draft=True)
    return json_response(201, message_resource(call.user, draft, call.immutable))


def rewrite_draft(call, draft, changes):
    props = draft.props
    message = {
        "subject": changes.get("subject", props["subject"]),
        "body": changes.get("body", props["body"]),
        "toRecipients": props["toRecipients"],
        "ccRecipients": props["ccRecipients"],
        "bccRecipients": props["bccRecipients"],
        "internetMessageId": props["internetMessageId"],
    }
    draft.set_raw(_outgoing_raw(call, message), call.emulator.clock.time())


def _draft(call):
    message = call.user.message(call.args[0])
    if message is None:
        raise GraphError.not_found()
    if not message.is_draft:
        raise GraphError(
            400, "ErrorInvalidRequest", "This operation is only supported on draft messages."
        )
    return message


def send_draft(call):
    draft = _draft(call)
    call.user.delete(draft)
    call.emulator.deliver(call.user, draft.raw, True)
    return bytes_response(202, b"", "text/plain")


def _attach(call, draft, name, content_type, data):
    draft.set_raw(
        mime.add_attachment(draft.raw, name, content_type, data), call.emulator.clock.time()
    )
    call.user.update(draft, call.emulator.clock.time())
    return draft.attachments()[-1 - len(draft.references)]


def add_attachment(call):
    draft = _draft(call)
    payload = json_body(call)
    if payload.get("@odata.type") != "#microsoft.graph.fileAttachment":
        raise GraphError.bad_request(
            "Only fileAttachment can be added here.", "ErrorInvalidRequest"
        )
    try:
        data = base64.b64decode(payload.get("contentBytes") or "", validate=True)
    except (binascii.Error, ValueError) as error:
        raise GraphError.bad_request("contentBytes is not valid base64.") from error
    item, data = _attach(call, draft, payload.get("name"), payload.get("contentType"), data)
    return json_response(201, attachment_resource(item, data))


@dataclass
class UploadSession:
    user: object
    message: object
    name: str
    size: int
    content_type: str
    expires: float
    data: bytearray = field(default_factory=bytearray)


class UploadSessions:
    def __init__(self):
        self._lock = threading.Lock()
        self.sessions = {}

    def open(self, session):
        token = secrets.token_urlsafe(32)
        with self._lock:
            self.sessions[token] = session
        return token

    def get(self, token):
        with self._lock:
            return self.sessions.get(token)

    def close(self, token):
        with self._lock:
            self.sessions.pop(token, None)


def create_upload_session(call):
    draft = _draft(call)
    item = json_body(call).get("AttachmentItem") or {}
    size = item.get("size")
    if item.get("attachmentType", "file") != "file" or not item.get("name"):
        raise GraphError.bad_request("AttachmentItem needs attachmentType 'file' and a name.")
    if not isinstance(size, int) or size <= 0 or size > MAX_ATTACHMENT:
        raise GraphError(
            400, "ErrorAttachmentSizeLimitExceeded", "The attachment size must be 1 to 150 MB."
        )
    expires = call.emulator.clock.time() + SESSION_TTL_SECONDS
    session = UploadSession(call.user, draft, item["name"], size, item.get("contentType"), expires)
    token = call.emulator.uploads.open(session)
    return json_response(
        201,
        {
            "@odata.context": f"{call.base}/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": f"{call.emulator.authority_base}/upload/{token}",
            "expirationDateTime": utc_iso(expires),
            "nextExpectedRanges": ["0-"],
        },
    )


def _range_error(session, message):
    error = GraphError(416, "ErrorInvalidRequest", message)
    error.headers["Content-Range"] = f"bytes */{session.size}"
    return error


def upload_chunk(emulator, token, headers, body):
    """Take one PUT of an upload session; the emulator holds its lock around this call."""
    session = emulator.uploads.get(token)
    if session is None or emulator.clock.time() > session.expires:
        raise GraphError(404, "ErrorItemNotFound", "The upload session was not found or expired.")
    if "authorization" in headers:
        raise GraphError.unauthenticated(
            "An Authorization header is not allowed on an upload URL; it carries its own token."
        )
    found = CONTENT_RANGE.match(headers.get("content-range", "").strip())
    if not found:
        raise GraphError.bad_request("A Content-Range header 'bytes start-end/total' is required.")
    start, end, total = (int(v) for v in found.groups())
    length = end - start + 1
    if total != session.size or start != len(session.data) or length != len(body):
        raise _range_error(session, f"Expected the range starting at {len(session.data)}.")
    last = end + 1 == session.size
    if length > MAX_CHUNK or (not last and length % CHUNK_UNIT):
        raise _range_error(
            session, "Chunks must be a multiple of 320 KiB (except the last) and at most 60 MiB."
        )
    session.data.extend(body)
    if not last:
        return json_response(
            200,
            {
                "expirationDateTime": utc_iso(session.expires),
                "nextExpectedRanges": [f"{len(session.data)}-"],
            },
        )

    emulator.uploads.close(token)
    draft, user = session.message, session.user
    raw = mime.add_attachment(draft.raw, session.name, session.content_type, bytes(session.data))
    draft.set_raw(raw, emulator.clock.time())
    user.update(draft, emulator.clock.time())
    item = draft.attachments()[-1 - len(draft.references)][0]
    location = (
        f"{emulator.graph_base}/users/{user.id}/messages/{draft.rest_id}/attachments/{item['id']}"
    )
    return Response(201, b"", {"Location": location, "Content-Type": "text/plain"})
