-- spend_by_session: spend per conversation or session, like `ccusage session`: the logged conversation or
-- session id where the log has one, else the thread llmcost rebuilt from message content.
-- Inputs: priced_requests, requests (thread_id, written back by the conversation rebuild).
-- Output: session, source ('logged' | 'rebuilt'), first_ts, last_ts, requests, models (as logged, comma
-- separated), input_tokens, cache_read_tokens, output_tokens, cost_usd (NULL when nothing in it is priced),
-- unpriced_requests; the costliest first.
SELECT coalesce(p.conversation_id, r.thread_id)                     AS session,
       CASE WHEN p.conversation_id IS NOT NULL THEN 'logged' ELSE 'rebuilt' END AS source,
       min(p.ts)                                                    AS first_ts,
       max(p.ts)                                                    AS last_ts,
       count(*)                                                     AS requests,
       string_agg(DISTINCT p.model, ', ' ORDER BY p.model)          AS models,
       sum(p.input_tokens)::BIGINT                                  AS input_tokens,
       sum(p.cache_read_tokens)::BIGINT                             AS cache_read_tokens,
       sum(p.output_tokens)::BIGINT                                 AS output_tokens,
       fsum(p.cost)                                                 AS cost_usd,
       count(*) FILTER (WHERE NOT p.priced)                         AS unpriced_requests
FROM priced_requests p
JOIN requests r USING (request_id)
WHERE coalesce(p.conversation_id, r.thread_id) IS NOT NULL
GROUP BY ALL
ORDER BY cost_usd DESC NULLS LAST, requests DESC, session
