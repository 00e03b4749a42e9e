"""The gateway: the mall's public edge (storefront, staff, partners); it authenticates people, sends commands."""
