-- Link tables hold only links that found their target: a reference or a named import without a row in
-- `reference_links` / `binding_links` names nothing defined in the commit (its name is in `refs` /
-- `import_bindings`). Rows without a target said nothing a LEFT JOIN does not, and were most of the links'
-- write time at the end of each job.

DELETE FROM reference_links WHERE target_file_idx IS NULL OR target_symbol_idx IS NULL;
ALTER TABLE reference_links
    ALTER COLUMN target_file_idx SET NOT NULL,
    ALTER COLUMN target_symbol_idx SET NOT NULL;

DELETE FROM binding_links WHERE target_file_idx IS NULL OR target_symbol_idx IS NULL;
ALTER TABLE binding_links
    ALTER COLUMN target_file_idx SET NOT NULL,
    ALTER COLUMN target_symbol_idx SET NOT NULL;
