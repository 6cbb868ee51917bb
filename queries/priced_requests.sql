-- priced_requests: every row of the period's priced requests, as the report registered them.
-- Inputs: priced_requests.
-- Output: every priced_requests column.
SELECT * FROM priced_requests
