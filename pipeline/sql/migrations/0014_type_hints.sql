-- Following member accesses through types (docs/index-contract.md, "Type hints"): what a declaration's value is
-- (or returns, or extends), and what the first name of a reference is when it is a parameter or local variable.
-- Both are read back when an incremental job relinks a file with the declarations it reads.
ALTER TABLE symbols ADD COLUMN type_hint text;
ALTER TABLE refs ADD COLUMN root_hint text;

-- A file dependency is an import, or a file whose declarations the source's links read while following types
-- (inferred): an incremental job relinks the source whenever the target is relinked or changes.
ALTER TABLE file_dependencies ADD COLUMN inferred boolean NOT NULL DEFAULT false;
