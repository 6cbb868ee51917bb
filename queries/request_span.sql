-- request_span: the first and last moment of the store's dated API calls (block-hash traces aside: they have no
-- calendar time; usage export buckets aside: data_span.sql counts those too).
-- Inputs: requests. Output: first, last (NULL when no call is dated).
SELECT min(ts) AS first, max(ts) AS last FROM requests WHERE trace_ms IS NULL
