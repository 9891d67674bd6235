"""Alembic migrations for hackbot's database (see ``bot.migrations`` for the API)."""
