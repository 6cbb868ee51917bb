-- tokenizer_calibration: how our token count of each request's messages compares with the input tokens the
-- provider reported, per provider and encoding. For OpenAI models the ratio checks our counting; for models
-- whose tokenizer is not public (Claude, Gemini, DeepSeek) it is the factor that turns o200k counts into
-- estimates of theirs.
-- Inputs: requests, messages. Output: provider, encoding, requests, reported_input, counted_input, ratio.
-- counted_input adds OpenAI's documented chat overhead: 3 tokens per message plus 3 for the reply.
WITH per_request AS (
    SELECT r.request_id, r.provider, r.encoding, r.input_tokens,
           sum(m.tokens)::BIGINT + 3 * count(*) + 3 AS counted
    FROM requests r JOIN messages m USING (request_id)
    WHERE NOT m.is_output AND r.input_tokens > 0 AND r.status = 'ok' AND NOT coalesce(r.usage_estimated, false)
      AND ($since IS NULL OR r.ts >= $since) AND ($until IS NULL OR r.ts < $until)
    GROUP BY ALL
)
SELECT provider, encoding, count(*) AS requests, sum(input_tokens)::BIGINT AS reported_input,
       sum(counted)::BIGINT AS counted_input, sum(input_tokens)::BIGINT / nullif(sum(counted), 0) AS ratio
FROM per_request
GROUP BY ALL
ORDER BY requests DESC, provider, encoding
