"""Record the golden answers: `python -m tests.golden.record`.

Records with whatever `terminology` Python imports. The pin is the behaviour at b0be068,
so record over a checkout of that commit, with this tree second on the path for the
`tests` namespace (the checkout has no tests/golden):

    cd /tmp && PYTHONPATH=/path/to/b0be068:/path/to/this/tree python -m tests.golden.record

Re-record only to add requests; an answer that changes because a defect is fixed goes in
changed.txt instead. Building the tx-ecosystem requests needs terminology.conformance
(moved after b0be068: then point tx_requests at its new place).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from .replay import ANSWERS, Record, ask_all, golden_app, write_records
from .requests import TX_ECOSYSTEM, hcpcs_requests, tx_requests

_PREFIXES = ("tx/r5/", "tx/r4/", "hcpcs/")  # the counts the summary line gives


def main() -> None:
    import terminology

    print(f"recording with {Path(terminology.__file__).parent}", file=sys.stderr)
    if not (TX_ECOSYSTEM / "test-cases.json").is_file():
        sys.exit(f"tx-ecosystem suite not found at {TX_ECOSYSTEM}")
    start = time.perf_counter()
    requests = [*tx_requests(), *hcpcs_requests()]
    with tempfile.TemporaryDirectory() as folder:
        answers = ask_all(golden_app(Path(folder)), requests)
    records = [Record(**r, **a) for r, a in zip(requests, answers, strict=True)]
    written = write_records(records)
    kinds = {prefix: sum(r["name"].startswith(prefix) for r in records) for prefix in _PREFIXES}
    print(
        f"{written} answers ({kinds}) -> {ANSWERS} ({ANSWERS.stat().st_size:,} bytes) "
        f"in {time.perf_counter() - start:.1f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
