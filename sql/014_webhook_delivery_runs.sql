-- 014_webhook_delivery_runs.sql — nearly every delivery succeeds at its
-- first attempt, and bench/hooks measured its row in webhook_deliveries (a
-- heap tuple and a primary-key entry per event per subscription) as most
-- of PostgreSQL's cost per delivery.  So the events a subscription got at
-- the first try are written as a run: one row per subscription per write
-- of incidentd-hooks (hooks_write.c), the events' fields in arrays in seq
-- order.  webhook_deliveries keeps the rest: events retried, failed, given
-- up, or sent again after a replay.
--
-- The two never hold the same seq of a subscription: a run takes only seqs
-- above every row and run written for it, and a replay removes both from
-- its from_seq on.  Runs of a subscription are disjoint and in order, so
-- the one with the greatest first_seq has its greatest seq.
CREATE TABLE webhook_delivery_runs (
    webhook_id   uuid NOT NULL,
    first_seq    bigint NOT NULL,
    last_seq     bigint NOT NULL,
    seqs         bigint[] NOT NULL,
    events       text[] NOT NULL,
    -- unix seconds, as incidentd-hooks keeps them
    first_at     bigint[] NOT NULL,
    delivered_at bigint[] NOT NULL,
    statuses     integer[] NOT NULL,
    durations_ms integer[] NOT NULL,
    PRIMARY KEY (webhook_id, first_seq),
    CHECK (last_seq >= first_seq)
);
-- A run of a few hundred events is about 13 KiB of arrays, which
-- PostgreSQL would move out to TOAST, chunk by chunk, on every write.
-- Compressed with lz4 it is about 2 KiB and stays in its row (MAIN), at a
-- tenth of pglz's CPU (psql, 2,000 runs of 256 events: 65 ms against 695;
-- 3.4 MB against 19.8 uncompressed).  A server built without lz4 keeps
-- them uncompressed, in the row up to a page's worth (EXTERNAL).
DO $$
BEGIN
	EXECUTE 'ALTER TABLE webhook_delivery_runs '
		'ALTER COLUMN seqs SET COMPRESSION lz4, ALTER COLUMN events SET COMPRESSION lz4, '
		'ALTER COLUMN first_at SET COMPRESSION lz4, '
		'ALTER COLUMN delivered_at SET COMPRESSION lz4, '
		'ALTER COLUMN statuses SET COMPRESSION lz4, '
		'ALTER COLUMN durations_ms SET COMPRESSION lz4';
	ALTER TABLE webhook_delivery_runs ALTER COLUMN seqs SET STORAGE MAIN,
		ALTER COLUMN events SET STORAGE MAIN, ALTER COLUMN first_at SET STORAGE MAIN,
		ALTER COLUMN delivered_at SET STORAGE MAIN, ALTER COLUMN statuses SET STORAGE MAIN,
		ALTER COLUMN durations_ms SET STORAGE MAIN;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
	ALTER TABLE webhook_delivery_runs SET (toast_tuple_target = 8160);
	ALTER TABLE webhook_delivery_runs ALTER COLUMN seqs SET STORAGE EXTERNAL,
		ALTER COLUMN events SET STORAGE EXTERNAL, ALTER COLUMN first_at SET STORAGE EXTERNAL,
		ALTER COLUMN delivered_at SET STORAGE EXTERNAL, ALTER COLUMN statuses SET STORAGE EXTERNAL,
		ALTER COLUMN durations_ms SET STORAGE EXTERNAL;
END
$$;

-- A run's events as delivery rows (attempts 1, no error, nothing pending):
-- the one place that says so, for the view below and the deliveries
-- endpoint (db.c).  A plain SQL function: PostgreSQL inlines it.
CREATE FUNCTION webhook_run_deliveries(seqs bigint[], events text[], first_at bigint[],
                                       delivered_at bigint[], statuses integer[],
                                       durations_ms integer[])
RETURNS TABLE (seq bigint, event text, attempts integer, first_attempt_at timestamptz,
               last_status integer, last_error text, next_attempt_at timestamptz,
               delivered_at timestamptz, duration_ms integer)
LANGUAGE sql IMMUTABLE AS $$
SELECT u.seq, u.event, 1, to_timestamp(u.first_at), u.status, NULL::text, NULL::timestamptz,
       to_timestamp(u.delivered_at), u.duration_ms
FROM unnest(seqs, events, first_at, statuses, delivered_at, durations_ms)
     AS u(seq, event, first_at, status, delivered_at, duration_ms)
$$;

-- Every delivery of a subscription, one row per event, as the deliveries
-- endpoint shows them: for psql, the tests and bench/hooks.  It reads every
-- run of a subscription; the endpoint reads a page's worth (db.c).
CREATE VIEW webhook_delivery_log AS
SELECT webhook_id, seq, event, attempts, first_attempt_at, last_status, last_error,
       next_attempt_at, delivered_at, duration_ms
FROM webhook_deliveries
UNION ALL
SELECT r.webhook_id, d.*
FROM webhook_delivery_runs r,
     webhook_run_deliveries(r.seqs, r.events, r.first_at, r.delivered_at, r.statuses,
                            r.durations_ms) d;

-- The part of a run from seq lo up to seq hi (both included): what a
-- replay (everything below its from_seq) and the pruning (everything from
-- the oldest event kept) leave of a run they cut through.  NULL when
-- nothing is left.
CREATE FUNCTION webhook_run_cut(r webhook_delivery_runs, lo bigint, hi bigint)
RETURNS webhook_delivery_runs
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN k.b >= k.a THEN ROW(r.webhook_id, r.seqs[k.a], r.seqs[k.b],
       r.seqs[k.a:k.b], r.events[k.a:k.b], r.first_at[k.a:k.b], r.delivered_at[k.a:k.b],
       r.statuses[k.a:k.b], r.durations_ms[k.a:k.b])::webhook_delivery_runs END
FROM (SELECT 1 + (SELECT count(*) FROM unnest(r.seqs) s WHERE s < lo) AS a,
             (SELECT count(*) FROM unnest(r.seqs) s WHERE s <= hi) AS b) k
$$;

CREATE OR REPLACE FUNCTION webhooks_drop_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM webhook_deliveries WHERE webhook_id = OLD.id;
	DELETE FROM webhook_delivery_runs WHERE webhook_id = OLD.id;
	RETURN NULL;
END
$$;
