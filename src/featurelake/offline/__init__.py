"""The offline store: one Delta table per feature view version."""
