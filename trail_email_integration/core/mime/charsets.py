"""Bytes to storable text: charset labels and aliases, the fallback chain, header bytes.

Decoded text is always safe for a PostgreSQL ``text`` column. Importing the module registers
the ``trail-mime-cp1252`` codec error handler that header decoding relies on.
"""

import codecs
import re

# Labels Python lacks, or where mail clients (and the WHATWG encoding standard) mean a superset
# of what the Python codec of that name decodes.
_CHARSET_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp819": "cp1252",
    "ibm819": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "x-mac-cyrillic": "mac_cyrillic",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "logical": "iso-8859-8",
    "visual": "iso-8859-8",
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "x-utf8": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "x-euc-jp": "euc_jp",
}

# Labels that name no charset at all: decode with the fallback chain.
_NO_CHARSET = {"", "unknown", "unknown-8bit", "x-unknown", "x-user-defined", "default", "none"}

_SINGLE_BYTE_PREFIXES = ("cp125", "iso8859", "latin", "mac", "koi8", "cp874", "cp437", "cp85")

_SURROGATES_RE = re.compile("[\ud800-\udfff]")
# NUL is refused by PostgreSQL text; the other C0 controls (but tab, LF, CR) only confuse.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(text: str) -> str:
    """Make ``text`` storable: lone surrogates become U+FFFD and NUL bytes are removed."""
    if not text:
        return ""
    return _SURROGATES_RE.sub("\ufffd", text.replace("\x00", ""))


def _normalise_label(declared: str | None) -> str | None:
    """The codec to try for a declared charset label, or None when it names none."""
    if declared is None:
        return None
    label = str(declared).strip().strip("\"'").strip().lower()[:40]
    if label in _NO_CHARSET:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    return label


def _is_single_byte(codec: str) -> bool:
    name = codecs.lookup(codec).name
    return name.startswith(_SINGLE_BYTE_PREFIXES)


def _decode_unicode_label(data: bytes) -> str | None:
    # 'unicode' is what Windows calls UTF-16LE; without a BOM the bytes are usually UTF-8.
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if len(data) >= 4 and data[1:8:2].count(0) >= 2 and len(data) % 2 == 0:
        try:
            return data.decode("utf-16-le")
        except UnicodeDecodeError:
            return None
    return None


def _decode_strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared_charset: str | None) -> str:
    """Decode ``data`` to text without ever failing or truncating.

    Order: the declared charset (after the alias table, with ISO-8859-1 and US-ASCII read as
    windows-1252), UTF-8, cp1252, then the first usable codec with ``errors='replace'``.
    Non-ASCII bytes that form valid UTF-8 win over a declared single-byte charset, because such
    mislabelled mail is common and valid UTF-8 is almost never accidental.
    """
    if not data:
        return ""
    data = bytes(data)
    raw_label = str(declared_charset or "").strip().strip("\"'").strip().lower()
    codec = _normalise_label(declared_charset)
    if raw_label == "unicode":
        text = _decode_unicode_label(data)
        if text is not None:
            return clean_text(text)
        codec = None
    if codec and not data.isascii() and _is_single_byte(codec):
        text = _decode_strict(data, "utf-8")
        if text is not None:
            return clean_text(text)
    for candidate in (codec, "utf-8", "cp1252"):
        if candidate:
            text = _decode_strict(data, candidate)
            if text is not None:
                return clean_text(text)
    return clean_text(data.decode(codec or "utf-8", errors="replace"))


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    chunk = error.object[error.start : error.end]
    return chunk.decode("cp1252", "replace"), error.end


# Header bytes mix UTF-8 with raw Latin-1 (one bad byte in a UTF-8 name is common): each
# invalid byte is read as cp1252 instead of spoiling the whole value.
codecs.register_error("trail-mime-cp1252", _cp1252_fallback)


def decode_header_bytes(data: bytes) -> str:
    """Undeclared 8-bit header bytes: UTF-8, with bytes that are not UTF-8 read as cp1252."""
    return clean_text(data.decode("utf-8", "trail-mime-cp1252"))


# Surrogates that surrogateescape did not make (it makes U+DC80 to U+DCFF only).
_STRAY_SURROGATE_RE = re.compile("[\ud800-\udc7f\udd00-\udfff]")


def _str_to_bytes(value: str, direct_below: int = 0x80) -> bytes:
    """Recover the bytes behind a parsed header string.

    The parser maps each 8-bit byte to a lone surrogate (surrogateescape); RFC 2231 values are
    percent-decoded by the stdlib as Latin-1, so for them pass ``direct_below=0x100``.
    """
    if direct_below == 0x80 and not _STRAY_SURROGATE_RE.search(value):
        # Most values are ASCII with a few escaped bytes: the codec does the same mapping
        # far faster. A surrogate that stands for no byte needs the loop below.
        return value.encode("utf-8", "surrogateescape")
    out = bytearray()
    for char in value:
        code = ord(char)
        if code < direct_below:
            out.append(code)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:
            out += char.encode("utf-8", "replace")
    return bytes(out)
