-- block_candidates: texts of long user and system messages, in which retrieved (RAG-like) blocks are sought.
-- Inputs: contents. Output: cid (the same 63-bit hash of content_id as message_sequence), text.
-- Empty in --no-text databases: there, only whole repeated messages can be recognised as retrieved.
SELECT (hash(content_id) >> 1)::BIGINT AS cid, text
FROM contents
WHERE text IS NOT NULL AND tokens_o200k >= $min_tokens
