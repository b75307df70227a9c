"""Benchmarks and load tests: the real server process, a light load generator, the in-process limit."""
