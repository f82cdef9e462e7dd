"""Turn raw RFC 822 bytes into a plain, storable description of one email.

What it is
    The Odoo-free message parser of trail_email_integration. ``parse_message`` reads the exact
    bytes a provider returned (Gmail ``format=raw``, Graph ``$value``, an IMAP ``BODY[]``) and
    returns a :class:`ParsedMessage`: ids, dates, participants, subject, text and HTML bodies,
    attachments and a list of defects. Every string in it is safe for a PostgreSQL ``text``
    column (no NUL, no lone surrogates). It never raises: whatever could not be read is
    described in ``defects`` and the rest is still returned.

How it works
    The standard ``email`` package (``BytesParser`` with a ``compat32`` policy that hands back
    header values untouched, never ``raise_on_defect``) builds the MIME tree. Header values
    are decoded by this package: raw 8-bit bytes as UTF-8, any byte that is not UTF-8 as cp1252;
    RFC 2047 encoded-words leniently (unknown charsets, bad padding, characters split across
    words); bodies with :func:`decode_bytes` (declared charset, then UTF-8, then cp1252). Address
    lists are read with the header registry of ``policy.default`` cross-checked against a scan
    for ``<addr-spec>`` in angle brackets, which wins when they disagree. Parts whose type is
    ``message/*`` are cut out of the original bytes so that attached emails stay byte-exact;
    the stdlib would re-serialise them.

    Body versus attachment, the one rule applied everywhere:

    * A leaf ``text/plain`` or ``text/html`` part without ``Content-Disposition: attachment``
      and without a file name is body. Several such parts (for example an Apple Mail message
      with text between attachments) are joined in order.
    * In ``multipart/alternative`` the first ``text/plain`` child gives the text and the last
      child that is or holds HTML gives the HTML. The other text renderings (``text/plain``,
      ``text/html``, ``text/enriched``, ``text/watch-html``, AMP) repeat the body and are
      dropped; any other child (``text/calendar``, images, files) is an attachment.
    * In ``multipart/related`` the root (``start`` parameter, else the first child) is read as
      above; every other leaf is an attachment, whatever its type.
    * Every other leaf is an attachment: files, images, ``text/calendar`` invites, S/MIME
      ``smime.p7s``/``smime.p7m``, ``message/rfc822`` (kept byte-exact as ``.eml``, decoded
      first if it was base64 or quoted-printable), report parts (``message/delivery-status``,
      ``message/disposition-notification``, ``message/feedback-report``,
      ``text/rfc822-headers``), and a non-text top-level part such as a lone ``image/png``.
      An attached message without a file name is called ``<its subject>.eml``.
    * An attachment is ``inline`` when it has a Content-ID that the HTML body references with
      ``cid:``. Unreferenced images in ``multipart/related`` are kept, with ``inline=False``.
    * Empty parts with neither a file name nor a Content-ID carry nothing and are skipped.
    * ``winmail.dat`` (``application/ms-tnef``) is kept as received. When the optional
      ``tnefparse`` package is installed its files are added as extra attachments, its body is
      used when the MIME message has none, and a defect says that content came from TNEF.

    One module per step, each building on the ones before it:

    * ``model``: the ``ParsedMessage``, ``Address`` and ``Attachment`` records.
    * ``charsets``: bytes to storable text (charset aliases, the fallback chain).
    * ``headers``: the raw parsing policy, encoded-words, Message-IDs, dates.
    * ``address_lists``: address headers read into mailboxes.
    * ``entity``: raw byte slicing (header/body split, multipart parts).
    * ``parts``: what one MIME part says about itself (type, file name, payload, text).
    * ``html_text``: plain text of an HTML body.
    * ``walker``: the walk that sorts parts into body and attachments, TNEF included.
    * ``message``: ``parse_message``, ``content_digest`` and ``fallback_key``.

    Only the names in ``__all__`` are the interface; everything else is private to the package.

How to use it
    ::

        parsed = parse_message(raw_bytes)
        parsed.message_id, [a.email for a in parsed.from_], parsed.subject, parsed.text
        if parsed.message_id:
            dedupe_key = (parsed.message_id, content_digest(raw_bytes))
        else:
            dedupe_key = ("", fallback_key(parsed))

    Store ``raw_bytes`` themselves as the original; never re-serialise the parsed message.

Caveats
    * ``message_id`` is the header value with whitespace and angle brackets removed, never
      synthesised. Distinct messages can share one (B16): pair it with ``content_digest``.
    * ``headers`` hold each value decoded from bytes and unfolded, but encoded-words are left
      as sent, so that they still show what was on the wire.
    * Charset guessing is limited to the fallback chain plus one rule: text that is valid,
      non-ASCII UTF-8 is read as UTF-8 even when a single-byte charset is declared. Text in an
      undeclared multi-byte charset (Shift_JIS labelled UTF-8) ends up with U+FFFD marks.
    * The inner parts of an attached email are not listed as attachments of the outer one;
      they live inside its ``.eml``.
    * Attachment file names lose any directory part and control characters.
    * Body line endings are normalised to ``\n``; attachment bytes are never touched.
    * Below ``MAX_DEPTH`` nested multiparts the rest of the tree is kept whole as one ``.eml``
      attachment instead of being walked.
"""

from .address_lists import parse_addresses
from .charsets import decode_bytes
from .headers import normalise_message_id
from .message import content_digest, fallback_key, parse_headers, parse_message
from .model import Address, Attachment, ParsedMessage

__all__ = [
    "Address",
    "Attachment",
    "ParsedMessage",
    "content_digest",
    "decode_bytes",
    "fallback_key",
    "normalise_message_id",
    "parse_addresses",
    "parse_headers",
    "parse_message",
]
