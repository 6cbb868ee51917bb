-- data_span: the first and last moment of dated traffic, logged calls (block-hash traces aside) or export buckets.
-- Inputs: requests, usage_buckets. Output: first, last (NULL when nothing is dated).
SELECT least((SELECT min(ts) FROM requests WHERE trace_ms IS NULL),
             (SELECT min(period_start) FROM usage_buckets)) AS first,
       greatest((SELECT max(ts) FROM requests WHERE trace_ms IS NULL),
                (SELECT max(period_start) FROM usage_buckets)) AS last
