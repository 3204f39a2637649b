"""Display selection and display checking, language-aware (displayLanguage parameter, the
Accept-Language header, or the value set's own language)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from codesystem.fhir_types import JSON
from terminology.caches import Memo, estimate
from terminology.index import Concept
from terminology.operations import Context, language_tags
from terminology.operations.supplements import applied, supplemented
from terminology.outcome import finding
from terminology.providers import CodeSystemProvider

if TYPE_CHECKING:  # a type only: version_policy imports this module
    from terminology.version_policy import Coded

Display: TypeAlias = tuple[str, str | None]
"""(text, language) of a display or designation; None: no language known."""


def requested_languages(context: Context) -> tuple[str, ...]:
    """Language tags asked for, best first, without q-values or wildcards."""
    return language_tags(context.display_language)


def others_refused(context: Context) -> bool:
    """Whether the languages asked for refuse every other language (`*; q=0`)."""
    for part in str(context.display_language or "").split(","):
        tag, _, weight = part.partition(";")
        if tag.strip() == "*" and weight.replace(" ", "") in ("q=0", "q=0.0"):
            return True
    return False


def _matches(language: str | None, wanted: str) -> bool:
    if not language:
        return False
    return language == wanted or language.split("-")[0] == wanted.split("-")[0]


def displays(concept: Concept, cs: CodeSystemProvider) -> list[Display]:
    """(text, language) of the concept's display and its language-tagged designations."""
    found = [(concept.display, cs.language)] if concept.display else []
    for designation in concept.designations:
        value = designation.get("value")
        if value and (designation.get("language") or not designation.get("use")):
            found.append((value, designation.get("language") or cs.language))
    return found


def in_languages(
    concept: Concept,
    cs: CodeSystemProvider,
    languages: Sequence[str],
    every: list[Display] | None = None,
) -> list[Display]:
    return [
        (text, lang)
        for wanted in languages
        for text, lang in (every if every is not None else displays(concept, cs))
        if lang is None or _matches(lang, wanted)  # a display of no known language: any
    ]


def display_for(
    context: Context,
    cs: CodeSystemProvider,
    concept: Concept,
    languages: Sequence[str] | None = None,
) -> str | None:
    """The display to return: the first requested language that has one, else the default.
    `languages`: requested_languages(context), when the caller has them already."""
    if languages is None:
        languages = requested_languages(context)
    if not languages:
        return concept.display
    found = in_languages(concept, cs, languages)
    if not found:  # a supplement in scope may have one in that language
        found = in_languages(concept, cs, languages, _supplemented(context, cs, concept))
    return found[0][0] if found else concept.display


_SPACES = re.compile(r"\s+")
_NORMAL = Memo("strings")


def _normal(text: str) -> str:
    """The text with its white space collapsed. Memoised (bounded by bytes): a wrong display
    is compared with every display of its concept, and those are long texts asked again."""
    found = _NORMAL.get(text)
    if found is None:
        found = _SPACES.sub(" ", text.strip())
        _NORMAL.put(text, found, estimate(text) + (0 if found == text else estimate(found)))
    return found  # type: ignore[return-value]  # the memo holds what this function put


def _supplemented(context: Context, cs: CodeSystemProvider, concept: Concept) -> list[Display]:
    """(text, language) of the designations supplements in scope add to the concept."""
    if not context.facts().supplements:  # none asked for (the usual request)
        return []
    added = applied(supplemented(context, cs, context.value_set)).designations(concept.code)
    return [(d["value"], d.get("language") or cs.language) for d, _ in added if d.get("value")]


def check_display(
    context: Context, cs: CodeSystemProvider, concept: Concept, item: Coded
) -> JSON | None:
    """An issue when the given display is not one of the concept's displays."""
    given = item.display
    languages = requested_languages(context)
    every = displays(concept, cs) + _supplemented(context, cs, concept)
    valid = in_languages(concept, cs, languages, every) if languages else every
    retired = _retired_designations(cs, concept)
    if given in retired and not any(given == text for text, _ in valid if text not in retired):
        current = [text for text, _ in _unique(valid) if text not in retired]
        shown = ",".join(f'"{t}"' if re.search(r"\s", t) else t for t in current)
        where = item.at("display")
        # lenient-display-validation=false: a display no longer correct is an error like any
        # wrong display, and says the designation's own status (deprecated, withdrawn);
        # otherwise a warning, worded as the tx-ecosystem suite (1.9.3) pins it
        strict = context.params.get("lenient-display-validation") is False
        status = _designation_status(concept, given) if strict else "deprecated"
        return finding(
            "INACTIVE_DISPLAY_FOUND",
            given,
            concept.code,
            status,
            shown,
            expression=where,
            severity="error" if strict else None,
        )
    if any(given == text for text, _ in valid):
        return None
    severity = "warning" if context.params.flag("lenient-display-validation") else "error"
    raw = context.display_language or "--"
    where = item.at("display")
    if languages and not valid:
        if any(given == text for text, _ in every):
            key = "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_OK"
            return finding(key, given, cs.url, concept.code, raw, expression=where)
        default = concept.display or ""
        key = "NO_VALID_DISPLAY_FOUND_NONE_FOR_LANG_ERR"
        args: tuple[object, ...] = (given, cs.url, concept.code, raw, default)
        return finding(key, *args, expression=where, severity=severity)
    choices = [f"'{text}' ({lang})" if lang else f"'{text}'" for text, lang in _unique(valid)]
    key = "Display_Name_for__should_be_one_of__instead_of"
    if len(choices) > 1:
        key += "#other"
    assert given is not None  # callers check a display only when the coding gives one
    normal = _normal(given)
    if any(normal == _normal(text) for text, _ in valid):
        key = "Display_Name_WS_for__should_be_one_of__instead_of"
    args = (given, cs.url, concept.code, " or ".join(choices), raw, len(choices))
    return finding(key, *args, expression=where, severity=severity)


STANDARDS_STATUS = "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status"


def _retired_designations(cs: CodeSystemProvider, concept: Concept) -> frozenset[str]:
    """Designations marked deprecated or withdrawn: no longer a correct display (the reference
    server reports either as status 'deprecated'). Worked out once per concept (kept in the
    index's pieces), since every display checked against the concept asks."""
    key = ("retired-designations", concept.code)
    found = cs.concept_pieces.get(key)
    if not isinstance(found, frozenset):  # not worked out yet
        found = _marked_retired(concept)
        cs.concept_pieces.put(key, found, estimate(key) + estimate(found))
    return found


def _marked_retired(concept: Concept) -> frozenset[str]:
    return frozenset(
        d["value"]
        for d in concept.designations
        if d.get("value")
        and any(
            e.get("url") == STANDARDS_STATUS and e.get("valueCode") in ("deprecated", "withdrawn")
            for e in d.get("extension", [])
        )
    )


def _designation_status(concept: Concept, text: str) -> str:
    """The standards status a designation with this text is marked with."""
    for designation in concept.designations:
        if designation.get("value") != text:
            continue
        for extension in designation.get("extension", []):
            if extension.get("url") == STANDARDS_STATUS:
                return str(extension.get("valueCode"))
    return "deprecated"


def _unique(items: list[Display]) -> list[Display]:
    seen: dict[Display, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
