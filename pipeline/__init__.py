"""Runtime of the indexer: configuration, embedded Postgres, database, queue, processes, CLI."""
