-- ingest_sources: the manifest of files read, newest first.
-- Inputs: sources. Output: path, format, sha256, bytes, rows, rejected, duplicates, ingested_at.
SELECT path, format, sha256, bytes, rows, rejected, duplicates, ingested_at
FROM sources
ORDER BY source_id
