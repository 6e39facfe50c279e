-- 006_incident_counts.sql — a list's `total` without counting rows: per
-- organisation, how many incidents have each (status, priority, severity,
-- source).  A list filtered by any of those four sums at most 10 × 4 × 5 × 4
-- rows of this table instead of counting up to every incident it matches
-- (at 1,000,000 incidents that count was most of a list's cost).
--
-- Kept by statement triggers on incidents in the writing transaction, so
-- every path that writes incidents (the API, incidentctl, a migration, COPY,
-- a cascade from orgs) keeps it exact with no code to forget; transition
-- tables make one upsert per statement, so COPY of a million rows costs one
-- grouped pass, not a million row updates.
--
-- No foreign key to orgs: deleting an org cascades to its incidents, whose
-- trigger then brings the org's rows to 0 in the same transaction (a key
-- would reject that upsert once the org row is gone).
-- The lock comes first: from here to COMMIT no write slips between the
-- backfill at the end and the triggers that keep the counts from then on.
LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE incident_counts (
    org_id    bigint NOT NULL,
    status    text NOT NULL,
    priority  text NOT NULL,
    severity  text NOT NULL,
    source    text NOT NULL,
    n         bigint NOT NULL, -- no CHECK (n >= 0): a decrement is an upsert of -k, checked before it merges
    PRIMARY KEY (org_id, status, priority, severity, source)
);

-- The functions keep the search_path the migration ran with: the table
-- they write is the one created beside them, whoever writes incidents.
--
-- Applies the net change of one statement, +1 per new row and -1 per old
-- one.  Rows are upserted in key order: two transactions that move
-- incidents of one org in opposite directions (open → resolved and
-- resolved → open) lock the same counter rows in the same order, so one
-- waits for the other, never a deadlock.  A change that nets to zero (an
-- update of other columns) writes nothing.
CREATE FUNCTION incident_counts_apply() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO incident_counts AS c (org_id, status, priority, severity, source, n)
        SELECT org_id, status, priority, severity, source, count(*) FROM new_rows
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (org_id, status, priority, severity, source) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO incident_counts AS c (org_id, status, priority, severity, source, n)
        SELECT org_id, status, priority, severity, source, -count(*) FROM old_rows
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (org_id, status, priority, severity, source) DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE
        INSERT INTO incident_counts AS c (org_id, status, priority, severity, source, n)
        SELECT org_id, status, priority, severity, source, sum(n) FROM (
            SELECT org_id, status, priority, severity, source, 1 AS n FROM new_rows
            UNION ALL
            SELECT org_id, status, priority, severity, source, -1 FROM old_rows) t
         GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0 ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (org_id, status, priority, severity, source) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

-- One trigger per event: PostgreSQL allows transition tables on a trigger
-- of one event only, and none with a column list (so the UPDATE one fires
-- for every update and finds the net change empty when those four columns
-- did not move).
CREATE TRIGGER incident_counts_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_apply();
CREATE TRIGGER incident_counts_update AFTER UPDATE ON incidents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_apply();
CREATE TRIGGER incident_counts_delete AFTER DELETE ON incidents
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_apply();

CREATE FUNCTION incident_counts_truncate() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM incident_counts;
    RETURN NULL;
END $$;
CREATE TRIGGER incident_counts_truncate AFTER TRUNCATE ON incidents
    FOR EACH STATEMENT EXECUTE FUNCTION incident_counts_truncate();

-- The incidents already there.
INSERT INTO incident_counts (org_id, status, priority, severity, source, n)
SELECT org_id, status, priority, severity, source, count(*) FROM incidents
 GROUP BY 1, 2, 3, 4, 5;
