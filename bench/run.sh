#!/bin/sh
# Run the benchmark from the project root with the project's venv (see README, Performance).
set -e
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m bench "$@"
