-- PostgreSQL dialect of ../0004_liquidation_hourly_by_repo.sql: nothing to do, the PostgreSQL schema never
-- had the triggers (the application keeps liquidation_hourly from v1 on).
SELECT 1;
