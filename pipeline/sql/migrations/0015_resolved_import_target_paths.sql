-- An import that resolves to a file the index does not hold (`import "./styles.css"`, `import pkg from
-- "../package.json"`: no registered language, or skipped as too large, minified…) had kind `file` and no target:
-- `target_file_idx` is NULL for it. `target_path` keeps the repository-relative path it resolved to, so readers
-- can show where it points; it is NULL whenever `target_file_idx` is set (the path is then snapshot_files.path).
ALTER TABLE resolved_imports ADD COLUMN target_path text;
