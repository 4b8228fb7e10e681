-- 009: learning from analysts (label_feedback) and a registry of model versions with one
-- active version, which trends, alerts and the digest follow.
--
-- The active version is the one activated most recently in model_versions; while the
-- registry is empty it is the version of the newest label (the rule before 009), so an
-- older warehouse keeps its behaviour. The registry is filled from the labels already
-- there, activated in the order they were last labelled, which gives the same answer.

CREATE TABLE model_versions (
    model_version  VARCHAR PRIMARY KEY,   -- Labeller.model_version
    registered_at  TIMESTAMP NOT NULL,    -- UTC, first time it labelled this warehouse
    activated_at   TIMESTAMP,             -- UTC, last activation; NULL = never active
    description    VARCHAR,
    metrics        JSON                   -- evaluation numbers the trainer reported
);

INSERT INTO model_versions (model_version, registered_at, activated_at, description, metrics)
SELECT model_version, min(labelled_at), max(labelled_at),
       'registered by migration 009 from the labels already in the warehouse', NULL
FROM labels GROUP BY model_version;

-- One definition of "active", shared by the views below and warehouse.labels.active_model_version.
CREATE MACRO active_model_version() AS coalesce(
    (SELECT model_version FROM model_versions WHERE activated_at IS NOT NULL
     ORDER BY activated_at DESC, model_version DESC LIMIT 1),
    (SELECT model_version FROM labels ORDER BY labelled_at DESC, model_version DESC LIMIT 1));

CREATE SEQUENCE label_feedback_id_seq;
CREATE TABLE label_feedback (
    feedback_id    BIGINT PRIMARY KEY DEFAULT nextval('label_feedback_id_seq'),
    mention_id     VARCHAR NOT NULL,
    content_hash   VARCHAR NOT NULL,      -- mentions.content_hash when the feedback was given
    root_causes    VARCHAR[],             -- NULL = no change; [] = explicitly no cause
    sentiment      VARCHAR CHECK (sentiment IN ('negative', 'neutral', 'positive')),
    is_complaint   BOOLEAN,
    journey_stage  VARCHAR,
    analyst        VARCHAR NOT NULL,
    note           VARCHAR,
    created_at     TIMESTAMP NOT NULL,
    superseded_by  BIGINT                 -- the newer feedback_id on the same mention
);

CREATE VIEW v_labels_active AS
SELECT l.mention_id, l.model_version, l.content_hash, l.sentiment, l.sentiment_score,
       l.is_complaint, l.root_causes, l.root_cause_scores, l.journey_stage, l.labelled_at,
       l.content_hash = m.content_hash AS is_current
FROM labels l
JOIN mentions m ON m.mention_id = l.mention_id
WHERE l.model_version = active_model_version();

CREATE VIEW v_label_versions AS
WITH per AS (
    SELECT l.model_version,
           count(*) AS labelled,
           count(*) FILTER (WHERE l.content_hash = m.content_hash) AS current_labels,
           count(*) FILTER (WHERE l.is_complaint) AS complaints,
           count(*) FILTER (WHERE l.sentiment = 'negative') / count(*)::DOUBLE AS negative_share,
           min(l.labelled_at) AS first_labelled_at,
           max(l.labelled_at) AS last_labelled_at
    FROM labels l LEFT JOIN mentions m ON m.mention_id = l.mention_id
    GROUP BY l.model_version
)
SELECT coalesce(p.model_version, r.model_version) AS model_version,
       coalesce(p.model_version, r.model_version) IS NOT DISTINCT FROM active_model_version()
           AS is_active,
       coalesce(p.labelled, 0) AS labelled,
       coalesce(p.current_labels, 0) AS current_labels,
       coalesce(p.complaints, 0) AS complaints,
       p.negative_share, p.first_labelled_at, p.last_labelled_at,
       r.registered_at, r.activated_at, r.description, r.metrics
FROM per p FULL OUTER JOIN model_versions r ON r.model_version = p.model_version;

