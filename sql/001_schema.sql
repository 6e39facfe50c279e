-- 001_schema.sql — organisations, API keys, incidents, their timeline, and the
-- per-organisation event log that streams replay from.

CREATE TABLE orgs (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    -- bumped by every writing transaction as its last statement: the SSE id
    event_seq   bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    key_hash    text NOT NULL UNIQUE,          -- hex SHA-256 of the key; the key is never stored
    role        text NOT NULL CHECK (role IN ('read', 'write', 'admin')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, id);

CREATE TABLE incidents (
    id                  bigserial PRIMARY KEY,
    org_id              bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    title               text NOT NULL,
    description         text,
    status              text NOT NULL,
    priority            text NOT NULL,
    severity            text NOT NULL,
    source              text NOT NULL,
    source_ref          text,
    lat                 double precision,
    lng                 double precision,
    location_name       text,
    impact_description  text,
    assigned_to         text,
    tags                jsonb NOT NULL DEFAULT '[]',
    affected_services   jsonb NOT NULL DEFAULT '[]',
    sla_due_at          timestamptz NOT NULL,
    customer_token      text NOT NULL UNIQUE,
    started_at          timestamptz NOT NULL,
    acknowledged_at     timestamptz,
    resolved_at         timestamptz,
    created_by          text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((lat IS NULL) = (lng IS NULL))
);
-- The list query: newest first per org, optionally narrowed by one filter.
CREATE INDEX incidents_org_newest ON incidents (org_id, created_at DESC, id DESC);
CREATE INDEX incidents_org_status ON incidents (org_id, status, created_at DESC, id DESC);
CREATE INDEX incidents_org_priority ON incidents (org_id, priority, created_at DESC, id DESC);
CREATE INDEX incidents_org_severity ON incidents (org_id, severity, created_at DESC, id DESC);
CREATE INDEX incidents_tags ON incidents USING gin (tags jsonb_path_ops);

-- Replies and status-change entries: the incident's timeline.
CREATE TABLE replies (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    org_id       bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    body         text,
    internal     boolean NOT NULL DEFAULT false,
    status       text,
    author       text NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX replies_incident ON replies (incident_id, id);

CREATE TABLE events (
    org_id       bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    type         text NOT NULL,
    incident_id  bigint,
    -- json, not jsonb: replay sends exactly the text that was published live
    payload      json NOT NULL,
    at           timestamptz NOT NULL,               -- the event's time, as published
    created_at   timestamptz NOT NULL DEFAULT now(), -- when it was logged: retention
    PRIMARY KEY (org_id, seq)
);
CREATE INDEX events_created ON events (created_at);
