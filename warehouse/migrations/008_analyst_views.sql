-- 008: analyst views (share of voice, per-source days) and the closed loop per department:
-- actions taken against a root cause, and whether that cause's complaint rate fell after.
--
-- Every view counts labelled mentions only (a label computed on the mention's current
-- text), one row per model version, like v_mentions and v_daily_brand. Days are Moscow
-- calendar days (UTC+3 all year).

CREATE VIEW v_share_of_voice AS
WITH lm AS (
    SELECT CAST(m.published_at + INTERVAL 3 HOUR AS DATE) AS day, m.brand, l.model_version,
           l.sentiment
    FROM mentions m
    JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
), per AS (
    SELECT day, brand, model_version, count(*) AS mentions,
           count(*) FILTER (WHERE sentiment = 'negative') AS negatives,
           count(*) FILTER (WHERE sentiment = 'positive') AS positives
    FROM lm GROUP BY ALL
), grid AS (   -- every brand on every day that has any mention: a silent brand shows 0
    SELECT d.day, b.brand, d.model_version
    FROM (SELECT DISTINCT day, model_version FROM per) d
    JOIN (SELECT DISTINCT brand, model_version FROM per) b USING (model_version)
)
SELECT g.day, g.brand, g.model_version,
       coalesce(p.mentions, 0) AS mentions,
       coalesce(p.mentions, 0)
           / sum(coalesce(p.mentions, 0)) OVER (PARTITION BY g.day, g.model_version)::DOUBLE
           AS share_of_voice,
       coalesce(p.negatives, 0) AS negatives,
       coalesce(p.positives, 0) AS positives,
       p.negatives / p.mentions::DOUBLE AS negative_share,
       (p.positives - p.negatives) / p.mentions::DOUBLE AS net_sentiment
FROM grid g LEFT JOIN per p USING (day, brand, model_version);

-- Which sources show a company reply, and where the spiders keep it in mentions.extra:
--   banki_ru  agentAnswerText: the bank's answer text, null while unanswered (ajax list;
--             reviews read from JSON-LD pages lack the key: unknown)
--   sravni_ru hasCompanyResponse: true / false
--   dgis      official_answer: {text, date_created, org_name}, null while unanswered
-- Every other source: unknown (NULL). A reply given after the review was collected counts
-- once the review is crawled again (the loader updates a row whose extra changed).
CREATE VIEW v_daily_source AS
WITH lm AS (
    SELECT CAST(m.published_at + INTERVAL 3 HOUR AS DATE) AS day, m.brand, m.source,
           l.model_version, l.sentiment, l.is_complaint, m.rating,
           CASE WHEN json_valid(m.extra) THEN m.extra END AS ej
    FROM mentions m
    JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
), replied AS (
    SELECT *,
           CASE source
               WHEN 'banki_ru' THEN CASE json_type(ej, '$.agentAnswerText')
                   WHEN 'VARCHAR' THEN trim(json_extract_string(ej, '$.agentAnswerText')) <> ''
                   WHEN 'NULL' THEN false END
               WHEN 'sravni_ru' THEN CASE json_type(ej, '$.hasCompanyResponse')
                   WHEN 'BOOLEAN' THEN json_extract_string(ej, '$.hasCompanyResponse') = 'true' END
               WHEN 'dgis' THEN CASE json_type(ej, '$.official_answer')
                   WHEN 'OBJECT' THEN true
                   WHEN 'NULL' THEN false END
           END AS company_replied
    FROM lm
)
SELECT day, brand, source, model_version,
       count(*) AS mentions,
       count(*) FILTER (WHERE is_complaint) AS complaints,
       count(*) FILTER (WHERE sentiment = 'negative') / count(*)::DOUBLE AS negative_share,
       (count(*) FILTER (WHERE sentiment = 'positive')
        - count(*) FILTER (WHERE sentiment = 'negative')) / count(*)::DOUBLE AS net_sentiment,
       avg(rating) AS avg_rating,
       count(company_replied) AS reply_known,
       count(*) FILTER (WHERE company_replied) AS company_replies,
       avg(CAST(company_replied AS INTEGER)) AS company_reply_rate
