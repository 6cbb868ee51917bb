-- retrieved_blocks: the blocks (blank-line separated paragraphs of $min_chars+ characters, stripped of whitespace)
-- of long user and system messages that appear in at least two different messages of at least $min_threads
-- threads: documents a retriever injected (conversations.retrieved_blocks).
-- Inputs: contents; _cid_threads (cid, thread: each input user/system message's content in the period and the
-- threads sending it, as conversations.retrieved_blocks registers it). Parameters $min_tokens, $min_chars,
-- $min_threads, $whitespace (the characters Python's str.strip() removes).
-- Output: block (a hash of its text), text, cids (the message contents holding it, once per occurrence).
-- The texts stay here: the command's process once held every candidate text, and each paragraph again as a Python
-- string in dictionaries (+1.2 GB at a million calls, 0.6 GB of it kept after). Empty in --no-text databases.
WITH candidates AS (
    SELECT (hash(content_id) >> 1)::BIGINT AS cid, text
    FROM contents
    WHERE text IS NOT NULL AND tokens_o200k >= $min_tokens
),
-- read twice, not held: the blocks' numbers first, the retrieved ones' texts after
paragraphs AS NOT MATERIALIZED (
    SELECT cid, trim(unnest(string_split(text, chr(10) || chr(10))), $whitespace) AS para
    FROM candidates
    WHERE cid IN (SELECT cid FROM _cid_threads)
),
blocks AS (
    SELECT cid, hash(para) AS block FROM paragraphs WHERE length(para) >= $min_chars
),
retrieved AS (
    SELECT b.block
    FROM (SELECT DISTINCT cid, block FROM blocks) b
    JOIN _cid_threads t USING (cid)
    GROUP BY b.block
    HAVING count(DISTINCT b.cid) >= 2 AND count(DISTINCT t.thread) >= $min_threads
),
texts AS (
    SELECT hash(para) AS block, any_value(para) AS text
    FROM paragraphs
    WHERE length(para) >= $min_chars AND hash(para) IN (SELECT block FROM retrieved)
    GROUP BY 1
)
SELECT b.block, any_value(t.text) AS text, list(b.cid) AS cids
FROM blocks b
JOIN texts t USING (block)
GROUP BY b.block
