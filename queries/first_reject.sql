-- first_reject: the first record rejected in the files just read, named in the warning that counts them.
-- Inputs: rejects; parameter $paths (the files just read). Output: location, reason.
SELECT location, reason
FROM rejects
WHERE path IN (SELECT unnest($paths))
ORDER BY rowid
LIMIT 1
