-- traffic_in_window: whether a --since/--until window holds any traffic.
-- Inputs: requests, usage_buckets; parameters $since, $until (TIMESTAMP or NULL for open-ended).
-- Output: requests (API calls) and buckets (usage-export buckets) in the window.
SELECT (SELECT count(*) FROM requests
        WHERE trace_ms IS NULL AND ($since IS NULL OR ts >= $since) AND ($until IS NULL OR ts < $until)) AS requests,
       (SELECT count(*) FROM usage_buckets
        WHERE ($since IS NULL OR period_start >= $since) AND ($until IS NULL OR period_start < $until)) AS buckets
