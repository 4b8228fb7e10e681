-- 004: near-duplicate clusters (reposts, copy-paste waves), kept for bot-wave detection.
CREATE TABLE near_duplicates (
    mention_id   VARCHAR PRIMARY KEY,
    cluster_id   VARCHAR NOT NULL,   -- the smallest mention_id of the cluster
    cluster_size INTEGER NOT NULL,
    computed_at  TIMESTAMP NOT NULL
);
COMMENT ON TABLE near_duplicates IS 'MinHash-LSH clusters of near-identical texts within a sliding window; size 1 = unique text.';
COMMENT ON COLUMN near_duplicates.cluster_id IS 'Smallest mention_id in the cluster: stable while the cluster keeps its oldest member.';
