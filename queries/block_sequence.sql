-- block_sequence: block-hash traces' blocks in time order, the input to prefix-reuse analysis.
-- Inputs: requests, blocks. Parameters $since, $until.
-- Output: request_id, t (seconds: calendar time, or time from the trace's start), input_tokens, position,
-- block_hash; ordered by t, request_id, position.
SELECT r.request_id, coalesce(epoch(r.ts), r.trace_ms / 1000.0) AS t, r.input_tokens, b.position, b.block_hash
FROM requests r
JOIN blocks b USING (request_id)
WHERE ($since IS NULL OR r.ts >= $since) AND ($until IS NULL OR r.ts < $until)
ORDER BY t NULLS LAST, r.request_id, b.position
