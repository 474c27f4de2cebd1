-- Incidents and the notification outbox, SQLite dialect (migrations/postgres/0004_incidents.sql
-- is the same schema for Postgres). Times are TEXT as in 0001; JSON is TEXT; booleans are
-- INTEGER 0/1.

CREATE TABLE incidents (
    -- increases with creation: the paging key; AUTOINCREMENT: never reused
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset          TEXT NOT NULL,
    check_name       TEXT NOT NULL,
    -- the values of store::IncidentKind: the data failed, or the check could not run
    kind             TEXT NOT NULL CHECK (kind IN ('failure', 'error')),
    sla              INTEGER NOT NULL CHECK (sla IN (0, 1)),
    severity         TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    -- the values of store::IncidentStatus
    status           TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at        TEXT NOT NULL,
    last_seen_at     TEXT NOT NULL,
    resolved_at      TEXT,
    resolved_by      TEXT CHECK (resolved_by IN ('check', 'api')),
    acknowledged_at  TEXT,
    muted_until      TEXT,
    count            INTEGER NOT NULL,
    flaps            INTEGER NOT NULL DEFAULT 0,
    value            REAL CHECK (value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308),
    expected         TEXT CHECK (json_valid(expected)),
    message          TEXT NOT NULL,
    -- the upstream incident that likely caused this one
    cause_id         INTEGER REFERENCES incidents (id) ON DELETE SET NULL,
    -- grows with every write: concurrent writers compare it (optimistic locking)
    version          INTEGER NOT NULL,
    -- what the channels were last told: 'open' or 'resolved'
    announced        TEXT CHECK (announced IN ('open', 'resolved')),
    last_notified_at TEXT,
    CONSTRAINT incidents_resolved_have_time CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
) STRICT;
-- one active incident per check
CREATE UNIQUE INDEX incidents_one_active ON incidents (dataset, check_name)
    WHERE status <> 'resolved';
-- the latest incident of each check of a dataset
CREATE INDEX incidents_by_check ON incidents (dataset, check_name, id DESC);
-- downstream incidents folded into an upstream one
CREATE INDEX incidents_by_cause ON incidents (cause_id) WHERE cause_id IS NOT NULL;
-- the reminder sweep reads only incidents that are not settled
CREATE INDEX incidents_unsettled ON incidents (last_notified_at)
    WHERE status = 'open' OR (status = 'resolved' AND announced = 'open');

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- incident/version/channel: one notification per change and channel, ever
    idempotency_key TEXT NOT NULL UNIQUE,
    incident_id     INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- the values of store::Transition
    transition      TEXT NOT NULL CHECK (transition IN ('opened', 'reopened', 'reminder', 'resolved')),
    channel         TEXT NOT NULL,
    -- what the templates render: the incident as it was at the change
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    -- the values of store::NotificationStatus
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- the worker sending it, until when: another worker may take it over after that
    claimed_by      TEXT,
    claimed_until   TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
) STRICT;
-- what a worker claims next
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
-- an incident's notifications, and listings by state
CREATE INDEX notifications_by_incident ON notifications (incident_id);
CREATE INDEX notifications_by_status ON notifications (status, id DESC);

-- every attempt to deliver a notification, for operators reading a dead letter
CREATE TABLE delivery_attempts (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    at              TEXT NOT NULL,
    -- 'delivered', 'retry' or 'dead'
    outcome         TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    error           TEXT
) STRICT;
CREATE INDEX delivery_attempts_by_notification ON delivery_attempts (notification_id);
