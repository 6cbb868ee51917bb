-- system_prompts: distinct system-prompt texts and how many requests sent each, for volatile-prefix analysis.
-- Inputs: requests, messages, contents. Parameters $since, $until.
-- Output: content_id, text (NULL in --no-text databases), tokens, requests, model (the one it was most sent to).
SELECT m.content_id, any_value(c.text) AS text, any_value(c.tokens_o200k) AS tokens, count(*) AS requests,
       mode(r.model) AS model
FROM messages m
JOIN requests r USING (request_id)
JOIN contents c USING (content_id)
WHERE m.role = 'system' AND NOT m.is_output
  AND ($since IS NULL OR r.ts >= $since) AND ($until IS NULL OR r.ts < $until)
GROUP BY m.content_id
ORDER BY requests DESC, m.content_id
