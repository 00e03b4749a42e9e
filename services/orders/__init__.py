"""Orders: orders, lines, per-unit fulfilments and the timeline; runs the order saga."""
