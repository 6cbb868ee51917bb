-- system_prompts: distinct system-prompt texts and how many requests sent each, for volatile-prefix analysis.
-- Inputs: requests, messages, contents. Parameters $since, $until.
-- Output: content_id, text (NULL in --no-text databases), tokens, requests, model (the one it was most sent to).
-- Counted per content first and the texts joined after, one per distinct prompt: joined before the count, every
-- system message carried its prompt's text through the joins (on a read-only --db, whose `requests` is a view over
-- a join, 1.4 GB at 100k calls and 14 GB at 1M, bench/RESULTS.md stop 49).
SELECT s.content_id, c.text, c.tokens_o200k AS tokens, s.requests, s.model
FROM (
    SELECT m.content_id, count(*) AS requests, mode(r.model) AS model
    FROM messages m
    JOIN requests r USING (request_id)
    WHERE m.role = 'system' AND NOT m.is_output
      AND ($since IS NULL OR r.ts >= $since) AND ($until IS NULL OR r.ts < $until)
    GROUP BY m.content_id
) s
JOIN contents c USING (content_id)
ORDER BY s.requests DESC, s.content_id