FROM replied
GROUP BY day, brand, source, model_version;

CREATE SEQUENCE actions_id_seq;
CREATE TABLE actions (
    action_id    INTEGER PRIMARY KEY DEFAULT nextval('actions_id_seq'),
    brand        VARCHAR NOT NULL,     -- brands.yaml id
    root_cause   VARCHAR NOT NULL,     -- nlp/taxonomy.yaml id
    department   VARCHAR NOT NULL,     -- routing.yaml department id
    action_date  DATE NOT NULL,        -- Moscow day the change took effect
    description  VARCHAR NOT NULL,
    created_at   TIMESTAMP NOT NULL    -- UTC, when it was recorded
);

-- closed_loop(window_days, as_of, alpha): one row per action and model version.
-- Windows exclude the action day: before = the window_days days before it, after = the
-- window_days days after it. as_of (default: the newest day with mentions) cuts the data
-- off, so a digest of a past day sees what was known then. The verdict uses a pooled
-- two-proportion z-test (normal approximation; two-sided p via Abramowitz & Stegun 26.2.17,
-- error < 1e-7), since DuckDB has no normal CDF.
CREATE MACRO closed_loop(window_days := 28, as_of := NULL, alpha := 0.05) AS TABLE
WITH lm AS (
    SELECT m.brand, CAST(m.published_at + INTERVAL 3 HOUR AS DATE) AS day, l.model_version,
           l.is_complaint, l.root_causes
    FROM mentions m
    JOIN labels l ON l.mention_id = m.mention_id AND l.content_hash = m.content_hash
), edge AS (
    SELECT coalesce(CAST(as_of AS DATE), (SELECT max(day) FROM lm)) AS data_through
), counts AS (
    SELECT a.action_id, any_value(a.brand) AS brand, any_value(a.root_cause) AS root_cause,
           any_value(a.department) AS department, any_value(a.action_date) AS action_date,
           any_value(a.description) AS description, lm.model_version,
           any_value(e.data_through) AS data_through,
           count(lm.day) FILTER (WHERE lm.day < a.action_date) AS mentions_before,
           count(lm.day) FILTER (WHERE lm.day < a.action_date AND lm.is_complaint
                                 AND list_contains(lm.root_causes, a.root_cause)) AS complaints_before,
           count(lm.day) FILTER (WHERE lm.day > a.action_date) AS mentions_after,
           count(lm.day) FILTER (WHERE lm.day > a.action_date AND lm.is_complaint
                                 AND list_contains(lm.root_causes, a.root_cause)) AS complaints_after
    FROM actions a
    CROSS JOIN edge e
    LEFT JOIN lm ON lm.brand = a.brand AND lm.day <> a.action_date
                AND lm.day BETWEEN a.action_date - CAST(window_days AS INTEGER)
                               AND a.action_date + CAST(window_days AS INTEGER)
                AND lm.day <= e.data_through
    GROUP BY a.action_id, lm.model_version
), rates AS (
    SELECT *,
           complaints_before / nullif(mentions_before, 0)::DOUBLE AS rate_before,
           complaints_after / nullif(mentions_after, 0)::DOUBLE AS rate_after,
           (complaints_before + complaints_after)
               / nullif(mentions_before + mentions_after, 0)::DOUBLE AS pooled
    FROM counts
), tested AS (
    SELECT *,
           CASE WHEN mentions_before > 0 AND mentions_after > 0 AND pooled > 0 AND pooled < 1
                THEN (rate_after - rate_before)
                     / sqrt(pooled * (1 - pooled) * (1.0 / mentions_before + 1.0 / mentions_after))
           END AS z
    FROM rates
), t AS (
    SELECT *, 1 / (1 + 0.2316419 * abs(z)) AS t FROM tested
), p AS (
    SELECT *, least(1.0, 2 * exp(-z * z / 2) / sqrt(2 * pi()) * t * (0.319381530 + t * (
                  -0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429)))))
              AS p_value
    FROM t
)
SELECT action_id, brand, root_cause, department, action_date, description, model_version,
       CAST(window_days AS INTEGER) AS window_days,
       action_date - CAST(window_days AS INTEGER) AS before_from,
       action_date + CAST(window_days AS INTEGER) AS after_to,
       data_through,
       mentions_before, complaints_before, rate_before,
       mentions_after, complaints_after, rate_after,
       (rate_after - rate_before) / nullif(rate_before, 0) AS relative_change,
       z AS z_score, p_value,
       CASE
           WHEN data_through IS NULL
                OR data_through < action_date + CAST(window_days AS INTEGER) THEN 'too early'
           WHEN mentions_before = 0 OR mentions_after = 0 THEN 'no data'
           WHEN p_value < alpha AND z < 0 THEN 'fell'
           WHEN p_value < alpha AND z > 0 THEN 'rose'
           ELSE 'no change'
       END AS verdict
