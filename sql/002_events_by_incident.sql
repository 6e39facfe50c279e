-- A public status-page stream replays only its own incident's events
-- (incidentd-sse's sql_replay_incident): without this index a stranger's
-- ?last_event_id=0 would read a whole organisation's log.
CREATE INDEX events_org_incident ON events (org_id, incident_id, seq);
