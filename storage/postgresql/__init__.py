"""PostgreSQL: statements run straight on its asyncpg driver."""
