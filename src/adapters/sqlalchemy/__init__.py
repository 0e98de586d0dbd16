"""SQLAlchemy 2 async adapters that run unchanged on PostgreSQL (asyncpg) and SQLite (aiosqlite)."""
