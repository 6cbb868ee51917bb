-- rejects_by_reason: why records were quarantined, with the first place each reason was seen.
-- Inputs: rejects. Output: reason, records, first_location.
SELECT reason, sum(coalesce(records, 1))::BIGINT AS records, min(location) AS first_location
FROM rejects
GROUP BY reason
ORDER BY records DESC, reason
