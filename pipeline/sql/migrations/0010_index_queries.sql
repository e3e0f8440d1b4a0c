-- The query API (pipeline/index_queries.py): name lookups and the reverse lookups it answers from the index.
--
-- pg_trgm ranks fuzzy symbol matches. The extension exists once per database, in the schema that first created
-- it (here: this project's schema when it is new); a second project schema in the same database finds it where
-- it is, so the operator class is named through that schema, and the queries look the schema up the same way.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

DO $$
DECLARE
    trgm_schema text := (
        SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'
    );
BEGIN
    -- fuzzy symbol search: name % query, ranked by similarity
    EXECUTE format('CREATE INDEX symbols_name_trgm ON symbols USING gin (name %I.gin_trgm_ops)', trgm_schema);
END
$$;

-- exact and prefix symbol search, any case: lower(name) = q, lower(name) LIKE 'q%'
CREATE INDEX symbols_name_lower ON symbols (lower(name) text_pattern_ops);

-- a repository by its full name, any case
CREATE INDEX repositories_full_name_lower ON repositories (lower(full_name));

-- the references linked to one symbol
CREATE INDEX reference_links_target ON reference_links (snapshot_id, target_file_idx, target_symbol_idx);

-- the imports that resolve to one file (its importers)
CREATE INDEX resolved_imports_target ON resolved_imports (snapshot_id, target_file_idx)
    WHERE target_file_idx IS NOT NULL;

-- what depends on a file, on a symbol (change impact, walked from the target back to its dependents)
CREATE INDEX file_dependencies_target ON file_dependencies (snapshot_id, target_file_idx);
CREATE INDEX symbol_dependencies_target ON symbol_dependencies (snapshot_id, target_file_idx, target_symbol_idx);
