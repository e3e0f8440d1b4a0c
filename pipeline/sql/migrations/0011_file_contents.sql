-- Code search (pipeline/code_search.py): the text of every indexed file, content-addressed by its git blob OID, so
-- a file unchanged across commits (or shared by repositories) is stored once, with a trigram index that narrows
-- literal and regular-expression searches (pg_trgm serves `~`, `~*`, LIKE and ILIKE from it).
--
-- Which files have contents: those with a per-file result whose bytes are UTF-8 without a NUL byte (the parsers'
-- decode policy: a file rejected as invalid UTF-8 or for a NUL byte has a result with that error and no contents,
-- so it is not searchable), within `index.max_file_bytes` (larger files get no result at all). The writer stores
-- them with the results it stores, in the job's transaction; a file whose result is reused sends nothing.
--
-- Lifetime: contents live while a `file_results` row names their blob. Deleting results deletes the contents no
-- remaining result names, with the same protocol as the writer's orphan deletion (migration 0007): a writer that
-- stores a new result for contents already stored holds them FOR KEY SHARE until it commits, and the deletion
-- takes only the contents it can lock FOR UPDATE (SKIP LOCKED), then checks in a statement of its own, which sees
-- every result committed before the lock.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE file_contents (
    blob_oid text PRIMARY KEY,
    content text NOT NULL
);

-- lz4 compresses the text at a quarter of pglz's CPU (0.1 s against 0.4 s for the 37 MB bench corpus), and
-- decompresses faster for searches; a server built without lz4 keeps the default.
DO $$
BEGIN
    ALTER TABLE file_contents ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

-- The extension exists once per database, in the schema that first created it: name its operator class there.
DO $$
DECLARE
    trgm_schema text := (
        SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'
    );
BEGIN
    EXECUTE format('CREATE INDEX file_contents_trgm ON file_contents USING gin (content %I.gin_trgm_ops)', trgm_schema);
END
$$;

CREATE FUNCTION file_result_delete_contents() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    locked text[];
BEGIN
    -- The deleted results' contents that no writer is reusing (one that holds them FOR KEY SHARE is), locked ...
    SELECT array_agg(blob_oid) INTO locked FROM (
        SELECT c.blob_oid FROM file_contents c
        WHERE c.blob_oid IN (SELECT d.blob_oid FROM deleted_results d)
        ORDER BY c.blob_oid
        FOR UPDATE SKIP LOCKED
    ) AS candidates;
    -- ... then deleted if no result names them: a statement of its own, so it sees every result committed before
    -- the lock (a writer coming later waits for this transaction, then stores the contents again).
    DELETE FROM file_contents c
    WHERE c.blob_oid = ANY(locked)
      AND NOT EXISTS (SELECT FROM file_results r WHERE r.blob_oid = c.blob_oid);
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_delete_contents AFTER DELETE ON file_results
    REFERENCING OLD TABLE AS deleted_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_delete_contents();

CREATE FUNCTION file_result_truncate_contents() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE file_contents;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_truncate_contents AFTER TRUNCATE ON file_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_truncate_contents();
