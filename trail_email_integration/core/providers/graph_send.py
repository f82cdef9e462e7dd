"""Sending a complete MIME message as the mailbox owner through Microsoft Graph.

What it is
    :func:`send`, the body of ``GraphProvider.send``: the MIME the engine built goes out
    through the owner's own mailbox, Bcc included, and Exchange files the copy in Sent Items.

How it works
    - Small messages (base64 of the MIME at most ``MAX_SENDMAIL_BASE64`` bytes, Graph refusing
      request bodies over 4 MB): one ``POST /sendMail`` with ``Content-Type: text/plain`` and
      the base64 MIME as body. Graph keeps the MIME's headers, Bcc and Message-ID included.
    - Larger messages (attachments up to 150 MB each): the biggest attachments are taken out
      of the MIME until the rest fits; the rest becomes a draft (``POST /messages``, MIME);
      each attachment taken out is added again, through ``POST .../attachments`` when its
      base64 fits a request, else through an upload session (``createUploadSession``, then
      ``PUT`` chunks of ``CHUNK_BYTES``, a multiple of 320 KiB, to the upload URL without an
      Authorization header); then ``POST /messages/{id}/send``. A draft left by a failure is
      deleted.
    - The MIME gets a Message-ID when it has none, so the Sent Items copy can be found: the
      provider lists the newest Sent Items messages and matches ``internetMessageId``, trying
      a few times because Exchange files the copy a moment after accepting the message.

Use
    ``GraphProvider.send(raw)`` returns a ``SentMessage`` with the Sent copy's ImmutableId and
    conversation id (empty when the copy did not show up in time; the scan finds it later by
    Message-ID).

Caveats
    ``thread_id`` is not used: Exchange threads a reply by its In-Reply-To and References
    headers, which the MIME carries. Inline parts (with a Content-ID) are never taken out, so
    a message whose inline images alone exceed 4 MB cannot be sent. A send that fails with a
    server error is not repeated, since Exchange may have sent it.
"""

import base64
import email
import email.policy
import logging
import re
import uuid

import requests

from ..provider import SentMessage, TemporaryError
from .gmail_errors import Backoff
from .graph_errors import RETRYABLE, classify, no_answer

_logger = logging.getLogger(__name__)

# Graph refuses request bodies over 4 MB; half a megabyte stays free for the rest of the call.
MAX_SENDMAIL_BASE64 = 3_500_000
# Graph's upload-session chunks must be multiples of 320 KiB; 10 of them is 3.125 MiB.
CHUNK_UNIT = 320 * 1024
CHUNK_BYTES = 10 * CHUNK_UNIT
SENT_LOOKUP_TRIES = 5
SENT_LOOKUP_WAIT_SECONDS = 2.0
SENT_LOOKUP_PAGE = 25
SEND, WRITE = "Mail.Send", "Mail.ReadWrite"
MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def send(provider, raw):
    raw, message_id = _with_message_id(bytes(raw))
    encoded = base64.b64encode(raw)
    if len(encoded) <= MAX_SENDMAIL_BASE64:
        provider.client.call(
            "POST", f"{provider.base}/sendMail", what="sendMail", permission=SEND,
            headers={"Content-Type": "text/plain"}, data=encoded, retry_unavailable=False,
        )  # fmt: skip
    else:
        _send_as_draft(provider, raw)
    return _sent_copy(provider, message_id)


def _with_message_id(raw):
    """``raw`` with a Message-ID (added when missing) and that Message-ID."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    found = MESSAGE_ID.search(head)
    if found and found.group(1).strip():
        return raw, found.group(1).strip().decode("ascii", "replace")
    sender = re.search(rb"^from:.*@([A-Za-z0-9.-]+)", head, re.IGNORECASE | re.MULTILINE)
    domain = sender.group(1).decode("ascii") if sender else "trail.invalid"
    message_id = f"<{uuid.uuid4().hex}@{domain}>"
    newline = b"\r\n" if b"\r\n" in head else b"\n"
    return f"Message-ID: {message_id}".encode() + newline + raw, message_id


def _detachable(message):
    """(parent, part, size) of every non-inline attachment, largest first."""
    found = []
    for parent in message.walk():
        if not parent.is_multipart():
            continue
        for part in parent.get_payload():
            if part.is_multipart() or part.get("Content-ID"):
                continue
            if part.get_content_disposition() == "attachment" or part.get_filename():
                found.append((parent, part, len(part.as_bytes())))
    return sorted(found, key=lambda item: item[2], reverse=True)


def _split(raw):
    """The MIME without its largest attachments, small enough to post, and those attachments."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    detached = []
    for parent, part, _ in _detachable(message):
        if len(base64.b64encode(message.as_bytes())) <= MAX_SENDMAIL_BASE64:
            break
        parent.set_payload([p for p in parent.get_payload() if p is not part])
        detached.append(part)
    return message.as_bytes(), detached


