"""Readable plain text of an HTML body, with lxml when it is installed."""

import html as html_lib
import re

try:
    import lxml.html as lxml_html
    from lxml import etree as lxml_etree
except ImportError:  # lxml is an Odoo dependency; the fallback only serves bare test setups
    lxml_html = None
    lxml_etree = None

from .charsets import clean_text


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (lxml when available)."""
    if not html.strip():
        return ""
    text = ""
    if lxml_html is not None:
        try:
            # lxml refuses str input that carries an XML encoding declaration
            document = lxml_html.document_fromstring(re.sub(r"^\s*<\?xml[^>]*>", "", html))
            for bad in document.xpath("//script|//style|//head|//title"):
                bad.drop_tree()
            for br in document.xpath("//br"):
                br.tail = "\n" + (br.tail or "")
            for block in document.xpath("//p|//div|//tr|//li|//h1|//h2|//h3|//h4|//table"):
                block.tail = "\n" + (block.tail or "")
            text = document.text_content()
        except (lxml_etree.ParserError, ValueError, TypeError):
            text = ""
    if not text.strip():
        text = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", html)
        text = html_lib.unescape(re.sub(r"<[^>]*>", " ", text))
    lines = (" ".join(line.split()) for line in text.replace("\xa0", " ").splitlines())
    return clean_text(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip())
