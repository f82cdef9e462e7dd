"""The demo's client files: profiles and contacts for correspondents of the bundled mail.

Every role appears, some addresses are linked and some are not, and some contacts hold a role
that does not file, so the demo shows the filing rule at work: some mail is filed, some stays
unfiled. The expected outcome for the bundled mail is worked out in ``EXPECTED_FILING``.
"""

# (profile name, profile type, [(contact name, role, [(address, linked), ...]), ...])
PROFILES = [
    (
        "Sauder family",
        "family",
        [
            ("Doug Sauder", "participant", [("doug@example.com", True)]),
            ("Joe Blow", "dependent", [("jblow@example.com", True)]),
            ("Jürgen Schmürgen", "non_dependent", [("schmuergen@example.com", False)]),
        ],
    ),
    (
        "Wayne Enterprises",
        "company",
        [
            (
                "Bruce Wayne",
                "participant",
                [("bruce@wayneenterprises.com", True), ("bruce@wayne-enterprises.com", True)],
            ),
            ("Heinz Müller", "accountant", [("mueller@example.com", True)]),
        ],
    ),
    (
        "Simpson household",
        "family",
        [
            ("Marge Simpson", "participant", [("marge@example.org", True)]),
            (
                "Homer Simpson",
                "participant",
                [("homer@example.org", True), ("homer@example.com", False)],
            ),
        ],
    ),
    (
        "Marley trust",
        "trust",
        [("Bob Marley", "participant", [("bob@marley.com", True), ("bob@example.net", True)])],
    ),
    (
        "Kijitora super fund",
        "super_fund",
        [
            (
                "Kijitora",
                "participant",
                [("kijitora@example.com", True), ("kijitora@example.jp", False)],
            ),
            ("Neko Nyaan", "referrer", [("nekonyaan@example.org", True)]),
        ],
    ),
    (
        "Mary Smith",
        "person",
        [
            ("Mary Smith", "participant", [("mary@x.test", True)]),
            ("Jane Sender", "solicitor", [("jane_sender@example.org", True)]),
        ],
    ),
]

# Bundled file -> profiles it must be filed into, worked out by hand from its headers and the
# table above. Files not listed stay unfiled.
EXPECTED_FILING = {
    # From doug@ (participant, linked); To "Jürgen" (unlinked, files nothing)
    "005-outlook-invalid-charset.eml": ["Sauder family"],
    # From doug@, To jblow@ (dependent, linked)
    "009-utf7-outlook.eml": ["Sauder family"],
    "025-outlook2000-related-cid.eml": ["Sauder family"],
    # From bruce@wayneenterprises.com; no To
    "019-rfc2231-continuation-filename.eml": ["Wayne Enterprises"],
    # From "Batman" <bruce@wayne-enterprises.com> (Bruce's second address); To Heinz (accountant)
    "033-nested-rfc822-with-attachments.eml": ["Wayne Enterprises"],
    # From bruce@example.com (unknown) to Heinz, an accountant: a role that does not file
    # "034-attached-message-missing-headers.eml": unfiled
    # Marge to Homer, both participants
    "045-outlook-meeting-request.eml": ["Simpson household"],
    # To homer@example.com, Homer's unlinked address
    # "046-google-meet-invite.eml": unfiled
    # From Bob Marley at either of his linked addresses
    "038-gmail-leading-blank-line-enclosed.eml": ["Marley trust"],
    "079-gmail-web-plain.eml": ["Marley trust"],
    # From Neko Nyaan (referrer, does not file) to kijitora@example.com (participant, linked)
    "057-outlook-auto-reply.eml": ["Kijitora super fund"],
    # To kijitora@example.jp, unlinked
    # "069-idn-punycode-bounce.eml": unfiled
    # To Mary Smith among others
    "066-quoted-escaped-names.eml": ["Mary Smith"],
    # From Joe Recipient to Jane Sender, a solicitor: does not file
    # "056-mdn-read-receipt.eml": unfiled
}