FROM p;

CREATE VIEW v_closed_loop AS SELECT * FROM closed_loop();

COMMENT ON VIEW v_share_of_voice IS 'Per Moscow day and brand: the brand''s share of all labelled mentions of the tracked brands that day, with its sentiment. Every brand appears on every day that has mentions (0 when silent).';
COMMENT ON COLUMN v_share_of_voice.day IS 'Moscow calendar day of publication.';
COMMENT ON COLUMN v_share_of_voice.brand IS 'Brand id (brands.yaml).';
COMMENT ON COLUMN v_share_of_voice.model_version IS 'Model version of the labels counted; compare shares within one version.';
COMMENT ON COLUMN v_share_of_voice.mentions IS 'Labelled mentions of the brand that day.';
COMMENT ON COLUMN v_share_of_voice.share_of_voice IS 'mentions / mentions of all tracked brands that day, 0..1.';
COMMENT ON COLUMN v_share_of_voice.negatives IS 'Mentions with negative sentiment.';
COMMENT ON COLUMN v_share_of_voice.positives IS 'Mentions with positive sentiment.';
COMMENT ON COLUMN v_share_of_voice.negative_share IS 'negatives / mentions of the brand; NULL on a day without mentions.';
COMMENT ON COLUMN v_share_of_voice.net_sentiment IS '(positives - negatives) / mentions, from -1 to 1; NULL on a day without mentions.';

COMMENT ON VIEW v_daily_source IS 'Per Moscow day, brand and source: volume, complaints, sentiment, rating and how often the company replied.';
COMMENT ON COLUMN v_daily_source.day IS 'Moscow calendar day of publication.';
COMMENT ON COLUMN v_daily_source.brand IS 'Brand id (brands.yaml).';
COMMENT ON COLUMN v_daily_source.source IS 'Source id: banki_ru, sravni_ru, dgis, appstore, telegram, vk, rss, schemaorg.';
COMMENT ON COLUMN v_daily_source.model_version IS 'Model version of the labels counted.';
COMMENT ON COLUMN v_daily_source.mentions IS 'Labelled mentions from this source that day.';
COMMENT ON COLUMN v_daily_source.complaints IS 'Mentions labelled as complaints (negative, or rating 2 or less).';
COMMENT ON COLUMN v_daily_source.negative_share IS 'Negative mentions / mentions.';
COMMENT ON COLUMN v_daily_source.net_sentiment IS '(positive - negative) / mentions, from -1 to 1.';
COMMENT ON COLUMN v_daily_source.avg_rating IS 'Mean star rating 1..5 of the rated mentions; NULL where the source has no ratings.';
COMMENT ON COLUMN v_daily_source.reply_known IS 'Mentions whose page shows whether the company replied (banki_ru ajax list, sravni_ru, dgis).';
COMMENT ON COLUMN v_daily_source.company_replies IS 'Mentions with a company reply: banki_ru agentAnswerText, sravni_ru hasCompanyResponse, dgis official_answer.';
COMMENT ON COLUMN v_daily_source.company_reply_rate IS 'company_replies / reply_known, 0..1; NULL for sources that do not show replies (appstore, telegram, vk, rss, schemaorg).';

