-- 002: daily aggregates, alerts, analyst views and column comments.
CREATE TABLE daily_aggregates (
    day            DATE NOT NULL,      -- Moscow calendar day (UTC+3)
    brand          VARCHAR NOT NULL,
    root_cause     VARCHAR NOT NULL,   -- taxonomy id, or '_all' for every mention
    model_version  VARCHAR NOT NULL,
    mentions       INTEGER NOT NULL,
    negatives      INTEGER NOT NULL,
    positives      INTEGER NOT NULL,
    complaints     INTEGER NOT NULL,
    avg_rating     DOUBLE,
    PRIMARY KEY (day, brand, root_cause, model_version)
);

CREATE TABLE alerts (
    alert_id       VARCHAR PRIMARY KEY,  -- hash of rule, brand, root cause, day
    rule           VARCHAR NOT NULL,
    brand          VARCHAR NOT NULL,
    root_cause     VARCHAR NOT NULL,
    day            DATE NOT NULL,
    model_version  VARCHAR NOT NULL,
    observed       INTEGER NOT NULL,
    expected       DOUBLE NOT NULL,
    ratio          DOUBLE NOT NULL,
    p_value        DOUBLE NOT NULL,
    severity       INTEGER NOT NULL,
    status         VARCHAR NOT NULL DEFAULT 'new',
    evidence       VARCHAR,              -- JSON list of mention ids
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);

CREATE VIEW v_mentions AS
SELECT m.mention_id, m.source, m.brand, m.url, m.title, m.text, m.rating,
       m.published_at, CAST(m.published_at + INTERVAL 3 HOUR AS DATE) AS day_msk,
       l.model_version, l.sentiment, l.sentiment_score, l.is_complaint,
       l.root_causes, l.journey_stage
FROM mentions m
LEFT JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash;

CREATE VIEW v_daily_brand AS
SELECT day, brand, model_version, mentions, negatives, positives, complaints, avg_rating,
       CASE WHEN mentions > 0 THEN (positives - negatives) / mentions::DOUBLE END AS net_sentiment
FROM daily_aggregates WHERE root_cause = '_all';

CREATE VIEW v_root_cause_trend AS
SELECT day, brand, root_cause, model_version, mentions, complaints
FROM daily_aggregates WHERE root_cause <> '_all';

CREATE VIEW v_alerts AS
SELECT alert_id, day, brand, root_cause, observed, expected, ratio, p_value, severity,
       status, evidence, created_at, updated_at
FROM alerts;

COMMENT ON TABLE mentions IS 'One row per review/post: source + external id. Text as collected; author only as a salted hash.';
COMMENT ON COLUMN mentions.published_at IS 'When the author published it, UTC (naive).';
COMMENT ON COLUMN mentions.content_hash IS 'SHA-256 of title + text; a change re-queues the mention for labelling.';
COMMENT ON COLUMN mentions.author_hash IS 'Salted SHA-256 of the author name or id; the salt never leaves the deployment.';
COMMENT ON TABLE labels IS 'Model output per mention and model version; old versions stay queryable.';
COMMENT ON COLUMN labels.is_complaint IS 'Negative sentiment, or a rating of 2 or less.';
COMMENT ON COLUMN labels.root_causes IS 'Taxonomy ids (nlp/taxonomy.yaml); empty for praise.';
COMMENT ON TABLE daily_aggregates IS 'Per Moscow day, brand and root cause (''_all'' = every mention).';
COMMENT ON TABLE alerts IS 'Spike alerts; one row per rule, brand, root cause and day.';
COMMENT ON COLUMN alerts.expected IS 'Baseline daily complaints (median of the previous 28 days, floor 0.5).';
COMMENT ON COLUMN alerts.p_value IS 'Poisson upper-tail probability of the observed count under the baseline.';
