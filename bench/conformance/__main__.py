"""`python -m bench.conformance --server URL ...`: the runner without the server's CLI."""

from bench.conformance.cli import main

main()
