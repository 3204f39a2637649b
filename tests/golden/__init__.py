"""Golden answers: the server's answers to every tx-ecosystem request and to a set of HCPCS
requests, recorded at commit b0be068 and compared byte for byte (issue 11's guard rail while
the engine core is redesigned). See docs/testing.md, "Golden answers"."""
