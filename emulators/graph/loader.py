"""Fill emulated Microsoft 365 mailboxes from .eml files or an mbox.

What it is: import helpers behind ``GraphEmulator.load_eml_dir``, ``load_mbox`` and
``load_folders`` and the command line. The folder of each message comes, in order, from where
the caller put it (a sub-directory, a ``{folder: [paths]}`` dict), from an ``X-Folder:`` header
(a well-known name such as ``sentitems`` or a display path such as ``Clients/Acme``), else
Sent Items when From is the mailbox owner, else the Inbox.

How it works: folders named by display path are created on first use. receivedDateTime is the
Date header (a zone-less date counts as UTC), else the mbox "From " line date (as the Gmail
emulator does), else the emulator clock. Bytes are stored exactly
as read, ``X-Folder`` included, so ``$value`` returns the file unchanged.

How to use it::

    load_eml_dir(emu, "fixtures/")      # fixtures/<email>/[<folder>/]*.eml
    load_mbox(emu, "export.mbox", "ann@contoso.example")
    load_folders(emu, "ann@contoso.example", {"inbox": ["a.eml"], "Clients/Acme": ["b.eml"]})

Caveats: mbox bodies are taken as the stdlib ``mailbox`` module returns them (no ">From "
unescaping).
"""

import mailbox
from pathlib import Path

from emulators.gmail import mime as gmail_mime

from .mime import header, parse_headers


def _folder_for(node, user):
    declared = header(node, "X-Folder").strip()
    if declared:
        return declared
    sender = header(node, "From").lower()
    return "sentitems" if user.lower() in sender else "inbox"


def import_message(emulator, user, raw, folder=None, fallback_date_ms=None):
    """Add one message, filed and dated from its headers unless ``folder`` is given."""
    node = parse_headers(raw)
    date_ms = gmail_mime.date_ms(node) or fallback_date_ms
    received = date_ms / 1000 if date_ms is not None else None
    target = folder or _folder_for(node, user)
    return emulator.add_message(user, raw, target, received, is_read=target == "sentitems")


def load_folders(emulator, user, folders):
    imported = []
    for folder, paths in folders.items():
        for path in paths:
            imported.append(import_message(emulator, user, Path(path).read_bytes(), folder))
    return imported


def load_eml_dir(emulator, directory, default_user=None):
    """Import ``DIR/<email>/*.eml``, ``DIR/<email>/<folder>/*.eml`` and, for
    ``default_user``, ``DIR/*.eml``."""
    imported = []
    for path in sorted(Path(directory).iterdir()):
        if path.is_dir() and "@" in path.name:
            for eml in sorted(path.rglob("*.eml")):
                relative = eml.parent.relative_to(path).as_posix()
                folder = None if relative == "." else relative
                imported.append(import_message(emulator, path.name, eml.read_bytes(), folder))
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
            from_line_ms = gmail_mime.from_line_ms(box.get_message(key).get_from())
            imported.append(import_message(emulator, user, box.get_bytes(key), None, from_line_ms))
    finally:
        box.close()
    return imported
