"""Stores: units (counters, branches, the warehouse), their stock, reservations, packing tasks and slips."""
