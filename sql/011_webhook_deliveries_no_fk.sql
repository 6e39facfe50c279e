-- 011_webhook_deliveries_no_fk.sql — a subscription's delivery rows still
-- go with it, by a trigger instead of the foreign key.  The key's check ran
-- once per row incidentd-hooks wrote, a query of its own each time: bench/hooks
-- measured it at 12 µs of a row's 34.  It guarded nothing the writer does not:
-- incidentd-hooks inserts rows only for the subscriptions its same statement
-- has just updated (and so locked), and a DELETE of one waits for that lock,
-- then removes what was written.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_webhook_id_fkey;

CREATE FUNCTION webhooks_drop_deliveries() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM webhook_deliveries WHERE webhook_id = OLD.id;
	RETURN NULL;
END
$$;

-- AFTER, per row: an org's deletion cascades to its webhooks row by row, so
-- their deliveries go too.
CREATE TRIGGER webhooks_drop_deliveries AFTER DELETE ON webhooks
FOR EACH ROW EXECUTE FUNCTION webhooks_drop_deliveries();
