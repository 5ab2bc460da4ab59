"""Benchmarks (not tests): each module prints its figures, the target and the ratio to a baseline."""
