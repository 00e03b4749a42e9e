"""Benchmarks of the mall, measured against the broker's own limit in the same run (`make bench`)."""