-- label_diff(version_a, version_b): per mention labelled by both versions on its current
-- text. version_a defaults to the active version, version_b to every other version.
CREATE MACRO label_diff(version_a := NULL, version_b := NULL) AS TABLE
WITH cur AS (
    SELECT l.* FROM labels l
    JOIN mentions m ON m.mention_id = l.mention_id AND m.content_hash = l.content_hash
), a AS (
    SELECT * FROM cur WHERE model_version = coalesce(version_a, active_model_version())
)
SELECT a.mention_id, a.model_version AS version_a, b.model_version AS version_b,
       a.sentiment AS sentiment_a, b.sentiment AS sentiment_b,
       a.is_complaint AS complaint_a, b.is_complaint AS complaint_b,
       a.root_causes AS causes_a, b.root_causes AS causes_b,
       a.journey_stage AS stage_a, b.journey_stage AS stage_b,
       [c FOR c IN b.root_causes IF NOT list_contains(a.root_causes, c)] AS causes_only_b,
       [c FOR c IN a.root_causes IF NOT list_contains(b.root_causes, c)] AS causes_only_a,
       a.sentiment <> b.sentiment AS sentiment_changed,
       list_sort(a.root_causes) <> list_sort(b.root_causes) AS causes_changed,
       a.sentiment <> b.sentiment OR a.is_complaint <> b.is_complaint
           OR list_sort(a.root_causes) <> list_sort(b.root_causes)
           OR a.journey_stage IS DISTINCT FROM b.journey_stage AS differs
FROM a JOIN cur b ON b.mention_id = a.mention_id AND b.model_version <> a.model_version
WHERE version_b IS NULL OR b.model_version = version_b;

CREATE VIEW v_label_diff AS SELECT * FROM label_diff();

CREATE VIEW v_feedback_current AS
WITH latest AS (
    SELECT * FROM label_feedback
    QUALIFY row_number() OVER (PARTITION BY mention_id ORDER BY created_at DESC, feedback_id DESC) = 1
)
SELECT f.feedback_id, f.mention_id, m.source, m.brand, m.title, m.text,
       f.sentiment, f.is_complaint, f.root_causes, f.journey_stage,
       f.analyst, f.note, f.created_at,
       f.content_hash <> m.content_hash AS text_changed,
       a.model_version, a.sentiment AS model_sentiment, a.root_causes AS model_root_causes,
       a.journey_stage AS model_journey_stage
FROM latest f
JOIN mentions m ON m.mention_id = f.mention_id
LEFT JOIN v_labels_active a ON a.mention_id = f.mention_id AND a.is_current;

COMMENT ON MACRO active_model_version IS 'The model version trends, alerts and the digest use: the one activated most recently in model_versions, else the version of the newest label.';
COMMENT ON MACRO TABLE label_diff IS 'Per mention, the labels of two model versions side by side: label_diff(version_a := ''A'', version_b := ''B''); defaults: active vs every other.';

COMMENT ON TABLE model_versions IS 'Registry of model versions that labelled this warehouse; the most recently activated one is active (slukh models; slukh models activate VERSION).';
COMMENT ON COLUMN model_versions.model_version IS 'Encoder + sentiment head + rules versions, as in labels.model_version.';
COMMENT ON COLUMN model_versions.registered_at IS 'When this version was first registered, UTC (by slukh classify or migration 009).';
COMMENT ON COLUMN model_versions.activated_at IS 'Last time it was made active, UTC; NULL = never active. The newest activation wins.';
COMMENT ON COLUMN model_versions.description IS 'Free text: what changed in this model.';
COMMENT ON COLUMN model_versions.metrics IS 'JSON object of evaluation metrics reported at training, if any.';