def _send_as_draft(provider, raw):
    client, base = provider.client, provider.base
    rest, detached = _split(raw)
    draft = client.call(
        "POST", f"{base}/messages", what="create draft", permission=WRITE,
        headers={"Content-Type": "text/plain"}, data=base64.b64encode(rest),
    ).json()  # fmt: skip
    try:
        for part in detached:
            _attach(provider, draft["id"], part)
        client.call(
            "POST", f"{base}/messages/{draft['id']}/send", what="send draft", permission=SEND,
            retry_unavailable=False,
        )  # fmt: skip
    except Exception:
        _logger.warning("Sending a large message failed; deleting its draft")
        try:
            client.call("DELETE", f"{base}/messages/{draft['id']}", what="delete draft")
        except Exception as error:  # the original failure is the one to report
            _logger.warning("The draft could not be deleted: %s", error)
        raise


def _attach(provider, draft_id, part):
    data = part.get_payload(decode=True) or b""
    name = part.get_filename() or "attachment"
    content_type = part.get_content_type()
    path = f"{provider.base}/messages/{draft_id}/attachments"
    if len(base64.b64encode(data)) <= MAX_SENDMAIL_BASE64:
        body = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": name,
            "contentType": content_type,
            "contentBytes": base64.b64encode(data).decode("ascii"),
        }
        provider.client.call("POST", path, what="add attachment", permission=WRITE, json=body)
        return
    item = {"attachmentType": "file", "name": name, "size": len(data)}
    item["contentType"] = content_type
    session = provider.client.call(
        "POST", f"{path}/createUploadSession", what="createUploadSession", permission=WRITE,
        json={"AttachmentItem": item},
    ).json()  # fmt: skip
    _upload(provider, session["uploadUrl"], data)


def _upload(provider, url, data):
    """PUT ``data`` to an upload URL in chunks; the URL carries its own authorisation."""
    backoff = Backoff(provider.sleep, "attachment upload")
    start = 0
    while start < len(data):
        chunk = data[start : start + CHUNK_BYTES]
        end = start + len(chunk) - 1
        headers = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        try:
            answer = provider.client.session.put(
                url, data=chunk, headers=headers, timeout=provider.client.timeout
            )
        except requests.RequestException as error:
            backoff.pause(no_answer(error))
            continue
        if answer.status_code < 400:
            start = end + 1
            backoff.reset()
            continue
        failure = classify(answer.status_code, answer.content, answer.headers)
        if failure.verdict not in RETRYABLE:
            raise TemporaryError(f"attachment upload: {failure.describe()}", failure.retry_after)
        backoff.pause(failure)


def _sent_copy(provider, message_id):
    path = (
        f"{provider.base}/mailFolders/sentitems/messages?$select=id,internetMessageId,"
        f"conversationId&$orderby=receivedDateTime desc&$top={SENT_LOOKUP_PAGE}"
    )
    for attempt in range(SENT_LOOKUP_TRIES):
        page = provider.client.call("GET", path, what="sent copy", permission="Mail.Read")
        for item in page.json().get("value", []):
            if item.get("internetMessageId") == message_id:
                return SentMessage(item["id"], item.get("conversationId") or "", ("sentitems",))
        if attempt + 1 < SENT_LOOKUP_TRIES:
            provider.sleep(SENT_LOOKUP_WAIT_SECONDS)
    _logger.warning("Message sent, but its Sent Items copy did not show up yet")
    return SentMessage("", "", ("sentitems",))
