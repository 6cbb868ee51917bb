-- trace_rows_by_file: rows of block-hash traces (no model, no cost) among the files just read, by path.
-- Inputs: requests, sources; parameter $paths (the files just read, each at its latest reading).
-- Output: path, requests.
SELECT s.path, count(*) AS requests
FROM requests r JOIN sources s USING (source_id)
WHERE r.trace_ms IS NOT NULL
  AND s.source_id IN (SELECT max(source_id) FROM sources WHERE path IN (SELECT unnest($paths)) GROUP BY path)
GROUP BY s.path
