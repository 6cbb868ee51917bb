-- traffic_in_window: whether a --since/--until window holds any traffic, and the span the data covers.
-- Inputs: requests, usage_buckets; parameters $since, $until (TIMESTAMP or NULL for open-ended).
-- Output: requests and buckets in the window; first and last, the dated span of all calls and buckets.
SELECT (SELECT count(*) FROM requests
        WHERE trace_ms IS NULL AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts < $until)) AS requests,
       (SELECT count(*) FROM usage_buckets
        WHERE ($since IS NULL OR period_start >= $since) AND ($until IS NULL OR period_start < $until)) AS buckets,
       least((SELECT min(ts) FROM requests WHERE trace_ms IS NULL),
             (SELECT min(period_start) FROM usage_buckets)) AS first,
       greatest((SELECT max(ts) FROM requests WHERE trace_ms IS NULL),
                (SELECT max(period_start) FROM usage_buckets)) AS last
