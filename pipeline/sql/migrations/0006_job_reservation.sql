-- A job can be reserved for one worker (the `index` command's own): other workers leave it alone while that
-- worker's heartbeat in `workers` is fresh, and take it like any other job once it is not (the reserving process
-- stopped or died), so a reserved job is never stranded.
ALTER TABLE jobs ADD COLUMN reserved_for text;
