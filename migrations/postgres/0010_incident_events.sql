-- An incident's timeline (migrations/sqlite/0010_incident_events.sql is the same for
-- SQLite): one row per change worth reading later, written in the transaction of the change,
-- with who made it. The incident row keeps only the latest state; this keeps how it got
-- there (every reopening, every mute, who acknowledged).
CREATE TABLE incident_events (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- the incident's version the change made
    version     bigint NOT NULL,
    at          timestamptz NOT NULL,
    -- the values of store::EventKind
    kind        text NOT NULL
        CHECK (kind IN ('opened', 'reopened', 'acknowledged', 'muted', 'resolved', 'linked')),
    -- who: `check` for what results did, the API token's name for what people did
    actor       text NOT NULL,
    -- what else there is to say: the mute's end, the cause's id, the failing message
    detail      text
);
-- an incident's timeline, in order
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);

-- Incidents from before the timeline get the events their fields still tell.
INSERT INTO incident_events (incident_id, version, at, kind, actor, detail)
SELECT id, 1, opened_at, 'opened', 'check', message FROM incidents;
INSERT INTO incident_events (incident_id, version, at, kind, actor)
SELECT id, version, acknowledged_at, 'acknowledged', 'api' FROM incidents
WHERE acknowledged_at IS NOT NULL;
INSERT INTO incident_events (incident_id, version, at, kind, actor)
SELECT id, version, resolved_at, 'resolved', coalesce(resolved_by, 'check') FROM incidents
WHERE resolved_at IS NOT NULL;