COMMENT ON TABLE label_feedback IS 'Analyst corrections of labels (slukh label), append-only: the newest feedback on a mention wins, older rows stay as history.';
COMMENT ON COLUMN label_feedback.feedback_id IS 'Sequence number; later feedback has a larger id.';
COMMENT ON COLUMN label_feedback.mention_id IS 'mentions.mention_id the feedback is about.';
COMMENT ON COLUMN label_feedback.content_hash IS 'mentions.content_hash of the text the analyst read; a later text change makes the feedback stale.';
COMMENT ON COLUMN label_feedback.root_causes IS 'Correct taxonomy ids (nlp/taxonomy.yaml); NULL = not corrected, empty = no cause at all.';
COMMENT ON COLUMN label_feedback.sentiment IS 'Correct sentiment (negative / neutral / positive); NULL = not corrected.';
COMMENT ON COLUMN label_feedback.is_complaint IS 'Correct complaint flag; NULL = not corrected.';
COMMENT ON COLUMN label_feedback.journey_stage IS 'Correct journey stage id (nlp/taxonomy.yaml stages); NULL = not corrected.';
COMMENT ON COLUMN label_feedback.analyst IS 'Who gave the feedback.';
COMMENT ON COLUMN label_feedback.note IS 'Why, in the analyst''s words.';
COMMENT ON COLUMN label_feedback.created_at IS 'When the feedback was recorded, UTC.';
COMMENT ON COLUMN label_feedback.superseded_by IS 'feedback_id of the newer feedback on the same mention; NULL = current.';

COMMENT ON VIEW v_labels_active IS 'Labels of the active model version only (model_versions; else the newest label''s version): one row per labelled mention.';
COMMENT ON COLUMN v_labels_active.mention_id IS 'mentions.mention_id.';
COMMENT ON COLUMN v_labels_active.model_version IS 'The active model version.';
COMMENT ON COLUMN v_labels_active.content_hash IS 'mentions.content_hash of the text this label was computed on.';
COMMENT ON COLUMN v_labels_active.sentiment IS 'negative / neutral / positive towards the brand.';
COMMENT ON COLUMN v_labels_active.sentiment_score IS 'Probability of that sentiment class, 0..1.';
COMMENT ON COLUMN v_labels_active.is_complaint IS 'Negative sentiment, or a rating of 2 or less.';
COMMENT ON COLUMN v_labels_active.root_causes IS 'Taxonomy ids (nlp/taxonomy.yaml); empty for praise.';
COMMENT ON COLUMN v_labels_active.root_cause_scores IS 'JSON object cause -> score.';
COMMENT ON COLUMN v_labels_active.journey_stage IS 'Customer journey stage id, or NULL.';
COMMENT ON COLUMN v_labels_active.labelled_at IS 'When the label was written, UTC.';
COMMENT ON COLUMN v_labels_active.is_current IS 'The label was computed on the mention''s current text (false: the text changed since; the next slukh classify relabels it).';

COMMENT ON VIEW v_label_versions IS 'One row per model version: how many mentions it labelled, complaints, negative share, when, and which version is active.';
COMMENT ON COLUMN v_label_versions.model_version IS 'Encoder + sentiment head + rules versions.';
COMMENT ON COLUMN v_label_versions.is_active IS 'True for the version trends, alerts and the digest use.';
COMMENT ON COLUMN v_label_versions.labelled IS 'Mentions with a label of this version (any text).';
COMMENT ON COLUMN v_label_versions.current_labels IS 'Of those, labels computed on the mention''s current text.';
COMMENT ON COLUMN v_label_versions.complaints IS 'Labels with is_complaint.';
COMMENT ON COLUMN v_label_versions.negative_share IS 'Share of labels with negative sentiment, 0..1; NULL without labels.';
COMMENT ON COLUMN v_label_versions.first_labelled_at IS 'Oldest label of this version, UTC.';
COMMENT ON COLUMN v_label_versions.last_labelled_at IS 'Newest label of this version, UTC.';
COMMENT ON COLUMN v_label_versions.registered_at IS 'When the version entered model_versions, UTC; NULL = not registered.';
COMMENT ON COLUMN v_label_versions.activated_at IS 'Last activation, UTC; NULL = never active.';
COMMENT ON COLUMN v_label_versions.description IS 'model_versions.description.';
COMMENT ON COLUMN v_label_versions.metrics IS 'model_versions.metrics (JSON).';

