"""The Microsoft 365 provider: a connected Exchange Online mailbox, read and written via Graph.

What it is
    :class:`GraphProvider` implements :class:`~..provider.Provider` for one Microsoft 365
    mailbox with msal (tokens) and requests (Graph v1.0). The OAuth helpers are in
    ``graph_oauth``, the HTTP layer (retries, ``$batch``, pacing) in ``graph_http``, sending in
    ``graph_send``, error kinds in ``graph_errors`` and the shared vocabulary in ``graph_wire``.

How it works
    - Folders: every scan walks the folder tree from the top (``mailFolders`` and each
      ``childFolders``, level by level in ``$batch`` calls), so new folders are found. The ids
      of the well-known system folders (Deleted Items, Junk Email, Drafts, Outbox, Sync Issues,
      ...) are resolved by GETting their well-known names in the same batch (404: the mailbox
      has none); those folders and everything under them are never read.
    - Ids are ImmutableIds (``Prefer: IdType="ImmutableId"``), so a message keeps its id when
      it moves between folders.
    - Cursor: JSON ``{"v": 1, "folders": {folderId: link}}``, one delta link per folder (a
      ``@odata.deltaLink``, or an ``@odata.nextLink`` while a round is unfinished).
      :meth:`~GraphProvider.current_cursor` runs each folder's delta to its end asking only
      for the few properties a ref needs (no bodies): one pass of delta pages, a request per
      1,000 messages per folder, in batches. The emulator does not serve
      ``$deltatoken=latest``, so the provider does not rely on it.
    - Scan (:meth:`~GraphProvider.list_changes`): follows every folder's link, one page per
      folder per batch, at most ``MAX_CHANGE_ROUNDS`` rounds a call (``more`` says whether
      pages remain). A folder not in the cursor (new since) starts a delta from scratch and its
      messages come as ADDED. A message removed from one folder and present in another in the
      same call is one LABELS_CHANGED with its new folder, never a delete. Any other removal is
      looked up by id: still in the mailbox means it moved somewhere we do not read (Deleted
      Items: LABELS_CHANGED with ``skip_reason`` trash), 404 means DELETED. A folder whose
      delta link answers 410 (``SyncStateNotFound``, case B03) restarts from scratch inside
      the provider, with a warning; its messages come again as ADDED and the engine keeps
      what it already has, so no CursorExpired reaches the engine and the scan goes on.
    - Backfill (:meth:`~GraphProvider.list_window`): per-folder delta with
      ``$filter=receivedDateTime ge <start>``, a minimal ``$select`` and
      ``Prefer: odata.maxpagesize``; folders one after another (Inbox, Sent Items, Archive,
      then the rest). Graph returns a folder's messages newest first, so the order is newest
      first within each folder, not across folders. The position is JSON
      ``{"v": 1, "folders": [[id, label], ...], "i": index, "link": nextLink or null}``;
      a 410 on a saved link restarts that folder. The first page carries
      ``estimated_total``, the sum of each folder's ``$count`` of messages in the window
      (one ``$batch`` call), since Graph counts no filtered delta.
    - Fetch: ``GET /messages/{id}/$value`` (the MIME as Exchange holds it) in ``$batch`` calls
      of 20, chained into ``max_in_flight`` lanes; the base64 bodies are decoded to the exact
      bytes. A 404 is a MessageError for that message only.
    - Send: see ``graph_send``.
    - Reference attachments (cloud links, case B10) have no bytes and are not in the MIME.
      Refs carry ``hasAttachments`` from the delta, and
      :meth:`~GraphProvider.link_attachments` lists the attachments of only those messages,
      in ``$batch`` calls, keeping the links (name, type, ``sourceUrl`` when Graph gives it).
      A message whose list fails has no entry and the others go on.

Use
    ::

        provider = GraphProvider(client_id, secret, "organizations", GraphEndpoints(),
                                 token_cache=stored_cache, on_cache=store_cache)
        provider = GraphProvider(client_id, secret, tenant_id, GraphEndpoints(),
                                 user="ann@contoso.com")        # app-only, organisation mode

    With ``token_cache`` the provider acts for the signed-in user (``/me``, or ``/users/{user}``
    when ``user`` is also given); with ``user`` alone it uses client credentials. The client
    credential is a secret, or msal's certificate dict (``{"private_key", "thumbprint"}``);
    ``token_source`` hands in an app-only :class:`~.graph_oauth.TokenSource` shared by the
    mailboxes of one tenant (see ``graph_org``).

Caveats
    Not thread-safe; one provider per mailbox at a time. A folder renamed or moved keeps its
    delta link but its messages keep their old label until they change. Folders deleted since
    the cursor are dropped from it; their messages are not reported deleted. A delta link
    keeps the ``$select`` it began with, so a cursor saved before refs asked for
    ``hasAttachments`` reports no attachments, and so no cloud links, until that folder's
    delta restarts.
"""

