"""Storage: one SQLAlchemy async implementation for SQLite and PostgreSQL."""
