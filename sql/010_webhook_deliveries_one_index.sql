-- 010_webhook_deliveries_one_index.sql — webhook_deliveries_newest
-- (webhook_id, seq DESC) repeated the primary key (webhook_id, seq), which
-- PostgreSQL reads in either direction: the deliveries list (newest first)
-- and incidentd-hooks's lookups use the key.  Every delivery wrote both;
-- bench/hooks measured the second index at a third of a delivery row's cost.
DROP INDEX webhook_deliveries_newest;
