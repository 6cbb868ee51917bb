-- sources_of_formats: the ingested files read as one of the given formats (e.g. the coding agents' logs).
-- Inputs: sources; parameter $formats (a list of format names).
-- Output: source_id.
SELECT source_id FROM sources WHERE format IN $formats
