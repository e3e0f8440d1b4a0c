-- `force`: index the commit even if it is already the repository's current index (otherwise the job ends
-- `skipped`). Stored on the index job, not only in its queue job's payload, so an operator's retry keeps it and
-- a forced request that finds an unfinished duplicate can upgrade it.

ALTER TABLE index_jobs ADD COLUMN force boolean NOT NULL DEFAULT false;
