"""Trust checks on the artifact under test: no-op adapters, confounded arms, leaked data, merge drift."""
