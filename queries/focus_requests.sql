-- focus_requests: the columns of the period's priced requests that the FOCUS rows read (focus.from_requests), not a
-- copy of all of them.
-- Inputs: priced_requests.
-- Output: those of ts, status, priced, the rows' group columns, the six token counts and their costs that exist.
SELECT COLUMNS(lambda c: c IN (
    'ts', 'status', 'priced',
    'provider', 'model', 'model_key', 'api_key', 'project', 'mode', 'tier', 'price_version', 'adjustments',
    'input_tokens', 'cache_read_tokens', 'cache_write_5m_tokens', 'cache_write_1h_tokens', 'output_tokens',
    'reasoning_tokens',
    'cost_input', 'cost_cache_read', 'cost_cache_write_5m', 'cost_cache_write_1h', 'cost_output', 'cost_reasoning'
))
FROM priced_requests
