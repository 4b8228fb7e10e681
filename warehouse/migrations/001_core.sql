-- 001: targets, crawl runs, batches, mentions and labels.
CREATE TABLE targets (
    target_id   VARCHAR PRIMARY KEY,   -- '<source>:<code>'
    source      VARCHAR NOT NULL,
    brand       VARCHAR NOT NULL,
    code        VARCHAR NOT NULL,
    params      VARCHAR,               -- JSON of the brands.yaml entry
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE crawl_runs (
    run_id       VARCHAR PRIMARY KEY,
    source       VARCHAR NOT NULL,
    target_id    VARCHAR NOT NULL,
    brand        VARCHAR,
    started_at   TIMESTAMP,
    finished_at  TIMESTAMP,
    status       VARCHAR NOT NULL CHECK (status IN ('ok', 'blocked', 'failed')),
    items        INTEGER NOT NULL DEFAULT 0,
    errors       INTEGER NOT NULL DEFAULT 0,
    message      VARCHAR,
    batch_path   VARCHAR
);

CREATE TABLE batches (
    batch_id     VARCHAR PRIMARY KEY,   -- file name stem
    file_sha256  VARCHAR NOT NULL,
    crawl_run_id VARCHAR,
    rows_in      INTEGER NOT NULL,
    rejected     INTEGER NOT NULL,   -- rows without id, text or date (kept in the file)
    inserted     INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
);

CREATE TABLE mentions (
    mention_id    VARCHAR PRIMARY KEY,  -- '<source>:<external_id>'
    source        VARCHAR NOT NULL,
    external_id   VARCHAR NOT NULL,
    target_id     VARCHAR,
    brand         VARCHAR NOT NULL,
    url           VARCHAR,
    title         VARCHAR,
    text          VARCHAR NOT NULL,
    rating        INTEGER,
    published_at  TIMESTAMP NOT NULL,   -- UTC
    collected_at  TIMESTAMP NOT NULL,   -- UTC, first time seen
    updated_at    TIMESTAMP NOT NULL,   -- UTC, last time its content changed
    content_hash  VARCHAR NOT NULL,
    author_hash   VARCHAR,
    extra         VARCHAR,
    first_batch   VARCHAR NOT NULL,
    last_batch    VARCHAR NOT NULL
);

CREATE TABLE labels (
    mention_id        VARCHAR NOT NULL,
    model_version     VARCHAR NOT NULL,
    content_hash      VARCHAR NOT NULL,  -- the text this label was computed on
    sentiment         VARCHAR NOT NULL CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    sentiment_score   DOUBLE NOT NULL,
    is_complaint      BOOLEAN NOT NULL,
    root_causes       VARCHAR[] NOT NULL,
    root_cause_scores VARCHAR,           -- JSON object cause -> score
    journey_stage     VARCHAR,
    labelled_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (mention_id, model_version)
);
