-- 007: hourly aggregates per brand × source × root cause, and spike incidents.
-- hourly_aggregates is the pre-aggregation that both the daily aggregates (rolled up from
-- it) and the hourly spike detector read; it is refreshed incrementally (only the hours
-- whose labels or mentions changed since the watermark) by warehouse.trends.
-- It has no PRIMARY KEY on purpose: an index slows the bulk delete-insert of a refresh,
-- and the refresh writes each (model_version, brand, hour, source, root_cause) once.
CREATE TABLE hourly_aggregates (
    hour           TIMESTAMP NOT NULL,   -- UTC, start of the hour
    brand          VARCHAR NOT NULL,
    source         VARCHAR NOT NULL,
    root_cause     VARCHAR NOT NULL,     -- taxonomy id, or '_all' for every mention
    model_version  VARCHAR NOT NULL,
    mentions       INTEGER NOT NULL,
    negatives      INTEGER NOT NULL,
    positives      INTEGER NOT NULL,
    complaints     INTEGER NOT NULL,
    rated          INTEGER NOT NULL,     -- mentions with a rating
    rating_sum     BIGINT NOT NULL       -- sum of those ratings (daily avg_rating = sum / rated)
);

CREATE TABLE aggregate_watermarks (
    model_version  VARCHAR PRIMARY KEY,
    labels_upto    TIMESTAMP,            -- newest labels.labelled_at already aggregated
    mentions_upto  TIMESTAMP,            -- newest mentions.updated_at already aggregated
    refreshed_at   TIMESTAMP NOT NULL
);

-- One spike incident = one alert (alerts.alert_id = incidents.incident_id). The alert row
-- carries the main driver and the lifecycle; this row carries what the incident is made of.
CREATE TABLE incidents (
    incident_id      VARCHAR PRIMARY KEY,
    brand            VARCHAR NOT NULL,
    model_version    VARCHAR NOT NULL,
    started_at       TIMESTAMP NOT NULL,   -- UTC hour of the first anomalous hour
    confirmed_at     TIMESTAMP NOT NULL,   -- UTC hour at which it became an alert
    last_hour        TIMESTAMP NOT NULL,   -- UTC hour of the latest anomalous hour
    peak_hour        TIMESTAMP NOT NULL,
    evaluated_to     TIMESTAMP NOT NULL,   -- newest UTC hour of data the detector saw
    anomalous_hours  INTEGER NOT NULL,
    root_cause       VARCHAR NOT NULL,     -- main driver, '_all' when only the negative volume moved
    drivers          VARCHAR NOT NULL,     -- JSON list: series, observed, expected, p_value, anomalous_hours (0 = rose, not anomalous), peak_hour
    sources          VARCHAR NOT NULL,     -- JSON list: source, mentions, share, usual_share
    posts            INTEGER NOT NULL,     -- negative mentions in the incident hours
    near_dup_share   DOUBLE,
    new_author_share DOUBLE,
    coordinated      BOOLEAN NOT NULL,
    severity         INTEGER NOT NULL,
    explanation      VARCHAR NOT NULL,     -- plain-text lines (taxonomy ids, not names)
    updates          INTEGER NOT NULL,     -- how many times it grew after being raised
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);

CREATE VIEW v_hourly_brand AS
SELECT hour, hour + INTERVAL 3 HOUR AS hour_msk, brand, source, model_version,
       mentions, negatives, positives, complaints
FROM hourly_aggregates WHERE root_cause = '_all';

CREATE VIEW v_hourly_root_cause AS
SELECT hour, hour + INTERVAL 3 HOUR AS hour_msk, brand, source, root_cause, model_version,
       mentions, negatives, complaints
FROM hourly_aggregates WHERE root_cause <> '_all';

CREATE VIEW v_incidents AS
SELECT i.incident_id, i.brand, i.model_version, i.started_at, i.confirmed_at, i.last_hour,
       i.peak_hour, i.anomalous_hours, i.root_cause, i.drivers, i.sources, i.posts,
       i.near_dup_share, i.new_author_share, i.coordinated, i.severity, i.explanation,
       i.updates, a.status, i.created_at, i.updated_at
FROM incidents i LEFT JOIN alerts a ON a.alert_id = i.incident_id;

COMMENT ON TABLE hourly_aggregates IS 'Per UTC hour, brand, source and root cause (''_all'' = every mention); daily_aggregates is rolled up from it.';
COMMENT ON TABLE aggregate_watermarks IS 'How far each model version''s aggregates are refreshed; the next refresh recomputes only hours changed since.';
COMMENT ON TABLE incidents IS 'Spike incidents: one per brand and burst of anomalous hours, updated while it grows; alerts.alert_id = incident_id.';
COMMENT ON COLUMN incidents.drivers IS 'JSON list of the series that were anomalous (root causes'' complaints, ''_all'' = negative mentions), biggest excess first.';
COMMENT ON COLUMN incidents.coordinated IS 'Looks like a coordinated wave: many near-duplicate texts, or some plus mostly first-time authors.';
COMMENT ON VIEW v_hourly_brand IS 'Per UTC hour (and Moscow hour), brand and source: volume, sentiment and complaints.';
COMMENT ON VIEW v_hourly_root_cause IS 'Per UTC hour, brand, source and root cause: mentions, negatives and complaints.';
COMMENT ON VIEW v_incidents IS 'Spike incidents with their drivers, sources, coordinated-wave signals and alert status.';
COMMENT ON COLUMN v_incidents.explanation IS 'Why it fired: which causes and sources, × the usual for that weekday and hour.';
COMMENT ON COLUMN v_incidents.new_author_share IS 'Share of the incident''s authors never seen before for this brand.';
COMMENT ON COLUMN v_incidents.near_dup_share IS 'Share of the incident''s posts in a near-duplicate cluster of 2 or more.';
