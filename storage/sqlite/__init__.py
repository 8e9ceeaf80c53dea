"""The embedded SQLite: its driver under SQLAlchemy and statements run straight on it."""
