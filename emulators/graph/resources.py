"""JSON resources of the Graph emulator: message, mail folder, attachment, collection pages.

What it is: how stored objects look on the wire in Graph v1.0, including ``$select``
projection, ``@odata.etag``, and the id form chosen by ``Prefer: IdType="ImmutableId"``.

How it works: ``message_resource`` merges the MIME-derived properties (``mime.properties``)
with the stored flags; ``project`` keeps ``@odata.*`` annotations and ``id`` and drops what
``$select`` did not ask for, answering 400 for a property Graph's message type lacks, as Graph
does.

How to use it: from the route handlers (``api.py``) and delta.

Caveats: ``webLink`` points at Outlook on the web and is not served by the emulator;
``uniqueBody``, extended properties and ``$expand`` are not produced.
"""

import base64

from .store import new_id
from .wire import GraphError, utc_iso

MESSAGE_PROPERTIES = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
)


def parse_select(text, allowed=MESSAGE_PROPERTIES):
    """Tuple of ``$select`` names, or None when absent; 400 for an unknown property."""
    if not text:
        return None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name != "id" and name not in allowed:
            raise GraphError.bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.message'.",
                "RequestBroker--ParseUri",
            )
    return names


def project(resource, select):
    if select is None:
        return resource
    return {k: v for k, v in resource.items() if k.startswith("@") or k == "id" or k in select}


def message_id(message, immutable):
    return message.immutable_id if immutable else message.rest_id


def message_resource(user, message, immutable, select=None):
    props = message.props
    received = utc_iso(message.received)
    sent_ms = props["sentDateTime_ms"]
    has_files = any(not item.get("isInline") for item, _ in message.attachments())
    resource = {
        "@odata.etag": f'W/"{message.change_key}"',
        "id": message_id(message, immutable),
        "createdDateTime": utc_iso(message.created),
        "lastModifiedDateTime": utc_iso(message.modified),
        "changeKey": message.change_key,
        "categories": [],
        "receivedDateTime": received,
        "sentDateTime": utc_iso(sent_ms / 1000) if sent_ms is not None else received,
        "hasAttachments": has_files,
        "internetMessageId": props["internetMessageId"],
        "subject": props["subject"],
        "bodyPreview": props["bodyPreview"],
        "importance": "normal",
        "parentFolderId": message.folder_id,
        "conversationId": new_id("AAQkAD", f"{user.id}/{props['conversation_key']}"),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": message.is_read,
        "isDraft": message.is_draft,
        "webLink": f"https://outlook.office365.com/owa/?ItemID={message.rest_id}",
        "inferenceClassification": "focused",
        "body": props["body"],
        "sender": props["sender"],
        "from": props["from"],
        "toRecipients": props["toRecipients"],
        "ccRecipients": props["ccRecipients"],
        "bccRecipients": props["bccRecipients"],
        "replyTo": props["replyTo"],
        "flag": {"flagStatus": "notFlagged"},
    }
    return project(resource, select)


def attachment_resource(item, data, with_bytes=True):
    """An attachment; fileAttachment carries ``contentBytes`` (base64) when ``with_bytes``."""
    resource = dict(item)
    if with_bytes and resource["@odata.type"] == "#microsoft.graph.fileAttachment":
        resource["contentBytes"] = base64.b64encode(data).decode("ascii")
    return resource


def page(items, top, skip, next_link):
    """A collection body: ``value`` plus ``@odata.nextLink`` when more remain."""
    chunk = items[skip : skip + top]
    body = {"value": chunk}
    if skip + top < len(items):
        body["@odata.nextLink"] = next_link(skip + top)
    return body
