"""Catalog: categories, manufacturers, suppliers and products, with their views and sales counts."""
