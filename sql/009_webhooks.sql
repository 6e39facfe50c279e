-- 009_webhooks.sql — outbound webhooks (DESIGN §9).  A subscription receives
-- its organisation's events, from the event log, in seq order, one in flight
-- at a time, delivered by whichever incidentd-hooks holds its lease.

CREATE TABLE webhooks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- creation order, for the list's keyset (newest first): a uuid has none
    ordinal          bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    org_id           bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    url              text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    -- event types delivered; empty: every type
    events           text[] NOT NULL DEFAULT '{}',
    description      text CHECK (description IS NULL OR char_length(description) <= 500),
    format           text NOT NULL DEFAULT 'standard' CHECK (format IN ('standard', 'slack')),
    -- whsec_ + base64 of 32 random bytes; shown to the API once, kept to sign
    secret           text NOT NULL,
    enabled          boolean NOT NULL DEFAULT true,
    disabled_reason  text,
    disabled_at      timestamptz,
    -- the last seq this subscription is done with (delivered, or not its type);
    -- a new subscription starts at its org's current event_seq
    cursor_seq       bigint NOT NULL,
    -- the delivery lease: one incidentd-hooks at a time (lease_owner is a
    -- process's id: host name, pid and start time), renewed while it holds it
    lease_owner      text,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_org ON webhooks (org_id, ordinal DESC);
CREATE INDEX webhooks_enabled ON webhooks (lease_until) WHERE enabled;

-- One row per event a subscription was sent (or is being sent): what the
-- deliveries endpoint lists and what the retry schedule reads.
CREATE TABLE webhook_deliveries (
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    event            text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,
    last_status      integer,            -- HTTP status of the last attempt, null if none
    last_error       text,               -- why the last attempt failed, null if it did not
    next_attempt_at  timestamptz,        -- null once delivered or given up
    delivered_at     timestamptz,
    duration_ms      integer,            -- of the last attempt
    PRIMARY KEY (webhook_id, seq)
);
CREATE INDEX webhook_deliveries_newest ON webhook_deliveries (webhook_id, seq DESC);

-- Every incidentd-hooks LISTENs on incidentd_webhooks and re-reads the
-- subscriptions when a change by the API (create, PATCH, DELETE, rotate,
-- replay), incidentctl or psql notifies it.  The API stamps updated_at on each
-- of its writes, so a change to it, or to what is sent where, notifies;
-- incidentd-hooks's own writes (cursor_seq, the lease, a delivery) leave
-- those alone and notify nobody: they would wake every host for every
-- event delivered.  Notices of one transaction arrive as one.
CREATE FUNCTION webhooks_notify_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('incidentd_webhooks', '');
	RETURN NULL;
END;
$$;

CREATE TRIGGER webhooks_inserted_or_deleted
	AFTER INSERT OR DELETE ON webhooks
	FOR EACH ROW EXECUTE FUNCTION webhooks_notify_changed();
CREATE TRIGGER webhooks_changed
	AFTER UPDATE ON webhooks
	FOR EACH ROW WHEN ((OLD.updated_at, OLD.url, OLD.events, OLD.format, OLD.secret, OLD.enabled)
	                   IS DISTINCT FROM
	                   (NEW.updated_at, NEW.url, NEW.events, NEW.format, NEW.secret, NEW.enabled))
	EXECUTE FUNCTION webhooks_notify_changed();
CREATE TRIGGER webhooks_truncated
	AFTER TRUNCATE ON webhooks
	FOR EACH STATEMENT EXECUTE FUNCTION webhooks_notify_changed();
