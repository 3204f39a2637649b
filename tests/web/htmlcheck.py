"""Checks every page must pass: valid HTML5 and the accessibility basics that a parser can
see.

html5lib, not lxml.html: html5lib implements the WHATWG HTML parsing algorithm and, in strict
mode, raises on every parse error the specification defines (a missing doctype, a stray or
unclosed end tag, misnested elements, duplicate attributes, bad character references), so
"it parses in strict mode" means the markup is conforming as far as parsing goes. lxml.html
(libxml2's HTML 4 parser) repairs such markup silently and reports nothing. What a parser
cannot catch (duplicate ids, labels pointing nowhere, inputs without a label, tables without
headers) is checked below on the parsed tree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import html5lib

LABELLED = ("input", "select", "textarea")
NO_LABEL_NEEDED = ("hidden", "submit", "button", "reset", "image")
REFERENCES = ("for", "aria-controls", "aria-describedby", "aria-labelledby")
INTERACTIVE = {"a", "button", "input", "select", "textarea"}


def parse(text: str) -> ET.Element:
    """The document, after checking it is conforming HTML5 with the basics of an accessible
    page; any failure raises AssertionError naming it."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        document = parser.parse(text)
    except html5lib.html5parser.ParseError as error:
        line = _line_of(text, parser)
        raise AssertionError(f"not valid HTML5: {error} near: {line}") from None
    assert text.lstrip().lower().startswith("<!doctype html>"), "no HTML5 doctype"
    assert document.get("lang") == "en", "<html> has no lang"
    assert document.find("head/title") is not None and document.find("head/title").text
    assert document.find("head/meta[@charset]") is not None, "no <meta charset>"
    assert len(document.findall(".//main")) == 1, "one <main> landmark"
    assert len(document.findall(".//h1")) == 1, "one <h1>"
    ids = [element.get("id") for element in document.iter() if element.get("id")]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {duplicates}"
    for element in document.iter():
        for name in REFERENCES:
            for target in (element.get(name) or "").split():
                assert target in ids, f"<{element.tag} {name}={target!r}>: no such id"
    _check_labels(document, ids)
    _check_tables(document)
    _check_nesting(document)
    return document


def _line_of(text: str, parser: html5lib.HTMLParser) -> str:
    if not parser.errors:
        return ""
    (line, column), *_ = parser.errors[0]
    return text.splitlines()[line - 1][max(0, column - 60) : column + 60]


def _check_labels(document: ET.Element, ids: list[str]) -> None:
    wrapped = {id(el) for label in document.iter("label") for el in label.iter()}
    targets = {label.get("for") for label in document.iter("label")}
    for tag in LABELLED:
        for field in document.iter(tag):
            if field.get("type") in NO_LABEL_NEEDED:
                continue
            named = field.get("aria-label") or field.get("aria-labelledby")
            assert named or field.get("id") in targets or id(field) in wrapped, (
                f"<{tag} name={field.get('name')!r}> has no label"
            )


def _check_tables(document: ET.Element) -> None:
    for table in document.iter("table"):
        caption = table.find("caption")
        assert caption is not None and "".join(caption.itertext()).strip(), "table caption"
        assert table.find("thead/tr/th") is not None, "table without column headers"
        for th in table.iter("th"):
            assert th.get("scope") in ("col", "row"), "<th> without scope"


def _check_nesting(document: ET.Element) -> None:
    for outer in document.iter():
        if outer.tag in ("a", "button"):
            inner = [el.tag for el in outer.iter() if el is not outer and el.tag in INTERACTIVE]
            assert not inner, f"interactive {inner} inside <{outer.tag}>"


def text_of(element: ET.Element | None) -> str:
    """The element's text, whitespace collapsed."""
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def find_text(document: ET.Element, path: str) -> list[str]:
    return [text_of(element) for element in document.findall(path)]
