-- 006: documentation of the analyst views (their columns are the stable interface).
COMMENT ON VIEW v_mentions IS 'Every mention with its label for the current text, one row per model version that labelled it.';
COMMENT ON COLUMN v_mentions.day_msk IS 'Moscow calendar day of publication.';
COMMENT ON COLUMN v_mentions.sentiment IS 'negative / neutral / positive towards the brand.';
COMMENT ON COLUMN v_mentions.is_complaint IS 'Negative sentiment, or a rating of 2 or less.';
COMMENT ON COLUMN v_mentions.root_causes IS 'Taxonomy ids (nlp/taxonomy.yaml); empty for praise.';
COMMENT ON COLUMN v_mentions.model_version IS 'Encoder + sentiment head + rules versions that produced the label.';
COMMENT ON VIEW v_daily_brand IS 'Per Moscow day and brand: volume, sentiment and complaints.';
COMMENT ON COLUMN v_daily_brand.net_sentiment IS '(positive - negative) / mentions, from -1 to 1.';
COMMENT ON COLUMN v_daily_brand.complaints IS 'Mentions labelled as complaints that day.';
COMMENT ON VIEW v_root_cause_trend IS 'Per Moscow day, brand and root cause: mentions and complaints.';
COMMENT ON VIEW v_alerts IS 'Complaint spikes: observed vs a robust 28-day baseline, Poisson test.';
COMMENT ON COLUMN v_alerts.observed IS 'Complaints that day.';
COMMENT ON COLUMN v_alerts.expected IS 'Baseline daily complaints (median or winsorised mean of 28 days, floor 0.5).';
COMMENT ON COLUMN v_alerts.ratio IS 'observed / expected.';
COMMENT ON COLUMN v_alerts.p_value IS 'Poisson upper-tail probability of the observed count under the baseline.';
COMMENT ON COLUMN v_alerts.severity IS '1..10 from the p-value and the ratio.';
COMMENT ON COLUMN v_alerts.evidence IS 'JSON list of the mention ids behind the spike, worst first.';
COMMENT ON COLUMN v_alerts.status IS 'new → sent → acknowledged → resolved.';
