-- PostgreSQL dialect of ../0007_poisoned_rows.sql: SQLite's repair of rows an older version stored before
-- the ingest guard (feeds/guard.py) refused them. A PostgreSQL database is created by a version that has
-- the guard, and one copied from SQLite (tripwire db copy) is copied from a database migrated past v7, so
-- there is nothing to repair.
SELECT 1;
