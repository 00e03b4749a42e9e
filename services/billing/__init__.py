"""Billing: wallets (account balance), payments, refunds and the billing ledger."""
