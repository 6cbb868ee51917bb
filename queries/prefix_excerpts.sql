-- prefix_excerpts: for each shared prefix, read from one request that sent it: a stable id (md5 of the model and
-- the prefix's (role, content_id) list: the same prefix gets the same id in every run and database), its first
-- message and its last.
-- Inputs: _prefix_examples (request_id, messages: how many leading input messages the prefix spans; registered
-- by the caller), requests, messages, contents.
-- Output: request_id, messages, prefix_id, first_content_id, first_role, first_text, last_role, last_text (texts NULL with --no-text).
WITH m AS (
    SELECT e.request_id, e.messages, m.role, m.content_id, c.text,
           row_number() OVER (PARTITION BY e.request_id, e.messages ORDER BY m.position) AS k
    FROM _prefix_examples e
    JOIN messages m USING (request_id)
    JOIN contents c USING (content_id)
    WHERE NOT m.is_output
)
SELECT m.request_id, m.messages,
       left(md5(any_value(r.model) || '|' || string_agg(m.role || ':' || m.content_id, '|' ORDER BY m.k)), 12)
           AS prefix_id,
       arg_min(m.content_id, m.k) AS first_content_id, arg_min(m.role, m.k) AS first_role, arg_min(m.text, m.k) AS first_text,
       arg_max(m.role, m.k) AS last_role, arg_max(m.text, m.k) AS last_text
FROM m
JOIN requests r USING (request_id)
WHERE m.k <= m.messages
GROUP BY m.request_id, m.messages