import json
import logging
import time

import msal

from ..provider import (
    ADDED,
    DELETED,
    LABELS_CHANGED,
    SKIP_TRASH,
    Change,
    ChangeSet,
    CursorExpired,
    Fetched,
    Identity,
    MessageError,
    MessageRef,
    Page,
    Provider,
    TemporaryError,
)
from . import graph_send
from .graph_errors import GONE, INVALID, ITEM_NOT_FOUND, NOT_FOUND
from .graph_http import DEFAULT_IN_FLIGHT, GraphClient, Refused
from .graph_oauth import TokenSource, build_app
from .graph_wire import (
    LABELLED_FOLDERS,
    REF_SELECT,
    SCOPES,
    SKIPPED_FOLDERS,
    GraphConfigError,
    GraphEndpoints,
    graph_time,
    message_ref,
)

__all__ = ["SCOPES", "GraphConfigError", "GraphEndpoints", "GraphProvider"]

_logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
FOLDER_PAGE_SIZE = 100
# Pages read per folder in one list_changes call; the engine calls again while ``more``.
MAX_CHANGE_ROUNDS = 10
READ = "Mail.Read"


class GraphProvider(Provider):
    """One Microsoft 365 mailbox, reached through Microsoft Graph v1.0."""

    def __init__(
        self,
        client_id,
        client_secret,
        tenant,
        endpoints=None,
        *,
        token_cache=None,
        on_cache=None,
        user=None,
        sleep=time.sleep,
        clock=time.monotonic,
        max_in_flight=DEFAULT_IN_FLIGHT,
        page_size=DEFAULT_PAGE_SIZE,
        quota=None,
        session=None,
        token_source=None,
    ):
        if token_cache is None and not user:
            raise GraphConfigError("A Microsoft mailbox needs a token cache or a user id.")
        self.endpoints = endpoints or GraphEndpoints()
        self.app_only = token_cache is None
        self.user = user
        self.page_size = page_size
        self.sleep = sleep
        cache = msal.SerializableTokenCache()
        if isinstance(token_cache, str) and token_cache:
            cache.deserialize(token_cache)
        elif isinstance(token_cache, msal.SerializableTokenCache):
            cache = token_cache
        http = session

        def build():
            return build_app(client_id, client_secret, tenant, self.endpoints, cache, http)

        # Organisation mode shares one app-only token source among the tenant's mailboxes.
        self.tokens = token_source or TokenSource(
            build, cache, on_cache=on_cache, app_only=self.app_only
        )
        self.client = GraphClient(
            self.endpoints, self.tokens, sleep=sleep, clock=clock, quota=quota,
            max_in_flight=max_in_flight, session=session,
        )  # fmt: skip
        self.base = f"/users/{user}" if user else "/me"
        self._skipped = {}

    # Identity

    def identity(self):
        select = "?$select=id,mail,userPrincipalName,proxyAddresses"
        permission = "User.Read.All" if self.app_only else "User.Read"
        try:
            me = self.client.send("GET", self.base + select, what="identity").json()
        except Refused as refused:
            if refused.failure.verdict != INVALID:
                raise self.client.error(refused.failure, "identity", permission) from None
            # Some tenants refuse proxyAddresses to this app; the address alone will do.
            me = self.client.call("GET", self.base, what="identity", permission=permission).json()
        address = (me.get("mail") or me.get("userPrincipalName") or "").lower()
        aliases = []
        for entry in me.get("proxyAddresses") or ():
            kind, _, alias = entry.partition(":")
            alias = alias.lower()
            if kind.lower() == "smtp" and alias and alias != address and alias not in aliases:
                aliases.append(alias)
        return Identity(address, tuple(aliases))

    # Folders

    def folders(self):
        """The folders to capture, as ``[(id, label)]``: Inbox, Sent Items, Archive first."""
        names = list(SKIPPED_FOLDERS) + list(LABELLED_FOLDERS)
        calls = [("GET", f"{self.base}/mailFolders/{name}?$select=id") for name in names]
        calls.append(("GET", f"{self.base}/mailFolders?$top={FOLDER_PAGE_SIZE}"))
        answers = self.client.batch(calls, what="mailFolders", permission=READ)
        well_known = {}
        for name, answer in zip(names, answers, strict=False):
            if answer.ok:
                well_known[answer.body["id"]] = name
            elif answer.failure().verdict not in (NOT_FOUND, INVALID):
                raise self.client.error(answer.failure(), f"mailFolders/{name}", READ)
        self._skipped = {
            folder_id: (name, SKIPPED_FOLDERS[name])
            for folder_id, name in well_known.items()
            if name in SKIPPED_FOLDERS
        }

        found = []
        level = [(answers[-1], "")]
        while level:
            follow = []
            for answer, parent_label in level:
                if not answer.ok:
                    raise self.client.error(answer.failure(), "mailFolders", READ)
                for folder in answer.body.get("value", []):
                    if folder["id"] in self._skipped:
                        continue
                    name = well_known.get(folder["id"])
                    label = name or "/".join(p for p in (parent_label, folder["displayName"]) if p)
                    found.append((folder["id"], label))
                    if folder.get("childFolderCount"):
                        path = f"{self.base}/mailFolders/{folder['id']}/childFolders"
                        follow.append((f"{path}?$top={FOLDER_PAGE_SIZE}", label))
                if answer.body.get("@odata.nextLink"):
                    follow.append((answer.body["@odata.nextLink"], parent_label))
            calls = [("GET", link) for link, _ in follow]
            answers = self.client.batch(calls, what="childFolders", permission=READ)
            level = list(zip(answers, [label for _, label in follow], strict=True))
        first = {name: index for index, name in enumerate(LABELLED_FOLDERS)}
        return sorted(found, key=lambda item: first.get(item[1], len(first)))

    # Delta

    def _delta_url(self, folder_id, select, start=None):
        url = f"{self.base}/mailFolders/{folder_id}/messages/delta?$select={select}"
        if start is not None:
            url += f"&$filter=receivedDateTime ge {graph_time(start)}"
        return url

    def _page_header(self, size):
        return {"Prefer": f"odata.maxpagesize={max(1, min(size, MAX_PAGE_SIZE))}"}

    def _delta_rounds(self, links, select, size, max_rounds=None):
        """Follow ``{folder: link}`` a page per folder per batch call.

        Returns ``(items, links, restarted)``: the ``(folder, item)`` pairs read, each folder's
        link to continue from, and the folders whose delta was restarted after a 410.
        """
        items, restarted, rounds = [], set(), 0
        links = dict(links)
        pending = [f for f, link in links.items() if not _is_delta_link(link)]
        pending += [f for f, link in links.items() if _is_delta_link(link)]
        while pending and (max_rounds is None or rounds < max_rounds):
            rounds += 1
            header = self._page_header(size)
            calls = [("GET", links[folder], header) for folder in pending]
            answers = self.client.batch(calls, what="messages.delta", permission=READ)
            following = []
            for folder, answer in zip(pending, answers, strict=True):
                if not answer.ok and answer.failure().verdict == GONE:
                    if folder in restarted:
                        raise TemporaryError("messages.delta: Graph keeps refusing a fresh delta")
                    _logger.warning(
                        "Graph delta state of a folder expired (%s); restarting its delta",
                        answer.failure().code,
                    )
                    restarted.add(folder)
                    links[folder] = self._delta_url(folder, select)
                    following.append(folder)
                    continue
                if not answer.ok:
                    raise self.client.error(answer.failure(), "messages.delta", READ)
                items.extend((folder, item) for item in answer.body.get("value", []))
                if answer.body.get("@odata.nextLink"):
                    links[folder] = answer.body["@odata.nextLink"]
                    following.append(folder)
                else:
                    links[folder] = answer.body["@odata.deltaLink"]
            pending = following
        return items, links, restarted

    def current_cursor(self):
        folders = self.folders()
        # The delta link keeps the $select it was started with, so the scan's refs get their
        # date and conversation from it; bodies are never asked for.
        links = {folder_id: self._delta_url(folder_id, REF_SELECT) for folder_id, _ in folders}
        _, links, _ = self._delta_rounds(links, REF_SELECT, MAX_PAGE_SIZE)
        return json.dumps({"v": 1, "folders": links})

    def list_changes(self, cursor):
        try:
            state = json.loads(cursor)["folders"]
        except (ValueError, KeyError, TypeError):
            state = None
        if not isinstance(state, dict):
            raise CursorExpired(f"not a Graph cursor: {cursor!r}")
        folders = dict(self.folders())
        links = {
            folder_id: state.get(folder_id) or self._delta_url(folder_id, REF_SELECT)
            for folder_id in folders
        }
        items, links, _ = self._delta_rounds(links, REF_SELECT, self.page_size, MAX_CHANGE_ROUNDS)
        more = any(not _is_delta_link(link) for link in links.values())
        changes = self._coalesce(items, folders)
        return ChangeSet(changes, json.dumps({"v": 1, "folders": links}), more)

    def _coalesce(self, items, folders):
        """One change per message: its last folder wins; lone removals are looked up."""
        present, removed = {}, []
        for folder, item in items:
            if "@removed" in item:
                removed.append(item["id"])
            else:
                present[item["id"]] = message_ref(item, folders[folder])
        moved = set(removed) & present.keys()
        changes = [
            Change(LABELS_CHANGED if message_id in moved else ADDED, ref)
            for message_id, ref in present.items()
        ]
        lone = list(dict.fromkeys(m for m in removed if m not in present))
        return changes + self._whereabouts(lone, folders)

    def _whereabouts(self, message_ids, folders):
        """Changes for messages that left a captured folder: moved elsewhere, or deleted."""
        calls = [("GET", f"{self.base}/messages/{m}?$select={REF_SELECT}") for m in message_ids]
        answers = self.client.batch(calls, what="messages.get", permission=READ)
        changes = []
        for message_id, answer in zip(message_ids, answers, strict=True):
            if answer.ok:
                parent = answer.body.get("parentFolderId")
                if parent in folders:
                    changes.append(
                        Change(LABELS_CHANGED, message_ref(answer.body, folders[parent]))
                    )
                    continue
                label, reason = self._skipped.get(parent, ("", SKIP_TRASH))
                changes.append(Change(LABELS_CHANGED, message_ref(answer.body, label, reason)))
            elif answer.failure().verdict == NOT_FOUND:
                changes.append(Change(DELETED, MessageRef(provider_id=message_id)))
            else:
                raise self.client.error(answer.failure(), "messages.get", READ)
        return changes

    # Backfill

    def list_window(self, start, position=None, page_size=DEFAULT_PAGE_SIZE):
        if position:
            try:
                state = json.loads(position)
                folders, index, link = state["folders"], int(state["i"]), state["link"]
            except (ValueError, KeyError, TypeError):
                raise CursorExpired(f"not a Graph backfill position: {position!r}") from None
        else:
            folders, index, link = [list(f) for f in self.folders()], 0, None
        # The first page says how big the window is; later pages leave the estimate alone.
        estimate = None if position else self._window_count(folders, start)
        restarted = None
        while index < len(folders):
            folder_id, label = folders[index]
            url = link or self._delta_url(folder_id, REF_SELECT, start)
            try:
                answer = self.client.send(
                    "GET", url, what="messages.delta", headers=self._page_header(page_size)
                )
            except Refused as refused:
                if refused.failure.verdict != GONE or restarted == folder_id:
                    raise self.client.error(refused.failure, "messages.delta", READ) from None
                _logger.warning("Graph backfill page of a folder expired; restarting the folder")
                restarted, link = folder_id, None
                continue
            body = answer.json()
            refs = [message_ref(i, label) for i in body.get("value", []) if "@removed" not in i]
            link = body.get("@odata.nextLink")
            if not link:
                index += 1
            if refs:
                done = index >= len(folders)
                position = None if done else json.dumps(
                    {"v": 1, "folders": folders, "i": index, "link": link}
                )  # fmt: skip
                return Page(refs, position, estimated_total=estimate)
        return Page([], None, estimated_total=estimate)

    def _window_count(self, folders, start):
        """How many messages the window holds in ``folders``, by Graph's ``$count``; None
        when a folder does not say (the progress then shows no total)."""
        if not folders:
            return 0
        since = f"receivedDateTime ge {graph_time(start)}"
        calls = [
            ("GET", f"{self.base}/mailFolders/{folder_id}/messages?$filter={since}"
                    "&$count=true&$top=1&$select=id")
            for folder_id, _label in folders
        ]  # fmt: skip
        answers = self.client.batch(calls, what="messages.$count", permission=READ)
        counts = [
            answer.body.get("@odata.count") if answer.ok and isinstance(answer.body, dict) else None
            for answer in answers
        ]
        if not all(isinstance(count, int) for count in counts):
            return None
        return sum(counts)

    # Fetch

    def fetch(self, refs):
        calls = [("GET", f"{self.base}/messages/{ref.provider_id}/$value") for ref in refs]
        answers = self.client.batch(calls, what="messages.$value", permission=READ)
        results = []
        for ref, answer in zip(refs, answers, strict=True):
            if answer.ok and isinstance(answer.body, bytes):
                results.append(Fetched(ref, answer.body))
            elif answer.ok:
                results.append(MessageError("$value answered without MIME", ref.provider_id))
            else:
                failure = answer.failure()
                results.append(
                    MessageError(
                        f"messages.$value: {failure.describe()}",
                        ref.provider_id,
                        gone=failure.verdict == NOT_FOUND or failure.code == ITEM_NOT_FOUND,
                    )
                )
        return results

    def link_attachments(self, refs):
        """The cloud links of the refs with ``has_attachments``, as the provider interface
        promises: ``{provider_id: [{"name", "url", "mimetype"}]}``, a ref whose attachments
        could not be listed left out (logged). Throttling and lost authorisation raise."""
        select = "?$select=id,name,contentType,size,isInline"
        wanted = list(dict.fromkeys(ref.provider_id for ref in refs if ref.has_attachments))
        pending = {m: f"{self.base}/messages/{m}/attachments{select}" for m in wanted}
        listed = {message_id: [] for message_id in wanted}
        while pending:
            ids = list(pending)
            calls = [("GET", pending[message_id]) for message_id in ids]
            answers = self.client.batch(calls, what="attachments", permission=READ)
            pending = {}
            for message_id, answer in zip(ids, answers, strict=True):
                if not answer.ok or not isinstance(answer.body, dict):
                    problem = answer.failure().describe() if not answer.ok else "not JSON"
                    _logger.warning(
                        "Graph attachments of message %s could not be listed (%s); "
                        "its cloud links are left out",
                        message_id,
                        problem,
                    )
                    listed.pop(message_id)
                    continue
                listed[message_id].extend(
                    item for item in answer.body.get("value", []) if _is_reference(item)
                )
                if answer.body.get("@odata.nextLink"):
                    pending[message_id] = answer.body["@odata.nextLink"]

        # The list asks only for what every attachment has; a link's address, when Graph
        # keeps one, is read from the link itself. Links are rare, so this costs little.
        unaddressed = [
            (message_id, item)
            for message_id, items in listed.items()
            for item in items
            if not item.get("sourceUrl")
        ]
        calls = [
            ("GET", f"{self.base}/messages/{message_id}/attachments/{item['id']}")
            for message_id, item in unaddressed
        ]
        answers = self.client.batch(calls, what="attachments", permission=READ)
        for (_message_id, item), answer in zip(unaddressed, answers, strict=True):
            if answer.ok and isinstance(answer.body, dict):
                item["sourceUrl"] = answer.body.get("sourceUrl")
        return {
            message_id: [
                {
                    "name": item.get("name") or "",
                    "url": item.get("sourceUrl") or "",
                    "mimetype": item.get("contentType") or "",
                }
                for item in items
            ]
            for message_id, items in listed.items()
        }

    def reference_attachments(self, message_id):
        """The cloud links attached to a message: ``[{"id", "name", "content_type", "size",
        "source_url"}]``; empty when it has none. They are not in the MIME and have no bytes,
        so the engine stores them as link records (case B10)."""
        path = f"{self.base}/messages/{message_id}/attachments"
        select = "?$select=id,name,contentType,size,isInline"
        listed = []
        for page in self.client.pages(path + select, what="attachments", permission=READ):
            listed.extend(page.get("value", []))
        refs = [a for a in listed if a.get("@odata.type", "").endswith("referenceAttachment")]
        calls = [("GET", f"{path}/{item['id']}") for item in refs]
        answers = self.client.batch(calls, what="attachments", permission=READ)
        links = []
        for item, answer in zip(refs, answers, strict=True):
            full = answer.body if answer.ok and isinstance(answer.body, dict) else item
            links.append(
                {
                    "id": item["id"],
                    "name": full.get("name") or item.get("name") or "",
                    "content_type": full.get("contentType"),
                    "size": full.get("size"),
                    "source_url": full.get("sourceUrl"),
                }
            )
        return links

    # Send

    def send(self, raw, thread_id=None):
        return graph_send.send(self, raw)


def _is_reference(attachment):
    return attachment.get("@odata.type", "").endswith("referenceAttachment")


def _is_delta_link(link):
    return "$deltatoken=" in link or "%24deltatoken=" in link
