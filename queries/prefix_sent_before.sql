-- prefix_sent_before: how many requests before $start began with the same messages as the first $messages input
-- messages of request $request_id (by role and content), for the audit's "new prefix" alert.
-- Inputs: messages, requests; parameters $request_id, $messages, $start. Output: requests.
WITH target AS (
    SELECT string_agg(role || ':' || content_id, '|' ORDER BY position) AS k
    FROM (SELECT role, content_id, position FROM messages WHERE request_id = $request_id AND NOT is_output
          ORDER BY position LIMIT $messages)
), first AS (
    SELECT content_id FROM messages WHERE request_id = $request_id AND NOT is_output ORDER BY position LIMIT 1
), earlier AS (
    SELECT m.request_id, string_agg(m.role || ':' || m.content_id, '|' ORDER BY m.position) AS k
    FROM messages m JOIN requests r USING (request_id)
    WHERE r.ts < $start AND NOT m.is_output AND m.request_id IN (
        SELECT request_id FROM messages WHERE content_id = (SELECT content_id FROM first))
    GROUP BY m.request_id
)
SELECT count(*) AS requests FROM earlier, target WHERE starts_with(earlier.k, target.k)
