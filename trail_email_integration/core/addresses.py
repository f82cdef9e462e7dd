"""Email address normalisation: the one canonical form used for storing and matching addresses.

What it is
    ``normalise_address`` turns whatever a user types or a header carries
    (``"Ada" <Ada@Example.COM>``, ``ada@xn--bcher-kva.example``) into the form stored on contacts
    and compared by the filing rule. Two spellings of one mailbox give the same string; anything
    that is not one mailbox gives ``None``.

How it works
    It follows Odoo's ``email_normalize``: the domain is lowercased, and so is an ASCII local part
    (providers treat it as case-insensitive), while a non-ASCII local part is kept as written,
    because SMTPUTF8 mailboxes may be case-sensitive. Two things go further than Odoo:

    - Internationalised domains are compared in their Unicode form, so the punycode spelling
      ``xn--...`` and the Unicode one match.
    - A display name that is itself an address (``a@x.com <b@y.com>``) is ignored in favour of the
      address in angle brackets, which is where mail is delivered.

    Plus-addresses are taken as written: ``ada+tax@example.com`` is a different address.

Caveats
    Only syntax is checked, never deliverability.
"""

import re
from email.utils import getaddresses

_BRACKETED = re.compile(r"<([^<>]*)>")
_LOCAL_ALLOWED = re.compile(r"^[^\s<>()\[\],;:\"@\\]+$")
_DOMAIN_LABEL = re.compile(r"^(?!-)[^\s.@<>()\[\],;:\"\\]{1,63}(?<!-)$")


def normalise_domain(domain: str) -> str | None:
    """Return the lowercase Unicode form of ``domain``, or ``None`` when it is not a domain."""
    domain = domain.strip().rstrip(".").lower()
    if not domain or ".." in domain:
        return None
    labels = []
    for raw_label in domain.split("."):
        label = raw_label
        if raw_label.startswith("xn--"):
            try:
                label = raw_label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                return None
        if not _DOMAIN_LABEL.match(label):
            return None
        labels.append(label.lower())
    return ".".join(labels)


def normalise_address(text: str | None) -> str | None:
    """Return the canonical form of the single address in ``text``, or ``None``.

    ``text`` may carry a display name. Text holding no address, or more than one, gives ``None``.
    """
    if not text or not text.strip():
        return None
    text = text.strip().replace("\r", "").replace("\n", " ")
    bracketed = _BRACKETED.findall(text)
    if len(bracketed) > 1:
        return None
    if bracketed:
        candidate = bracketed[0]
    else:
        pairs = [pair for pair in getaddresses([text]) if pair[1]]
        if len(pairs) != 1:
            return None
        candidate = pairs[0][1]
    return _normalise_addr_spec(candidate.strip())


def _normalise_addr_spec(addr: str) -> str | None:
    local, sep, domain = addr.rpartition("@")
    if not sep or not local or not domain or not _LOCAL_ALLOWED.match(local):
        return None
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain = normalise_domain(domain)
    if domain is None or "." not in domain:
        return None
    if local.isascii():
        local = local.lower()
    return f"{local}@{domain}"
