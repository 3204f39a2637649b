"""Issue 12 fuzzing: generated requests against a real server, 0 server errors, 0 answers
slower than 2 s (a bounded run here; `python -m bench.fuzz` for the long one)."""
