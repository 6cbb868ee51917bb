-- unit_costs: spend per unit of work: conversation, session, end user, feature, tag and agent task.
-- Inputs: priced_requests, requests (thread_id, written back by the conversation rebuild), sources (format).
-- Output: unit ('conversation' | 'session' | 'user' | 'feature' | 'tag' | 'task'), value, requests,
-- cost_usd (NULL when nothing in it is priced), unpriced_requests, first_ts, last_ts, exit_status (tasks: the
-- run's exit status as its log records it, from the `exit_status:<status>` tag; else NULL).
-- conversation: the thread llmcost rebuilt from message content, else the logged conversation id; session: the
-- logged conversation or session id, else the rebuilt thread (as `spend_by_session`); task: one agent run (the
-- logged id of a run of an agent whose log is one run per session or file, or any call whose log records the
-- run's exit status). Calls with no value for a unit are not in that unit's rows. A call's `exit_status:` tag
-- is an outcome, not a label: it is not counted under `tag`.
WITH base AS (
    SELECT p.*, r.thread_id, s.format,
           list_filter(coalesce(p.tags, []), lambda t: NOT starts_with(t, 'exit_status:')) AS labels,
           list_filter(coalesce(p.tags, []), lambda t: starts_with(t, 'exit_status:'))     AS exits
    FROM priced_requests p
    JOIN requests r USING (request_id)
    LEFT JOIN sources s ON s.source_id = p.source_id
),
long AS (
    SELECT 'conversation' AS unit, coalesce(thread_id, conversation_id) AS value, * FROM base
    UNION ALL SELECT 'session', coalesce(conversation_id, thread_id), * FROM base
    UNION ALL SELECT 'user', "user", * FROM base
    UNION ALL SELECT 'feature', feature, * FROM base
    UNION ALL SELECT 'tag', unnest(labels), * FROM base
    UNION ALL SELECT 'task', conversation_id, * FROM base
        WHERE format IN ('mini_swe_agent_traj', 'claude_code', 'codex_session') OR len(exits) > 0
)
SELECT unit,
       value,
       count(*)                                        AS requests,
       fsum(cost)                                      AS cost_usd,
       count(*) FILTER (WHERE NOT priced)              AS unpriced_requests,
       min(ts)                                         AS first_ts,
       max(ts)                                         AS last_ts,
       CASE WHEN unit = 'task' THEN substr(max(exits[-1]), 13) END
                                                       AS exit_status
FROM long
WHERE value IS NOT NULL
GROUP BY unit, value
ORDER BY unit, cost_usd DESC NULLS LAST, requests DESC, value
