"""Tenants, users, mail folders, messages and per-folder change logs of the Graph emulator.

What it is: the in-memory Exchange Online behind the emulator. A ``Tenant`` has users; each
``User`` owns a folder tree (the well-known folders under ``msgfolderroot``, plus any added) and
messages; each message keeps its MIME bytes exactly as stored plus the flags Graph exposes.

How it works: a message has two ids, as in Exchange: an ImmutableId, fixed for its life, and a
REST id, replaced whenever the message moves to another folder (so a client that does not send
``Prefer: IdType="ImmutableId"`` sees a move as "removed here, added there" with a new id). Every
change appends ``(seq, folder_id, kind, message, old_ids, reason)`` to the user's change log,
``seq`` growing per user; delta (``delta.py``) reads the log after a token's ``seq``. Reference
attachments have no MIME part, so they are stored beside the message.

How to use it: through ``GraphEmulator`` (``add_user``, ``add_message``, ``move_message``...),
which holds the lock; nothing here is thread-safe on its own.

Caveats: folders cannot be renamed or deleted; ``DELETE`` removes a message permanently (Graph
moves it to Recoverable Items, which clients cannot list either).
"""

import base64
import hashlib
import itertools
import secrets
import uuid
from dataclasses import dataclass, field

from . import mime
from .wire import utc_iso

# (wellKnownName, displayName, hidden, parent well-known name). Under msgfolderroot, like a
# new Exchange Online mailbox; "syncissues" has children so child-folder walks have depth.
WELL_KNOWN_FOLDERS = (
    ("msgfolderroot", "Top of Information Store", False, None),
    ("archive", "Archive", False, "msgfolderroot"),
    ("conversationhistory", "Conversation History", False, "msgfolderroot"),
    ("deleteditems", "Deleted Items", False, "msgfolderroot"),
    ("drafts", "Drafts", False, "msgfolderroot"),
    ("inbox", "Inbox", False, "msgfolderroot"),
    ("junkemail", "Junk Email", False, "msgfolderroot"),
    ("outbox", "Outbox", False, "msgfolderroot"),
    ("sentitems", "Sent Items", False, "msgfolderroot"),
    ("scheduled", "Scheduled", False, "msgfolderroot"),
    ("syncissues", "Sync Issues", False, "msgfolderroot"),
    ("conflicts", "Conflicts", False, "syncissues"),
    ("localfailures", "Local Failures", False, "syncissues"),
    ("serverfailures", "Server Failures", False, "syncissues"),
    (None, "Conversation Action Settings", True, "msgfolderroot"),
)
ADDED, REMOVED = "added", "removed"


def new_id(prefix, seed=None):
    """An opaque Exchange-looking id ('AAMkA...='); ``seed`` makes it deterministic."""
    data = hashlib.sha256(seed.encode()).digest() if seed else secrets.token_bytes(32)
    return prefix + base64.urlsafe_b64encode(data + b"\0\0").decode("ascii")


@dataclass
class Tenant:
    id: str
    domain: str
    users: dict = field(default_factory=dict)  # lower-case UPN -> User
    # client_id (or None for every app) -> application roles admin-consented in this tenant
    app_roles: dict = field(default_factory=dict)
    # client_id -> user ids an application access policy / RBAC scope lets the app reach
    mailbox_scopes: dict = field(default_factory=dict)


@dataclass
class Folder:
    id: str
    display_name: str
    parent_id: str
    well_known: str = None
    hidden: bool = False

    def resource(self, user):
        members = [m for m in user.messages.values() if m.folder_id == self.id]
        return {
            "id": self.id,
            "displayName": self.display_name,
            "parentFolderId": self.parent_id,
            "childFolderCount": sum(1 for f in user.folders.values() if f.parent_id == self.id),
            "unreadItemCount": sum(1 for m in members if not m.is_read),
            "totalItemCount": len(members),
            "sizeInBytes": sum(len(m.raw) for m in members),
            "isHidden": self.hidden,
        }


