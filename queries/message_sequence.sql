-- message_sequence: every message of the numbered requests, in request then position order.
-- Inputs: _sequence_requests (sequence_requests.sql, registered by the caller), messages.
-- Output: req, position, cid (a 63-bit hash of content_id: compact in memory, collisions negligible), role,
-- tokens (in the request's encoding), is_output, breakpoint (the TTL of a cache breakpoint set there, or NULL),
-- breakpoints (how many blocks of the message carry it; NULL on rows stored before migration 11: one).
SELECT s.req, m.position, (hash(m.content_id) >> 1)::BIGINT AS cid, m.role, m.tokens, m.is_output, m.breakpoint,
    m.breakpoints
FROM _sequence_requests s
JOIN messages m USING (request_id)
ORDER BY s.req, m.position
