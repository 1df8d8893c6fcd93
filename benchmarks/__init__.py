"""Benchmarks of the sync engine against a naive script and the raw client floor (see docs/benchmarks.md)."""
