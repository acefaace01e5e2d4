"""Alembic migrations of tuneloop's SQL schema (see core/schema.py)."""