@dataclass
class Message:
    immutable_id: str
    rest_id: str
    folder_id: str
    raw: bytes
    received: float
    created: float
    is_read: bool = False
    is_draft: bool = False
    references: list = field(default_factory=list)  # reference attachment dicts
    change_key: str = ""
    modified: float = 0.0
    # (properties, attachment parts) of ``raw``, parsed on first use: large mail parses slowly
    # and most stored messages are never read through Graph.
    _parsed: tuple = None

    def set_raw(self, raw, now):
        self.raw = bytes(raw)
        self._parsed = None
        self.touch(now)

    def _analysis(self):
        if self._parsed is None:
            self._parsed = mime.analyse(self.raw)
        return self._parsed

    @property
    def props(self):
        return self._analysis()[0]

    def touch(self, now):
        self.modified = now
        self.change_key = secrets.token_urlsafe(18)

    def attachments(self):
        """Graph attachment resources (without ``contentBytes``) in list order."""
        items = []
        for position, kind, name, ctype, data, inline, cid in self._analysis()[1]:
            item = {
                "@odata.type": f"#microsoft.graph.{kind}Attachment",
                "id": new_id("AAMkAGatt", f"{self.immutable_id}/{position}"),
                "lastModifiedDateTime": utc_iso(self.modified),
                "name": name,
                "contentType": ctype if kind == "file" else None,
                "size": len(data),
                "isInline": inline,
            }
            if kind == "file":
                item["contentId"] = cid
            items.append((item, data))
        items.extend((dict(ref), None) for ref in self.references)
        return items


@dataclass
class User:
    id: str
    upn: str
    display_name: str
    tenant: Tenant
    folders: dict = field(default_factory=dict)  # id -> Folder
    messages: dict = field(default_factory=dict)  # immutable id -> Message
    # (seq, folder_id, kind, message, (immutable id, rest id) before, removal reason)
    changes: list = field(default_factory=list)
    seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    last_seq: int = 0

    def __post_init__(self):
        ids = {}
        for well_known, name, hidden, parent in WELL_KNOWN_FOLDERS:
            folder_id = new_id("AAMkAGfld", f"{self.id}/{name}")
            ids[well_known] = folder_id
            self.folders[folder_id] = Folder(folder_id, name, ids.get(parent), well_known, hidden)
        self.root_id = ids["msgfolderroot"]

    # Folders

    def folder(self, key):
        """The folder with id or well-known name ``key`` (case-insensitive names), or None."""
        if key in self.folders:
            return self.folders[key]
        lowered = key.lower()
        return next((f for f in self.folders.values() if f.well_known == lowered), None)

    def add_folder(self, display_name, parent="msgfolderroot", hidden=False):
        parent_folder = self.folder(parent)
        if parent_folder is None:
            raise KeyError(f"no folder {parent!r} for {self.upn}")
        folder = Folder(new_id("AAMkAGfld"), display_name, parent_folder.id, None, hidden)
        self.folders[folder.id] = folder
        return folder

    def children(self, folder_id, include_hidden=False):
        return [
            f
            for f in self.folders.values()
            if f.parent_id == folder_id and (include_hidden or not f.hidden)
        ]

    # Messages

    def message(self, message_id):
        """Look a message up by ImmutableId or by its current REST id, as Graph accepts both."""
        found = self.messages.get(message_id)
        if found is not None:
            return found
        return next((m for m in self.messages.values() if m.rest_id == message_id), None)

    def _log(self, folder_id, kind, message, old_ids=None, reason=None):
        self.last_seq = next(self.seq)
        self.changes.append((self.last_seq, folder_id, kind, message, old_ids, reason))

    def insert(self, raw, folder, received, now, *, is_read=False, is_draft=False):
        message = Message(new_id("AAkALgAAAAAA"), new_id("AAMkAGI2"), folder.id, b"", received, now)
        message.is_read, message.is_draft = is_read, is_draft
        message.set_raw(raw, now)
        self.messages[message.immutable_id] = message
        self._log(folder.id, ADDED, message)
        return message

    def move(self, message, folder, now):
        if folder.id == message.folder_id:
            return message
        old = (message.immutable_id, message.rest_id)
        # "changed": the item left this folder's scope but still exists elsewhere.
        self._log(message.folder_id, REMOVED, message, old, "changed")
        message.folder_id = folder.id
        message.rest_id = new_id("AAMkAGI2")
        message.touch(now)
        self._log(folder.id, ADDED, message)
        return message

    def update(self, message, now):
        message.touch(now)
        self._log(message.folder_id, ADDED, message)

    def delete(self, message):
        self.messages.pop(message.immutable_id, None)
        old = (message.immutable_id, message.rest_id)
        self._log(message.folder_id, REMOVED, message, old, "deleted")

    def resource(self):
        return {
            "id": self.id,
            "displayName": self.display_name,
            "mail": self.upn,
            "userPrincipalName": self.upn,
            "givenName": self.display_name.split()[0] if self.display_name else None,
            "surname": self.display_name.split()[-1] if " " in self.display_name else None,
            "businessPhones": [],
            "jobTitle": None,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
        }


def new_tenant(domain, tenant_id=None):
    return Tenant(tenant_id or str(uuid.uuid4()), domain)


def new_user(tenant, upn, display_name=None):
    user = User(str(uuid.uuid4()), upn.lower(), display_name or upn.split("@")[0], tenant)
    tenant.users[user.upn] = user
    return user
