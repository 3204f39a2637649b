"""Benchmark harness for hcpcs-tx: our server against two ceilings on the same machine.

Run ``python -m bench`` (or ``bench/run.sh``). See README ``## Performance`` and issue 6.
The ceilings (minimal FastAPI, bare ASGI) return the bytes our server returned, so the
ratios isolate what our code costs beyond the framework, and the framework beyond HTTP.
"""
