"""Every golden request answers byte for byte as at b0be068 (status, Content-Type, body),
except the requests changed.txt names with the defect whose fix changes them.

The requests are replayed in recorded order against the current tree, over a store built
the same way as at record time (replay.py). A difference in any answer fails the test; the
message names each request that differs and shows a compact diff of the first few.
"""

from __future__ import annotations

import base64
import difflib
import json
from pathlib import Path

import pytest

from .replay import (
    ANSWERS,
    Answer,
    Record,
    allowed_changes,
    ask_all,
    golden_app,
    read_records,
)
from .requests import GoldenRequest, hcpcs_requests

SHOWN = 5  # differences shown in full; the rest are named
DIFF_LINES = 40


@pytest.fixture(scope="module")
def records() -> list[Record]:
    return list(read_records(ANSWERS))


def test_every_golden_request_answers_as_recorded(records: list[Record], tmp_path: Path) -> None:
    answers = ask_all(golden_app(tmp_path), records)
    allowed = allowed_changes()
    differences = [
        (record, answer)
        for record, answer in zip(records, answers, strict=True)
        if record["name"] not in allowed and _differs(record, answer)
    ]
    if differences:
        pytest.fail(_report(differences, len(records)), pytrace=False)


def test_changed_txt_names_recorded_requests(records: list[Record]) -> None:
    recorded = {record["name"] for record in records}
    assert set(allowed_changes()) <= recorded


def test_the_record_holds_the_hcpcs_requests_of_requests_py(records: list[Record]) -> None:
    """requests.py changed without re-recording: the record would no longer pin it."""
    recorded = [
        GoldenRequest(
            name=r["name"], method=r["method"], path=r["path"], headers=r["headers"], body=r["body"]
        )
        for r in records
        if r["name"].startswith("hcpcs/")
    ]
    assert recorded == hcpcs_requests()


def _differs(record: Record, answer: Answer) -> bool:
    keys = ("status", "content_type", "answer", "answer_base64")
    return any(record.get(key) != answer.get(key) for key in keys)


def _report(differences: list[tuple[Record, Answer]], total: int) -> str:
    lines = [f"{len(differences)} of {total} golden answers differ from the record:"]
    for record, answer in differences[:SHOWN]:
        lines += ["", *_difference(record, answer)]
    if len(differences) > SHOWN:
        lines += ["", "also differing:", *(r["name"] for r, _ in differences[SHOWN:])]
    lines += ["", "a fixed defect? name the request and the defect in tests/golden/changed.txt"]
    return "\n".join(lines)


def _difference(record: Record, answer: Answer) -> list[str]:
    body = (record["body"] or "")[:300]
    lines = [f"== {record['name']}: {record['method']} {record['path'][:300]}"]
    if body:
        lines.append(f"   body: {body}{'...' if len(record['body'] or '') > 300 else ''}")
    for key in ("status", "content_type"):
        if record.get(key) != answer.get(key):
            lines.append(f"   {key}: recorded {record.get(key)!r}, now {answer.get(key)!r}")
    was, now = _text(record), _text(answer)
    if was != now and _lines(was) == _lines(now):
        at = next(i for i, (a, b) in enumerate(zip(was + "\0", now + "\1", strict=False)) if a != b)
        start = max(at - 60, 0)
        lines.append(f"   same JSON, other bytes from offset {at}:")
        lines += [
            f"   recorded ...{was[start : at + 60]!r}",
            f"   now      ...{now[start : at + 60]!r}",
        ]
    elif was != now:
        diff = difflib.unified_diff(_lines(was), _lines(now), "recorded", "now", n=2, lineterm="")
        shown = list(diff)
        lines += [f"   {line[:200]}" for line in shown[:DIFF_LINES]]
        if len(shown) > DIFF_LINES:
            lines.append(f"   ... {len(shown) - DIFF_LINES} more diff lines")
    return lines


def _text(answer: Answer) -> str:
    if "answer_base64" in answer:
        return base64.b64decode(answer["answer_base64"]).decode("latin-1")
    return answer.get("answer", "")


def _lines(text: str) -> list[str]:
    """JSON one value a line (key order kept) so the diff shows the change, not the whole
    answer; the raw text when that does not tell two texts apart (XML, spacing)."""
    try:
        return json.dumps(json.loads(text), indent=1, ensure_ascii=False).splitlines()
    except ValueError:
        return text.replace("><", ">\n<").splitlines()
