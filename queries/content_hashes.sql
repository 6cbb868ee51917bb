-- content_hashes: the message sequence's hash of each content id (as message_sequence.sql computes it), to
-- match the variants of a volatile system prompt to the messages the replays see.
-- Inputs: parameter $content_ids (a list of content ids).
-- Output: content_id, hash.
SELECT content_id, (hash(content_id) >> 1)::BIGINT AS hash
FROM (SELECT unnest($content_ids::VARCHAR[]) AS content_id)