COMMENT ON VIEW v_label_diff IS 'Active model version (a) vs every other version (b), per mention both labelled on its current text. Filter on differs for the disagreements; any two versions: SELECT * FROM label_diff(version_a := ''A'', version_b := ''B'').';
COMMENT ON COLUMN v_label_diff.mention_id IS 'mentions.mention_id.';
COMMENT ON COLUMN v_label_diff.version_a IS 'The active model version.';
COMMENT ON COLUMN v_label_diff.version_b IS 'The other model version.';
COMMENT ON COLUMN v_label_diff.sentiment_a IS 'Sentiment by version a.';
COMMENT ON COLUMN v_label_diff.sentiment_b IS 'Sentiment by version b.';
COMMENT ON COLUMN v_label_diff.complaint_a IS 'Complaint flag by version a.';
COMMENT ON COLUMN v_label_diff.complaint_b IS 'Complaint flag by version b.';
COMMENT ON COLUMN v_label_diff.causes_a IS 'Root causes by version a.';
COMMENT ON COLUMN v_label_diff.causes_b IS 'Root causes by version b.';
COMMENT ON COLUMN v_label_diff.stage_a IS 'Journey stage by version a.';
COMMENT ON COLUMN v_label_diff.stage_b IS 'Journey stage by version b.';
COMMENT ON COLUMN v_label_diff.causes_only_b IS 'Causes version b finds and version a does not.';
COMMENT ON COLUMN v_label_diff.causes_only_a IS 'Causes version a finds and version b does not.';
COMMENT ON COLUMN v_label_diff.sentiment_changed IS 'The two sentiments differ.';
COMMENT ON COLUMN v_label_diff.causes_changed IS 'The two sets of root causes differ (order ignored).';
COMMENT ON COLUMN v_label_diff.differs IS 'Sentiment, complaint flag, causes or stage differ.';

COMMENT ON VIEW v_feedback_current IS 'The newest analyst feedback per mention, with the mention text and the active model''s label for comparison.';
COMMENT ON COLUMN v_feedback_current.feedback_id IS 'label_feedback.feedback_id of the winning feedback.';
COMMENT ON COLUMN v_feedback_current.mention_id IS 'mentions.mention_id.';
COMMENT ON COLUMN v_feedback_current.source IS 'Source id of the mention.';
COMMENT ON COLUMN v_feedback_current.brand IS 'Brand id (brands.yaml).';
COMMENT ON COLUMN v_feedback_current.title IS 'Title of the mention (current text).';
COMMENT ON COLUMN v_feedback_current.text IS 'Text of the mention (current text).';
COMMENT ON COLUMN v_feedback_current.sentiment IS 'Analyst''s sentiment; NULL = not corrected.';
COMMENT ON COLUMN v_feedback_current.is_complaint IS 'Analyst''s complaint flag; NULL = not corrected.';
COMMENT ON COLUMN v_feedback_current.root_causes IS 'Analyst''s root causes; NULL = not corrected, empty = no cause.';
COMMENT ON COLUMN v_feedback_current.journey_stage IS 'Analyst''s journey stage; NULL = not corrected.';
COMMENT ON COLUMN v_feedback_current.analyst IS 'Who gave the feedback.';
COMMENT ON COLUMN v_feedback_current.note IS 'Why, in the analyst''s words.';
COMMENT ON COLUMN v_feedback_current.created_at IS 'When it was recorded, UTC.';
COMMENT ON COLUMN v_feedback_current.text_changed IS 'The mention text changed after the feedback (stale: not used for training).';
COMMENT ON COLUMN v_feedback_current.model_version IS 'Active model version whose label is shown; NULL when it has no label on the current text.';
COMMENT ON COLUMN v_feedback_current.model_sentiment IS 'Sentiment by the active model.';
COMMENT ON COLUMN v_feedback_current.model_root_causes IS 'Root causes by the active model.';
COMMENT ON COLUMN v_feedback_current.model_journey_stage IS 'Journey stage by the active model.';
