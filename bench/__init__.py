"""Benchmarks and the fault run: each a script printing one JSON line (see the README)."""
