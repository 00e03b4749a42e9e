"""Logistics: shipments, local delivery batches and hand-overs, partner waybills, tracking and insurance."""
