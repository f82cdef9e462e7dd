"""Fill emulated mailboxes from .eml files or an mbox (including Google Takeout exports).

What it is: import helpers used by ``GmailEmulator.load_eml_dir`` / ``load_mbox`` and the
command line. Labels come from Takeout's ``X-Gmail-Labels`` header when present, threads from
Takeout's ``X-GM-THRID``; otherwise a message is filed in INBOX, or SENT when its From is the
mailbox owner.

How it works: Takeout names map to Gmail label ids ("Inbox" -> INBOX, "Sent" -> SENT, "Drafts"
-> DRAFT, "Category Updates" -> CATEGORY_UPDATES, "Unread" -> UNREAD ...). "Archived" and
"Opened" carry no label: archived mail simply lacks INBOX and opened mail lacks UNREAD. Any other
name becomes a user label (``Label_N``), created on first use. internalDate is the Date header
(zone-less dates as UTC), else the mbox "From " line date, else the emulator clock.

How to use it::

    load_eml_dir(emu, 'fixtures/')       # fixtures/<email>/*.eml, or *.eml for default_user
    load_mbox(emu, 'All mail.mbox', 'me@example.com')

Caveats: mbox bodies are taken as the stdlib ``mailbox`` module returns them (no ">From "
unescaping), which is what Takeout's mboxo files need.
"""

import csv
import email.utils
import mailbox
from pathlib import Path

from . import mime

TAKEOUT_LABELS = {
    "inbox": "INBOX",
    "sent": "SENT",
    "spam": "SPAM",
    "trash": "TRASH",
    "drafts": "DRAFT",
    "draft": "DRAFT",
    "important": "IMPORTANT",
    "starred": "STARRED",
    "unread": "UNREAD",
    "chat": "CHAT",
    "category personal": "CATEGORY_PERSONAL",
    "category social": "CATEGORY_SOCIAL",
    "category promotions": "CATEGORY_PROMOTIONS",
    "category updates": "CATEGORY_UPDATES",
    "category forums": "CATEGORY_FORUMS",
}
# Takeout states without a Gmail label of their own.
STATE_ONLY = {"archived", "opened"}


def takeout_label_ids(value, mailbox_):
    names = next(csv.reader([value], skipinitialspace=True), [])
    label_ids = []
    for name in (n.strip() for n in names):
        if not name or name.lower() in STATE_ONLY:
            continue
        label_id = TAKEOUT_LABELS.get(name.lower()) or mailbox_.label_id_for(name, create=True)
        if label_id not in label_ids:
            label_ids.append(label_id)
    return label_ids


def default_label_ids(node, mailbox_):
    sender = email.utils.parseaddr(mime.first_header(node, "From"))[1].lower()
    return ["SENT"] if sender == mailbox_.email else ["INBOX"]


def import_message(emulator, user, raw, fallback_date_ms=None):
    """Add one message with labels, thread and date derived from its headers; return its id."""
    box = emulator.mailbox(user, create=True)
    node = mime.parse(raw)
    takeout = mime.first_header(node, "X-Gmail-Labels")
    labels = takeout_label_ids(takeout, box) if takeout else default_label_ids(node, box)
    thread = mime.first_header(node, "X-GM-THRID").strip()
    forced_thread = format(int(thread), "x") if thread.isdigit() else None
    internal = mime.date_ms(node) or fallback_date_ms
    return emulator.add_message(user, raw, labels, internal, forced_thread_id=forced_thread)


def load_eml_dir(emulator, directory, default_user=None):
    """Import ``DIR/<email>/*.eml`` per user and ``DIR/*.eml`` for ``default_user``."""
    directory = Path(directory)
    imported = []
    for path in sorted(directory.iterdir()):
        if path.is_dir() and "@" in path.name:
            for eml in sorted(path.glob("*.eml")):
                imported.append(import_message(emulator, path.name, eml.read_bytes()))
        elif path.suffix.lower() == ".eml":
            user = default_user or emulator.default_user
            if not user:
                raise ValueError(f"{path}: no user directory and no default user given")
            imported.append(import_message(emulator, user, path.read_bytes()))
    return imported


def load_mbox(emulator, path, user):
    box = mailbox.mbox(str(path), create=False)
    imported = []
    try:
        for key in box.iterkeys():
            raw = box.get_bytes(key)
            from_line = box.get_message(key).get_from()
            imported.append(import_message(emulator, user, raw, mime.from_line_ms(from_line)))
    finally:
        box.close()
    return imported
