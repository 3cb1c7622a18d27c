"""Alembic migrations of the store, run by `crm.Store.migrate()`."""
