-- Incremental indexing: a job whose commit shares most files with the repository's current snapshot updates that
-- snapshot in place (its changed files, and the cross-file rows a change can affect) instead of writing a new one.
-- A file keeps its `file_idx` for as long as its path stays in the snapshot; a new path gets a new one, never one
-- a deleted file had (`next_file_idx`, NULL: one past the largest), so ids of a snapshot are stable across commits,
-- unique, and not necessarily contiguous.
--
-- What the cross-file step read besides the files is recorded, so the next job knows when it must relink all:
-- `config_digest` covers the text of every tsconfig/jsconfig/package.json of the commit, `paths_digest` every path
-- an import could resolve to. NULL (a snapshot written before this migration) means "unknown": relink all.
ALTER TABLE snapshots
    ADD COLUMN config_digest text,
    ADD COLUMN paths_digest text,
    ADD COLUMN next_file_idx integer,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
