-- requests_by_day: how many dated API calls each calendar day holds, to find days dated far from all the others.
-- Inputs: requests (block-hash traces left out: they have no calendar time).
-- Output: day, requests; the earliest day first.
SELECT CAST(ts AS DATE) AS day, count(*) AS requests
FROM requests
WHERE ts IS NOT NULL AND trace_ms IS NULL
GROUP BY ALL
ORDER BY day