COMMENT ON TABLE actions IS 'What a department changed against a root cause of a brand, and from which day (slukh action add). v_closed_loop checks whether it worked.';
COMMENT ON COLUMN actions.action_id IS 'Sequence number, shown by slukh action list.';
COMMENT ON COLUMN actions.brand IS 'Brand id (brands.yaml).';
COMMENT ON COLUMN actions.root_cause IS 'Taxonomy id (nlp/taxonomy.yaml) the action addresses.';
COMMENT ON COLUMN actions.department IS 'routing.yaml department that owns the cause and took the action.';
COMMENT ON COLUMN actions.action_date IS 'Moscow day the change took effect; excluded from both windows.';
COMMENT ON COLUMN actions.description IS 'What was changed, in words.';
COMMENT ON COLUMN actions.created_at IS 'When the action was recorded, UTC.';

COMMENT ON VIEW v_closed_loop IS 'Per action and model version: that cause''s complaint rate (complaints with the cause / all mentions of the brand) in the 28 days before vs the 28 days after the action day, with a pooled two-proportion z-test. Other windows: SELECT * FROM closed_loop(window_days := 14, as_of := DATE ''2026-11-20'', alpha := 0.05).';
COMMENT ON COLUMN v_closed_loop.action_id IS 'actions.action_id.';
COMMENT ON COLUMN v_closed_loop.brand IS 'Brand id (brands.yaml).';
COMMENT ON COLUMN v_closed_loop.root_cause IS 'Taxonomy id the action addresses.';
COMMENT ON COLUMN v_closed_loop.department IS 'routing.yaml department that took the action.';
COMMENT ON COLUMN v_closed_loop.action_date IS 'Moscow day the change took effect; in neither window.';
COMMENT ON COLUMN v_closed_loop.description IS 'What was changed.';
COMMENT ON COLUMN v_closed_loop.model_version IS 'Model version of the labels counted; NULL when the brand has no labelled mention in either window.';
COMMENT ON COLUMN v_closed_loop.window_days IS 'Length of each window in days (28 in this view).';
COMMENT ON COLUMN v_closed_loop.before_from IS 'First day of the before window (action_date - window_days).';
COMMENT ON COLUMN v_closed_loop.after_to IS 'Last day of the after window (action_date + window_days).';
COMMENT ON COLUMN v_closed_loop.data_through IS 'Newest Moscow day with mentions: the after window is complete once it reaches after_to.';
COMMENT ON COLUMN v_closed_loop.mentions_before IS 'Labelled mentions of the brand in the before window.';
COMMENT ON COLUMN v_closed_loop.complaints_before IS 'Complaints of the brand with this root cause in the before window.';
COMMENT ON COLUMN v_closed_loop.rate_before IS 'complaints_before / mentions_before.';
COMMENT ON COLUMN v_closed_loop.mentions_after IS 'Labelled mentions of the brand in the after window (so far).';
COMMENT ON COLUMN v_closed_loop.complaints_after IS 'Complaints of the brand with this root cause in the after window (so far).';
COMMENT ON COLUMN v_closed_loop.rate_after IS 'complaints_after / mentions_after.';
COMMENT ON COLUMN v_closed_loop.relative_change IS '(rate_after - rate_before) / rate_before; -0.5 = the rate halved. NULL when rate_before is 0.';
COMMENT ON COLUMN v_closed_loop.z_score IS 'Pooled two-proportion z statistic of rate_after vs rate_before; negative = fell.';
COMMENT ON COLUMN v_closed_loop.p_value IS 'Two-sided p-value of the z-test (normal approximation).';
COMMENT ON COLUMN v_closed_loop.verdict IS 'fell / rose (p < 0.05), no change, too early (after window not complete), no data (a window without mentions).';
