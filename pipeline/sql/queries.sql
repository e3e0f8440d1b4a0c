-- All runtime SQL of the project, one statement per `-- name:` header, loaded by pipeline.db.query(name).
-- Names are entity-first (job_claim, migration_list). The line after each header says what the statement does.
-- Statements run with search_path set to the project's schema, so table names are unqualified.

-- name: migration_list
-- Versions, names and checksums of the applied migrations, oldest first.
SELECT version, name, checksum FROM schema_migrations ORDER BY version;

-- name: migration_record
-- Record one applied migration.
INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s);

-- name: migration_current_version
-- The newest applied migration version, or NULL when none (or the table is missing: the caller checks first).
SELECT max(version) FROM schema_migrations;

-- name: migration_table_exists
-- Whether the schema has its migrations table (false: the database was never migrated).
SELECT to_regclass(%(table)s) IS NOT NULL;
