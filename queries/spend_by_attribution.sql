-- spend_by_attribution: spend per API key, user, project, feature and tag.
-- Inputs: priced_requests.
-- Output: dimension ('api_key' | 'user' | 'project' | 'feature' | 'tag'), value ('(none)' when the log has
-- no attribution), requests, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, cost_usd,
-- unpriced_requests.
WITH long AS (
    SELECT 'api_key' AS dimension, api_key AS value, * EXCLUDE (tags) FROM priced_requests
    UNION ALL SELECT 'user', "user", * EXCLUDE (tags) FROM priced_requests
    UNION ALL SELECT 'project', project, * EXCLUDE (tags) FROM priced_requests
    UNION ALL SELECT 'feature', feature, * EXCLUDE (tags) FROM priced_requests
    UNION ALL SELECT 'tag', unnest(CASE WHEN len(tags) > 0 THEN tags ELSE [NULL] END), * EXCLUDE (tags)
        FROM priced_requests
)
SELECT dimension,
       coalesce(value, '(none)')              AS value,
       count(*)                               AS requests,
       sum(input_tokens)::BIGINT                      AS input_tokens,
       sum(cache_read_tokens)::BIGINT                 AS cache_read_tokens,
       sum(cache_write_5m_tokens + cache_write_1h_tokens)::BIGINT AS cache_write_tokens,
       sum(output_tokens)::BIGINT                     AS output_tokens,
       fsum(cost)                             AS cost_usd,  -- NULL when none is priced (never $0)
       count(*) FILTER (WHERE NOT priced)     AS unpriced_requests
FROM long
GROUP BY ALL
ORDER BY dimension, cost_usd DESC NULLS LAST, requests DESC, value
