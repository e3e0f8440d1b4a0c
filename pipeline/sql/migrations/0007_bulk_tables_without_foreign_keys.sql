-- The bulk tables lose their foreign keys: every copied row fired a check against the `file_results` or
-- `snapshots` row the writer itself had created in the same transaction, which was most of Postgres's CPU per
-- stored row. Integrity now rests on the writer's transaction, and `python -m pipeline db check` verifies it.
--
-- What the foreign keys did, and what does it now:
--   * ON DELETE CASCADE from `snapshots` (to `snapshot_files` and the cross-file tables) and from `file_results`
--     (to its content tables): statement-level triggers below delete the dependent rows set-wise, whatever deletes
--     the parent (the writer's snapshot replacement and orphan deletion, a repository deleted with its snapshots).
--   * `snapshot_files.file_result_id` had no cascade: it refused deleting a result a snapshot uses. The guard is now
--     the writer's orphan deletion (stages/write.py): a writer holds FOR KEY SHARE on every result its snapshot uses
--     until it commits, and deletes only the candidates it could lock FOR UPDATE (SKIP LOCKED) and that no committed
--     `snapshot_files` row uses (NOT EXISTS, in a statement after the locks). Anything else that stores a
--     `snapshot_files` row must hold the same FOR KEY SHARE lock on its result until it commits. The trigger on
--     `file_results` also refuses deleting a result a visible `snapshot_files` row uses, as the key did.
--   * TRUNCATE, which the keys refused (or cascaded, with CASCADE): triggers truncate the dependent tables, and
--     refuse truncating file_results while snapshot_files names results.
--   * Rows pointing nowhere (a bug, or a write outside the writer): found by `db check`, no longer refused.
-- The small tables keep their keys: snapshots → repositories / index_jobs, repositories.current_snapshot_id, the
-- queue's tables.

ALTER TABLE symbols DROP CONSTRAINT symbols_file_result_id_fkey;
ALTER TABLE imports DROP CONSTRAINT imports_file_result_id_fkey;
ALTER TABLE import_bindings DROP CONSTRAINT import_bindings_file_result_id_fkey;
ALTER TABLE exports DROP CONSTRAINT exports_file_result_id_fkey;
ALTER TABLE refs DROP CONSTRAINT refs_file_result_id_fkey;
ALTER TABLE snapshot_files DROP CONSTRAINT snapshot_files_snapshot_id_fkey;
ALTER TABLE snapshot_files DROP CONSTRAINT snapshot_files_file_result_id_fkey;
ALTER TABLE resolved_imports DROP CONSTRAINT resolved_imports_snapshot_id_fkey;
ALTER TABLE binding_links DROP CONSTRAINT binding_links_snapshot_id_fkey;
ALTER TABLE reference_links DROP CONSTRAINT reference_links_snapshot_id_fkey;
ALTER TABLE file_dependencies DROP CONSTRAINT file_dependencies_snapshot_id_fkey;
ALTER TABLE symbol_dependencies DROP CONSTRAINT symbol_dependencies_snapshot_id_fkey;
ALTER TABLE package_dependencies DROP CONSTRAINT package_dependencies_snapshot_id_fkey;

-- A deleted snapshot's file list and cross-file rows go with it, in one statement per table (each a join on the
-- table's primary key, which leads with snapshot_id). Fires for cascades too: a repository deleted with its
-- snapshots.
CREATE FUNCTION snapshot_delete_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM snapshot_files t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM resolved_imports t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM binding_links t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM reference_links t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM file_dependencies t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM symbol_dependencies t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    DELETE FROM package_dependencies t USING deleted_snapshots d WHERE t.snapshot_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER snapshots_delete_rows AFTER DELETE ON snapshots
    REFERENCING OLD TABLE AS deleted_snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION snapshot_delete_rows();

-- A deleted per-file result's rows go with it, in one statement per table (each a join on the table's primary
-- key, which leads with file_result_id). Deleting a result a snapshot still uses is refused, as the foreign key
-- of snapshot_files did (through snapshot_files_result).
CREATE FUNCTION file_result_delete_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    in_use record;
BEGIN
    SELECT f.file_result_id, f.snapshot_id, f.path INTO in_use
    FROM deleted_results d JOIN snapshot_files f ON f.file_result_id = d.id
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'file_results row % is still used by snapshot % (%): it cannot be deleted',
            in_use.file_result_id, in_use.snapshot_id, in_use.path
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    DELETE FROM symbols t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM imports t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM import_bindings t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM exports t USING deleted_results d WHERE t.file_result_id = d.id;
    DELETE FROM refs t USING deleted_results d WHERE t.file_result_id = d.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_delete_rows AFTER DELETE ON file_results
    REFERENCING OLD TABLE AS deleted_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_delete_rows();

-- TRUNCATE, which the keys refused or cascaded (TRUNCATE repositories CASCADE reaches snapshots): a truncated
-- snapshots table takes its rows' tables with it; file_results is truncated with its content tables, and refused
-- while a snapshot_files row names a result.
CREATE FUNCTION snapshot_truncate_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    TRUNCATE snapshot_files, resolved_imports, binding_links, reference_links, file_dependencies,
        symbol_dependencies, package_dependencies;
    RETURN NULL;
END
$$;

CREATE TRIGGER snapshots_truncate_rows AFTER TRUNCATE ON snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION snapshot_truncate_rows();

CREATE FUNCTION file_result_truncate_rows() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF EXISTS (SELECT FROM snapshot_files) THEN
        RAISE EXCEPTION 'file_results cannot be truncated while snapshot_files names results: delete the '
            'snapshots first' USING ERRCODE = 'foreign_key_violation';
    END IF;
    TRUNCATE symbols, imports, import_bindings, exports, refs;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_results_truncate_rows AFTER TRUNCATE ON file_results
    FOR EACH STATEMENT EXECUTE FUNCTION file_result_truncate_rows();
