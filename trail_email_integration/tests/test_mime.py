"""Tests of core/mime/, the Odoo-free message parser.

Plain pytest functions, run by the pytest part of ``./dev test`` (``./dev test -k mime`` picks
them). Odoo's test loader only runs its own TestCase classes, so it ignores them. The package
is loaded from its folder, so that nothing of the addon, which needs Odoo, is imported with it.
"""

import base64
import dataclasses
import hashlib
import importlib.util
import os
import random
import struct
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CASES = HERE / "data" / "cases"


def _load_mime():
    name = "trail_email_integration_core_mime_under_test"
    if name in sys.modules:
        return sys.modules[name]
    folder = HERE.parent / "core" / "mime"
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


mime = _load_mime()


def _case(name: str) -> bytes:
    return (CASES / name).read_bytes()


def _parse(name: str):
    return mime.parse_message(_case(name))


def _strings(value):
    """Every str inside a parsed message, recursively."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value):
        for item in dataclasses.fields(value):
            yield from _strings(getattr(value, item.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _assert_storable(parsed):
    for text in _strings(parsed):
        assert "\x00" not in text
        assert not any(0xD800 <= ord(char) <= 0xDFFF for char in text), repr(text[:80])
        text.encode("utf-8")  # what PostgreSQL receives


def _readable(parsed) -> str:
    """Everything a user could read: subject, bodies, participants, file names."""
    people = [
        f"{a.name} {a.email}"
        for group in (parsed.from_, parsed.sender, parsed.reply_to, parsed.to, parsed.cc)
        for a in group
    ]
    names = [a.filename for a in parsed.attachments]
    return "\n".join([parsed.subject, parsed.text, parsed.html, *people, *names])


# file -> (number of attachments, snippets that must be readable)
EXPECTED = {
    "001-cp1252-no-charset-8bit.eml": (0, ["día de la Hispanidad", "español"]),
    "002-utf8-body-declared-cp1252.eml": (0, ["メールを簡単に", "Thunderbird"]),
    # Shift_JIS labelled 'utf8' cannot be guessed; only the subject is readable
    "003-sjis-body-declared-utf8.eml": (0, ["Test Encoding", "Thunderbird"]),
    "004-bogus-charset-name.eml": (0, ["term Mätterhorn", "term Matterhörn"]),
    "005-outlook-invalid-charset.eml": (0, ["Slow but steady wins the race", "Jürgen Schmürgen"]),
    "007-ks_c_5601-1987-body.eml": (0, ["스티해"]),
    "008-iso-2022-jp-looks-like-qp.eml": (0, ["現況"]),
    "009-utf7-outlook.eml": (0, ["Die Hasen und die Frösche", "mißliche Lage", "Jürgen"]),
    "010-big5-8bit-header-empty-cte.eml": (0, ["MP3 (2004", "4d8119"]),
    "011-x-mac-cyrillic-comma-in-name.eml": (
        0,
        ["ACADEMIC NEWSLETTER", "Science and Education Foundation, Bulgaria"],
    ),
    "012-iso-8859-8-i-subject.eml": (1, ["מענה 'אני לא נמצא': Invoice 02722027", "attach01"]),
    "014-ew-unknown-charset-bad-padding.eml": (0, ["TEST"]),
    "015-ew-partially-encoded-subject.eml": (0, ['Re: Test: "漢字" mid "漢字" tail', "하나님을"]),
    "016-8bit-headers-encoding-madness.eml": (0, ["eBay Bid - 2008 Ford", "Body Text"]),
    "017-ew-comma-in-encoded-name.eml": (0, ["LastßlName, FirstName", 'John "Johnny" Doe']),
    "018-malformed-8bit-headers.eml": (0, ["Hello", "Юникод"]),
    "019-rfc2231-continuation-filename.eml": (1, ["plop", "62_@;,][)=.(ÇÀÉ.txt"]),
    "021-rfc2231-encoded-filename-gmail.eml": (1, ["Pitbull.mp3", "Forwarded message"]),
    "022-raw-8bit-filename.eml": (1, ["ciële.txt", "This is the first part."]),
    "023-ew-filename-base64.eml": (1, ["This is a test.pdf", "Base64 encoded filename"]),
    "024-malformed-content-disposition.eml": (0, ["Body of a message whose only part"]),
    "025-outlook2000-related-cid.eml": (3, ["The Hare and the Tortoise", "redball.png"]),
    "026-apple-mail-related-attachments.eml": (3, ["example.md", "example.py"]),
    "027-related-first-then-alternative.eml": (1, ["HTML Body"]),
    "028-unreferenced-inline-image.eml": (1, ["Test body content.", "sample.png"]),
    "029-android-mms-related.eml": (4, ["This is a sample SMS text to email", "footer.gif"]),
    "031-nodemailer-unicode-cid.eml": (
        3,
        ["Nodemailer is unicode friendly ✔", "nyan cat ✔.gif", "Hello to myself"],
    ),
    "032-long-line-24k-cid.eml": (3, ["This is an HTML message", "attachment.txt"]),
    "033-nested-rfc822-with-attachments.eml": (2, ["one normal attachment", "message1.eml"]),
    "034-attached-message-missing-headers.eml": (1, ["attachment with missing headers"]),
    "035-rfc822-base64-encoded.eml": (1, ["Outer body."]),
    "037-groupwise-top-level-rfc822.eml": (1, ["GroupwiseForwardingTest"]),
    "038-gmail-leading-blank-line-enclosed.eml": (1, ["Hello", "Александр Примеров☯"]),
    # named 'winmail.dat' in the manifest, but it holds one PDF with a folded RFC 2047 name
    "039-winmail-dat-attachment.eml": (
        1,
        ["ATT N° 1467829.pdf", "préserver notre environnement"],
    ),
    "040-tnef-top-level-read-receipt.eml": (1, ["Read: invitation", "winmail.dat"]),
    "041-smime-multipart-signed.eml": (
        1,
        ["This is a test message from Alice to Bob", "smime.p7s"],
    ),
    "043-smime-enveloped.eml": (1, ["enveloped", "smime.p7m"]),
    "045-outlook-meeting-request.eml": (1, ["Testaus"]),
    "046-google-meet-invite.eml": (2, ["Meeeeet me HTML", "invite.ics"]),
    "048-ical-cancel.eml": (1, ["Cancellation: Single Event", "Somewhere"]),
    "050-o365-ndr.eml": (0, ["Delivery has failed", "The email address wasn\u2019t found"]),
    "051-gmail-bounce-plain.eml": (0, ["Delivery to the following recipient failed permanently"]),
    "052-googleworkspace-dsn.eml": (2, ["Message not delivered", "icon.png"]),
    # no human-readable part at all: only the report parts and the returned message
    "054-dsn-multiple-status.eml": (3, ["Mail System Error - Returned Mail"]),
    "055-arf-abuse-report.eml": (2, ["This is an email abuse report"]),
    "056-mdn-read-receipt.eml": (2, ["has been displayed"]),
    "057-outlook-auto-reply.eml": (0, ["out of the office Friday", "Neko, Nyaan"]),
    "058-bounce-qp-rfc822-headers.eml": (2, ["be delivered to one or more recipients"]),
    "059-no-from-no-message-id.eml": (0, ["This mail has no from address."]),
    "064-subject-200kb.eml": (0, ["Die heiße Zypernsonne quälte Max", "test"]),
    "065-group-syntax.eml": (0, ["Testing.", "Chris Jones c@a.test"]),
    "066-quoted-escaped-names.eml": (0, ["Hi everyone.", 'Giant; "Big" Box']),
    "068-eai-utf8-addresses.eml": (0, ["Säying Hello", "jdöe@mächine.example"]),
    "069-idn-punycode-bounce.eml": (2, ["The original message was received", "xn--cesupi09d.jp"]),
    "071-multiple-from-addresses.eml": (0, ["recordkick", "concierge@example.com"]),
    "073-empty-html-body.eml": (0, ["transport autorisation 19T", "Frédéric EXEMPLE"]),
    "074-empty-subject.eml": (0, ["Hello there"]),
    "075-base64-image-as-root.eml": (1, ["screenshot.png"]),
    "079-gmail-web-plain.eml": (0, ["I'm just testing message parsing"]),
    # QP soft line breaks inside the long URL must be joined
    "080-gmail-html-long-links-qp.eml": (
        0,
        ["extremely long links", "www.horizont.at%2Fhome%2Fdetail%2Fgoogle-ist-geldgeber"],
    ),
    "13-no-to-header.eml": (0, ["Weekly digest (sent with Bcc only)"]),
    "14-no-message-id.eml": (0, ["Device-generated message"]),
    "15-message-id-bracketed-literal.eml": (0, ["raised IndexError"]),
    "18a-sent-from-crm.eml": (0, ["Quotation Q-2024-0042", "the CRM logged"]),
    "18b-same-mail-from-provider-sent-folder.eml": (0, ["Quotation Q-2024-0042", "Sent Items"]),
    "21-date-minus-zero.eml": (0, ["Date with -0000"]),
    "23-mixed-case-address.eml": (0, ["Anna.EXAMPLE@Example-Corp.COM"]),
    "25-secondary-address.eml": (0, ["Writing from my other address"]),
    "26-display-name-equals-address.eml": (0, ["erin@example.com"]),
    "28-qp-cp1252-declared-latin1.eml": (0, ["I¹ll call the supplier today.", "Kim"]),
    "29-emoji-4byte.eml": (0, ["Great news 😀 🥇", "see you tomorrow 🥇"]),
    "31-undecodable-8bit-headers.eml": (0, ["Olá José", "Pedido nº 7 ê", "José Example"]),
    "33-charset-unicode.eml": (0, ["is not a codec name"]),
    "35-outlook-eml-attachment.eml": (1, ["See attached.", "Original request.eml"]),
    "38-invalid-media-parameters.eml": (1, ["Order received", "invoice 2020 10.pdf"]),
}


def test_every_case_file_is_pinned_and_listed():
    files = {path.name for path in CASES.glob("*.eml")}
    assert files == set(EXPECTED)
    manifest = (CASES / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    assert manifest[0].startswith("file\t")
    rows = {line.split("\t")[0]: line.split("\t") for line in manifest[1:]}
    assert set(rows) == files
    for name, row in rows.items():
        data = _case(name)
        assert row[7] == str(len(data)), name
        assert row[8] == hashlib.sha256(data).hexdigest(), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_file(name):
    count, snippets = EXPECTED[name]
    parsed = _parse(name)
    _assert_storable(parsed)
    assert len(parsed.attachments) == count, [a.filename for a in parsed.attachments]
    readable = _readable(parsed)
    for snippet in snippets:
        assert snippet in readable, snippet
    for attachment in parsed.attachments:
        assert attachment.filename
        assert attachment.mimetype
        assert isinstance(attachment.content, bytes)


# ------------------------------------------------------------------------------------------
# Bug rows


def test_b13_no_to_header():
    parsed = _parse("13-no-to-header.eml")
    assert parsed.to == [] and parsed.cc == [] and parsed.bcc == []
    assert [a.email for a in parsed.from_] == ["newsletter@example.org"]
    assert _parse("059-no-from-no-message-id.eml").from_ == []


def test_b14_no_message_id_is_not_synthesised():
    raw = _case("14-no-message-id.eml")
    parsed = mime.parse_message(raw)
    assert parsed.message_id == ""
    assert not any(name.lower() == "message-id" for name, _value in parsed.headers)
    key = mime.fallback_key(parsed)
    assert len(key) == 64
    assert key == mime.fallback_key(mime.parse_message(raw))
    # the same mail over another transport (LF endings, extra trace header) keeps its key
    relayed = b"Received: from relay.example.net\r\n" + raw
    assert mime.fallback_key(mime.parse_message(relayed.replace(b"\r\n", b"\n"))) == key
    other = raw.replace(b"Voicemail from +1 555 0100", b"Voicemail from +1 555 0199")
    assert mime.fallback_key(mime.parse_message(other)) != key


def test_b15_bracketed_literal_message_id():
    parsed = _parse("15-message-id-bracketed-literal.eml")
    assert parsed.message_id == "[ABCDEF====@microsoft.com]"
    assert not parsed.defects


def test_b16_same_message_id_different_content():
    direct = (
        b"From: Dev <dev@example.org>\r\nTo: team@example.org\r\nSubject: Build broken\r\n"
        b"Message-ID: <shared-1@example.org>\r\nDate: Mon, 1 Jul 2024 10:00:00 +0000\r\n\r\n"
        b"The nightly build failed.\r\n"
    )
    list_copy = direct.replace(b"Subject: Build broken", b"Subject: [dev-list] Build broken")
    list_copy += b"-- \r\nYou received this because you are subscribed to dev-list.\r\n"
    first, second = mime.parse_message(direct), mime.parse_message(list_copy)
    assert first.message_id == second.message_id == "shared-1@example.org"
    assert mime.content_digest(direct) != mime.content_digest(list_copy)
    # the CRM copy and the provider's Sent copy share an id but not their text
    crm, sent = _case("18a-sent-from-crm.eml"), _case("18b-same-mail-from-provider-sent-folder.eml")
    assert mime.parse_message(crm).message_id == mime.parse_message(sent).message_id
    assert mime.content_digest(crm) != mime.content_digest(sent)


def test_content_digest_ignores_transport():
    raw = _case("13-no-to-header.eml")
    relayed = b"Received: from mx.example.com by gmail\r\n\tfor <x@example.com>\r\n" + raw
    assert mime.content_digest(relayed.replace(b"\r\n", b"\n")) == mime.content_digest(raw)
    assert mime.content_digest(raw) == mime.content_digest(raw)
    assert mime.content_digest(b"") and mime.content_digest(b"\xff\x00garbage")


def test_b21_minus_zero_date_is_utc_whatever_the_host_zone():
    raw = _case("21-date-minus-zero.eml")
    saved = os.environ.get("TZ")
    results = []
    try:
        for zone in ("UTC", "Australia/Sydney", "America/St_Johns"):
            os.environ["TZ"] = zone
            time.tzset()
            parsed = mime.parse_message(raw)
            results.append((parsed.date, parsed.date.timestamp()))
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()
    expected = datetime(2024, 3, 2, 12, 27, 25, tzinfo=timezone.utc)
    assert all(result == (expected, expected.timestamp()) for result in results)
    assert results[0][0].utcoffset().total_seconds() == 0


def test_dates_are_aware_utc():
    parsed = _parse("065-group-syntax.eml")  # -0330 in 1969
    assert parsed.date == datetime(1969, 2, 14, 3, 2, 54, tzinfo=timezone.utc)
    broken = mime.parse_message(b"Date: yesterday-ish\r\nSubject: x\r\n\r\nbody\r\n")
    assert broken.date is None
    assert any("Date" in note for note in broken.defects)


def test_b23_mixed_case_addresses_kept_as_written():
    parsed = _parse("23-mixed-case-address.eml")
    assert [(a.name, a.email) for a in parsed.from_] == [
        ("Anna Example", "Anna.EXAMPLE@Example-Corp.COM")
    ]
    assert [a.email for a in parsed.to] == ["Sales@Example.com"]


def test_b26_display_name_that_is_an_address():
    parsed = _parse("26-display-name-equals-address.eml")
    assert [a.email for a in parsed.from_] == ["alice@example.com"]
    assert [a.email for a in parsed.to] == ["bob@example.com", "carol@example.com"]
    assert [a.email for a in parsed.cc] == ["erin@example.com"]


def test_b28_cp1252_in_latin1_qp_not_truncated():
    parsed = _parse("28-qp-cp1252-declared-latin1.eml")
    assert parsed.text.startswith("Yes, that¹s fine for us.\nI¹ll call the supplier today.")
    assert "Thanks,\nKim" in parsed.text


def test_b29_emoji_round_trip():
    parsed = _parse("29-emoji-4byte.eml")
    assert parsed.subject == "Great news \U0001f600 \U0001f947"
    assert "Thanks \U0001f602 see you tomorrow \U0001f947" in parsed.text
    for text in (parsed.subject, parsed.text):
        assert text.encode("utf-8").decode("utf-8") == text


def test_b31_undecodable_8bit_headers():
    parsed = _parse("31-undecodable-8bit-headers.eml")
    _assert_storable(parsed)
    assert [(a.name, a.email) for a in parsed.from_] == [("José Example", "jose@example.com")]
    assert parsed.subject == "Pedido nº 7 ê"
    assert parsed.text.startswith("Olá José, segue o pedido nº 7")
    assert ("From", "José Example <jose@example.com>") in parsed.headers


def test_b32_windows_874_thai():
    thai = "สวัสดีครับ ใบเสนอราคา"
    subject = base64.b64encode(thai.encode("cp874")).decode()
    raw = (
        b"From: =?windows-874?B?" + base64.b64encode("สมชาย".encode("cp874")) + b"?= "
        b"<somchai@example.co.th>\r\nTo: sales@example.com\r\n"
        b"Subject: =?windows-874?B?" + subject.encode() + b"?=\r\n"
        b"Message-ID: <thai-1@example.co.th>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=windows-874\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + thai.encode("cp874") + b"\r\n"
    )
    parsed = mime.parse_message(raw)
    assert parsed.subject == thai
    assert parsed.text.strip() == thai
    assert parsed.from_[0].name == "สมชาย"


def test_b33_charset_unicode():
    parsed = _parse("33-charset-unicode.eml")
    assert parsed.text.startswith('The label "unicode" is not a codec name (LookupError).')
    utf16 = "Grüße".encode("utf-16")
    assert mime.decode_bytes(utf16, "unicode") == "Grüße"
    assert mime.decode_bytes("Grüße".encode(), '"Unicode"') == "Grüße"


def test_b35_rfc822_attachment_is_byte_exact():
    raw = _case("35-outlook-eml-attachment.eml")
    parsed = mime.parse_message(raw)
    (attachment,) = parsed.attachments
    assert attachment.filename == "Original request.eml"
    assert attachment.mimetype == "message/rfc822"
    start = raw.index(b'filename="Original request.eml"\r\n\r\n') + len(
        b'filename="Original request.eml"\r\n\r\n'
    )
    end = raw.index(b"\r\n--_002_outer1_--")
    assert attachment.content == raw[start:end]
    # the inner participants are not the outer mail's participants
    assert [a.email for a in parsed.from_] == ["rep@example.com"]


@pytest.mark.parametrize(
    "name",
    [
        "033-nested-rfc822-with-attachments.eml",
        "034-attached-message-missing-headers.eml",
        "037-groupwise-top-level-rfc822.eml",
        "038-gmail-leading-blank-line-enclosed.eml",
        "052-googleworkspace-dsn.eml",
        "069-idn-punycode-bounce.eml",
    ],
)
def test_attached_messages_are_slices_of_the_original(name):
    raw = _case(name)
    emls = [a for a in mime.parse_message(raw).attachments if a.mimetype == "message/rfc822"]
    assert emls
    for attachment in emls:
        assert attachment.filename.endswith(".eml")
        assert attachment.content and attachment.content in raw


def test_base64_rfc822_part_is_decoded():
    raw = _case("035-rfc822-base64-encoded.eml")
    encoded = raw.split(b"base64\n\n", 1)[1].split(b"\n", 1)[0]
    (attachment,) = mime.parse_message(raw).attachments
    assert attachment.content == base64.b64decode(encoded)
    assert attachment.content.startswith(b"Subject: Hi\n")
    assert attachment.filename == "Hi.eml"


def test_b38_invalid_media_parameters():
    parsed = _parse("38-invalid-media-parameters.eml")
    assert parsed.text.startswith("Order received (note the doubled semicolon")
    (attachment,) = parsed.attachments
    assert attachment.filename == "invoice 2020 10.pdf"
    assert attachment.mimetype == "application/pdf"
    assert attachment.content.startswith(b"%PDF-1.1")
    assert parsed.defects  # the missing final boundary is recorded, not raised


# ------------------------------------------------------------------------------------------
# Message-ID normalisation


def test_message_id_variants_normalise_equal():
    variants = [
        "<abc.123@example.com>",
        " <abc.123@example.com> ",
        "abc.123@example.com",
        "<abc.123@example.com\r\n >",
        "\r\n <abc.123\r\n @example.com>",
        "<abc.123@example.com> (added by relay)",
        "\t<abc.123@example.com",
    ]
    assert {mime.normalise_message_id(value) for value in variants} == {"abc.123@example.com"}
    assert mime.normalise_message_id("") == ""


def test_folded_message_id_header_parses_equal():
    body = b"Subject: x\r\nFrom: a@example.com\r\n\r\nbody\r\n"
    plain = mime.parse_message(b"Message-ID: <id-7@example.com>\r\n" + body)
    folded = mime.parse_message(b"Message-ID:\r\n  <id-7@example.com>  \r\n" + body)
    assert plain.message_id == folded.message_id == "id-7@example.com"


def test_references_and_in_reply_to():
    raw = (
        b"Message-ID: <c@x>\r\nIn-Reply-To: <b@x> (comment)\r\n"
        b"References: <a@x>\r\n <b@x>\r\n\t<a@x>\r\nSubject: Re\r\n\r\nok\r\n"
    )
    parsed = mime.parse_message(raw)
    assert parsed.in_reply_to == "b@x"
    assert parsed.references == ["a@x", "b@x"]


# ------------------------------------------------------------------------------------------
# Addresses


def test_group_syntax_yields_members_only():
    parsed = _parse("065-group-syntax.eml")
    assert [(a.name, a.email) for a in parsed.to] == [
        ("Chris Jones", "c@a.test"),
        ("", "joe@where.test"),
        ("John", "jdoe@one.test"),
    ]
    assert parsed.cc == []


def test_encoded_name_with_comma_stays_one_address():
    parsed = _parse("017-ew-comma-in-encoded-name.eml")
    assert [(a.name, a.email) for a in parsed.from_] == [
        ("LastßlName, FirstName", "comma.name@example.com")
    ]
    assert [a.email for a in parsed.cc] == ["simple@example.net", "john.doe@example.com"]


def test_eai_utf8_addresses():
    parsed = _parse("068-eai-utf8-addresses.eml")
    assert [(a.name, a.email) for a in parsed.from_] == [("Jöhn Doe", "jdöe@mächine.example")]
    assert [a.email for a in parsed.to] == ["märy@exämple.net"]


def test_address_fallbacks():
    parse = mime.parse_addresses
    assert [a.email for a in parse("dave@x.example <erin@y.example>")[0]] == ["erin@y.example"]
    assert [a.email for a in parse("a@x.example b@y.example")[0]] == ["a@x.example", "b@y.example"]
    assert parse('"Nobody" <>')[0] == []
    assert parse("Undisclosed recipients:;")[0] == []
    assert parse("Array")[0] == []
    named = parse("pete@silly.test (Pete Example)")[0]
    assert [(a.name, a.email) for a in named] == [("Pete Example", "pete@silly.test")]


# ------------------------------------------------------------------------------------------
# Body and attachments


def test_apple_mail_related_attachments_are_kept():
    parsed = _parse("026-apple-mail-related-attachments.eml")
    assert [(a.filename, a.mimetype, a.inline) for a in parsed.attachments] == [
        ("example.md", "text/markdown", True),
        ("example.sh", "application/octet-stream", True),
        ("example.py", "text/x-python-script", True),
    ]
    assert parsed.attachments[2].content == b'print("Hello World")\n'


def test_inline_flags_follow_cid_references():
    parsed = _parse("025-outlook2000-related-cid.eml")
    flags = {a.filename: (a.inline, a.content_id) for a in parsed.attachments}
    assert flags["blueball.png"] == (True, "938014623@17052000-0f9b")
    assert flags["greenball.png"] == (False, "")
    unreferenced = _parse("028-unreferenced-inline-image.eml").attachments[0]
    assert unreferenced.inline is False
    assert unreferenced.content.startswith(b"\x89PNG")


def test_top_level_image_is_one_attachment():
    parsed = _parse("075-base64-image-as-root.eml")
    (attachment,) = parsed.attachments
    assert (attachment.filename, attachment.mimetype) == ("screenshot.png", "image/png")
    assert attachment.content.startswith(b"\x89PNG\r\n")
    assert parsed.text == "" and parsed.html == ""


def test_calendar_and_signature_parts_are_attachments():
    invite = _parse("045-outlook-meeting-request.eml").attachments[0]
    assert (invite.filename, invite.mimetype) == ("attachment-1.ics", "text/calendar")
    assert b"BEGIN:VCALENDAR" in invite.content
    signed = _parse("041-smime-multipart-signed.eml")
    assert signed.text == "This is a test message from Alice to Bob.\n"
    assert signed.attachments[0].mimetype == "application/pkcs7-signature"


def test_report_parts_are_attachments():
    parsed = _parse("058-bounce-qp-rfc822-headers.eml")
    types = [a.mimetype for a in parsed.attachments]
    assert types == ["message/delivery-status", "text/rfc822-headers"]
    headers = parsed.attachments[1].content
    assert b"=3D" not in headers and b"Message-Id:" in headers


def test_alternative_picks_first_plain_and_html():
    parsed = _parse("080-gmail-html-long-links-qp.eml")
    assert parsed.text.startswith("Hello Bob,")
    assert "<div" not in parsed.text
    watch = _parse("031-nodemailer-unicode-cid.eml")
    assert "text/watch-html" not in [a.mimetype for a in watch.attachments]


def test_text_derived_from_html_when_no_text_part():
    parsed = _parse("034-attached-message-missing-headers.eml")
    assert parsed.text == "This message has one email attachment with missing headers."
    assert parsed.html.startswith("<html>")


def _tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    header = struct.pack("<BHHI", level, name, kind, len(data))
    return header + data + struct.pack("<H", sum(data) & 0xFFFF)


def test_winmail_dat_is_kept_and_unpacked():
    pytest.importorskip("tnefparse")
    tnef = struct.pack("<IH", 0x223E9F78, 1)
    tnef += _tnef_object(1, 0x800C, 0x0002, b"Body from TNEF, please see the report.")
    tnef += _tnef_object(2, 0x9002, 0x0006, b"\x00" * 14)
    tnef += _tnef_object(2, 0x8010, 0x0001, b"report.txt\x00")
    tnef += _tnef_object(2, 0x800F, 0x0006, b"figures for Q3\n")
    encoded = base64.encodebytes(tnef)
    raw = (
        b"From: Exchange User <user@example.com>\r\nTo: crm@example.com\r\n"
        b"Subject: Q3 report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="winmail.dat"\r\n\r\n'
        + encoded.replace(b"\n", b"\r\n")
        + b"--b1--\r\n"
    )
    parsed = mime.parse_message(raw)
    assert [(a.filename, a.content) for a in parsed.attachments] == [
        ("winmail.dat", tnef),
        ("report.txt", b"figures for Q3\n"),
    ]
    assert parsed.text == "Body from TNEF, please see the report."
    assert any("TNEF" in note for note in parsed.defects)


def test_unreadable_winmail_dat_is_kept_and_flagged():
    parsed = _parse("040-tnef-top-level-read-receipt.eml")
    (attachment,) = parsed.attachments
    assert attachment.filename == "winmail.dat"
    assert any("TNEF" in note for note in parsed.defects)


# ------------------------------------------------------------------------------------------
# Charsets


@pytest.mark.parametrize(
    ("data", "label", "expected"),
    [
        ("ทดสอบ".encode("cp874"), "windows-874", "ทดสอบ"),
        ("Привет".encode("mac_cyrillic"), "x-mac-cyrillic", "Привет"),
        ("שלום".encode("iso-8859-8"), "iso-8859-8-i", "שלום"),
        (b"caf\xc3\xa9", "utf8", "café"),
        (b"it\x92s", "iso-8859-1", "it\u2019s"),  # WHATWG: latin-1 is windows-1252
        (b"it\x92s", "us-ascii", "it\u2019s"),
        (b"caf\xe9", "bad-charset", "café"),
        (b"caf\xe9", "base64", "café"),  # a codec, but not a text encoding
        (b"caf\xe9", None, "café"),
        ("한국어".encode("cp949"), "ks_c_5601-1987", "한국어"),
        (b"Ol+AOE-", "utf-7", "Olá"),
        (b"\xe6\x97\xa5\xe6\x9c\xac", "windows-1252", "日本"),  # valid UTF-8 mislabelled
    ],
)
def test_decode_bytes(data, label, expected):
    assert mime.decode_bytes(data, label) == expected


def test_decode_bytes_never_returns_unstorable_text():
    assert mime.decode_bytes(b"a\x00b\x81\x8d", "utf-8") == "ab\ufffd\ufffd"
    lone_surrogate = mime.decode_bytes(b"\xff\xfe\x00\xd8", "utf-16")
    assert lone_surrogate == "ÿþØ"  # UTF-16 and UTF-8 refuse it; cp1252 reads it, NUL dropped
    assert mime.decode_bytes(b"", "nonsense") == ""


# ------------------------------------------------------------------------------------------
# Never raise


def test_parse_message_never_raises_on_random_input():
    generator = random.Random(20240601)
    seeds = [_case(name) for name in sorted(EXPECTED)]
    inputs = [b"", b"\r\n", b"\x00" * 10, b"Content-Type: multipart/mixed\r\n\r\n--"]
    for _ in range(60):
        inputs.append(bytes(generator.getrandbits(8) for _ in range(generator.randint(1, 400))))
    for seed in seeds:
        inputs.append(seed[: generator.randint(0, len(seed))])
        mutated = bytearray(seed[:4000])
        for _ in range(20):
            if mutated:
                mutated[generator.randrange(len(mutated))] = generator.getrandbits(8)
        inputs.append(bytes(mutated))
    deep = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" * 300
    inputs.append(deep)
    for data in inputs:
        parsed = mime.parse_message(data)
        _assert_storable(parsed)
        assert isinstance(mime.content_digest(data), str)
        assert len(mime.fallback_key(parsed)) == 64


def test_unparseable_input_still_returns_a_message():
    parsed = mime.parse_message(None)
    assert isinstance(parsed, mime.ParsedMessage)
    parsed = mime.parse_message(b"\r\n\r\nSubject: late\r\n\r\nbody")
    assert parsed.subject == "late"
    assert parsed.defects


def test_headers_read_once_give_the_same_message():
    # The engine reads the headers first (for the never-capture lists) and hands them on.
    variants = 0
    for path in sorted(CASES.glob("*.eml")):
        raw = path.read_bytes()
        for sample in (
            raw,
            raw.replace(b"\r\n", b"\n"),
            b"\r\n\r\n" + raw,
            raw[: len(raw) // 2],
            raw.split(b"\n\n", 1)[0],
        ):
            headers = mime.parse_headers(sample)
            assert headers is not None, path.name
            assert not headers.text and not headers.html and not headers.attachments
            assert dataclasses.asdict(mime.parse_message(sample, headers=headers)) == (
                dataclasses.asdict(mime.parse_message(sample))
            ), path.name
            variants += 1
    assert variants > 300
    assert mime.parse_headers(b"") is not None
