-- 005: alert lifecycle (new -> sent -> acknowledged -> resolved) and the delivery log.
-- The lifecycle columns live in alert_state, keyed by alert_id, not on alerts itself:
-- spikes.save upserts alerts with a positional INSERT of its 15 columns, and DuckDB
-- rejects that once the table has more. alerts.status stays the one status column.
CREATE TABLE alert_state (
    alert_id         VARCHAR PRIMARY KEY,   -- alerts.alert_id
    owner            VARCHAR,               -- routing.yaml department that received it
    sent_at          TIMESTAMP,
    acknowledged_at  TIMESTAMP,
    resolved_at      TIMESTAMP
);

CREATE TABLE deliveries (
    item_kind     VARCHAR NOT NULL CHECK (item_kind IN ('alert', 'digest')),
    item_id       VARCHAR NOT NULL,   -- alerts.alert_id, or 'digest:<day>'
    channel       VARCHAR NOT NULL,   -- email, telegram, webhook, outbox
    recipient     VARCHAR NOT NULL,   -- address, chat id, department; webhooks redacted
    status        VARCHAR NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts      INTEGER NOT NULL,   -- send attempts over every run (retries included)
    last_error    VARCHAR,
    delivered_at  TIMESTAMP,          -- UTC, when it went out; NULL while failed
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (item_id, channel, recipient)
);

CREATE VIEW v_alert_lifecycle AS
SELECT a.alert_id, a.day, a.brand, a.root_cause, a.severity, a.status, s.owner,
       a.created_at, s.sent_at, s.acknowledged_at, s.resolved_at
FROM alerts a LEFT JOIN alert_state s USING (alert_id);

COMMENT ON TABLE alert_state IS 'Lifecycle times of an alert; alerts.status is new, sent, acknowledged or resolved.';
COMMENT ON TABLE deliveries IS 'One row per item, channel and recipient: a re-run retries failed rows and never re-sends a sent one.';
COMMENT ON COLUMN deliveries.recipient IS 'Webhook URLs are stored as scheme://host/…#<sha256 prefix>: they may carry secrets.';
