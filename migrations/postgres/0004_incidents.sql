-- Incidents and the notification outbox (migrations/sqlite/0004_incidents.sql is the same
-- schema for SQLite). An incident is one problem of one check; a notification is written in
-- the same transaction as the incident change that caused it, and delivered by a worker.

CREATE TABLE incidents (
    -- increases with creation: the paging key
    id               bigserial PRIMARY KEY,
    dataset          text NOT NULL,
    check_name       text NOT NULL,
    -- the values of store::IncidentKind: the data failed, or the check could not run
    kind             text NOT NULL CHECK (kind IN ('failure', 'error')),
    sla              boolean NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    -- the values of store::IncidentStatus
    status           text NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    opened_at        timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    resolved_at      timestamptz,
    resolved_by      text CHECK (resolved_by IN ('check', 'api')),
    acknowledged_at  timestamptz,
    muted_until      timestamptz,
    count            bigint NOT NULL,
    flaps            bigint NOT NULL DEFAULT 0,
    value            double precision CHECK (value NOT IN ('NaN', 'Infinity', '-Infinity')),
    expected         jsonb,
    message          text NOT NULL,
    -- the upstream incident that likely caused this one
    cause_id         bigint REFERENCES incidents (id) ON DELETE SET NULL,
    -- grows with every write: concurrent writers compare it (optimistic locking)
    version          bigint NOT NULL,
    -- what the channels were last told: 'open' or 'resolved'
    announced        text CHECK (announced IN ('open', 'resolved')),
    last_notified_at timestamptz,
    CONSTRAINT incidents_resolved_have_time CHECK (status <> 'resolved' OR resolved_at IS NOT NULL)
);
-- one active incident per check, whichever replica judges it
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
    id              bigserial PRIMARY KEY,
    -- incident/version/channel: one notification per change and channel, ever
    idempotency_key text NOT NULL UNIQUE,
    incident_id     bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    -- the values of store::Transition
    transition      text NOT NULL CHECK (transition IN ('opened', 'reopened', 'reminder', 'resolved')),
    channel         text NOT NULL,
    -- what the templates render: the incident as it was at the change
    payload         jsonb NOT NULL,
    -- the values of store::NotificationStatus
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        bigint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- the worker sending it, until when: another worker may take it over after that
    claimed_by      text,
    claimed_until   timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
-- what a worker claims next
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
-- an incident's notifications, and listings by state
CREATE INDEX notifications_by_incident ON notifications (incident_id);
CREATE INDEX notifications_by_status ON notifications (status, id DESC);

-- every attempt to deliver a notification, for operators reading a dead letter
CREATE TABLE delivery_attempts (
    id              bigserial PRIMARY KEY,
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt         bigint NOT NULL,
    at              timestamptz NOT NULL,
    -- 'delivered', 'retry' or 'dead'
    outcome         text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'dead')),
    error           text
);
CREATE INDEX delivery_attempts_by_notification ON delivery_attempts (notification_id);
