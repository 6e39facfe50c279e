-- 012_webhook_workers.sql — every running incidentd-hooks, so each can tell
-- its share of the subscriptions: the enabled ones over the live processes,
-- rounded up.  Before, a host that started after another had taken every
-- lease held nothing until a subscription was new or freed; now a process
-- over its share gives the excess up (after writing what it delivered) and
-- the newcomer takes it.  A row is renewed every tick and counts while
-- seen_until is ahead; incidentd-hooks deletes its own on a clean stop, and
-- any that are a minute stale.
CREATE TABLE webhook_workers (
    owner      text PRIMARY KEY,          -- host:pid:start, as webhooks.lease_owner
    seen_until timestamptz NOT NULL
);
