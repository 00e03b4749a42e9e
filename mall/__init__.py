"""The operator's tool: `mall run|web|worker|beat|migrate|seed|dlq` (see `mall --help`)."""
