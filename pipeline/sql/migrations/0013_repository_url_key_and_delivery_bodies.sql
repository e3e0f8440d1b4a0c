-- A repository's identity is where it lives, however its URL is spelled: a push's clone URL
-- (https://github.com/Acme/App.git) and the URL `POST /index acme/app` made (https://github.com/acme/app) name one
-- repository, so enqueueing either finds the same row (repository_upsert) instead of making a second one.
-- The key of a network URL or scp-like address is its host (lower-cased, with a non-default port) and its path
-- without a trailing `.git` or `/`; the scheme and user name are dropped (one repository reached over https, http,
-- git or ssh is one repository). The path is lower-cased on the hosts whose paths ignore case (github.com,
-- gitlab.com); elsewhere case is kept, since a self-hosted server may tell Acme/App from acme/app. A local path is
-- its own key (the target resolved it already). The row keeps the URL it was first enqueued with, which is what the
-- fetcher uses: the key is never fetched (a self-hosted server may need the `.git` the key drops).
CREATE FUNCTION repository_url_key(git_url text) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    -- host[:port] and path of scheme://[user@]host[:port]/path, else of an scp-like [user@]host:path
    parts text[] := coalesce(
        regexp_match(git_url, '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@]*@)?([^/]+)/(.*)$'),
        regexp_match(git_url, '^(?:[^/@:]*@)?([^/:]+):(.*)$'));
    host text := lower(parts[1]);
    path text := regexp_replace(trim(leading '/' from parts[2]), '(\.git)?/*$', '');
BEGIN
    IF parts IS NULL THEN
        RETURN git_url;
    END IF;
    IF split_part(host, ':', 1) IN ('github.com', 'gitlab.com') THEN
        path := lower(path);
    END IF;
    RETURN host || '/' || path;
END
$$;

-- NULL only for the duplicates a database made before this key existed: of the rows sharing a key, the oldest
-- (the one first enqueued) gets it and every later enqueue of any spelling finds that one; the others keep their
-- snapshots and jobs, get no new jobs, and can be deleted by hand.
ALTER TABLE repositories ADD COLUMN url_key text;

UPDATE repositories SET url_key = keyed.url_key
FROM (
    SELECT id, repository_url_key(git_url) AS url_key,
        row_number() OVER (PARTITION BY repository_url_key(git_url) ORDER BY created_at, id) AS rank
    FROM repositories
) AS keyed
WHERE keyed.id = repositories.id AND keyed.rank = 1;

CREATE UNIQUE INDEX repositories_url_key ON repositories (url_key);

-- The database keys every row it is given, whoever inserts it (repository_upsert, a test, a hand-written INSERT),
-- before the conflict check of an upsert on url_key.
CREATE FUNCTION repository_set_url_key() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    NEW.url_key := repository_url_key(NEW.git_url);
    RETURN NEW;
END
$$;

CREATE TRIGGER repositories_set_url_key BEFORE INSERT OR UPDATE OF git_url ON repositories
    FOR EACH ROW EXECUTE FUNCTION repository_set_url_key();

-- A GitHub delivery is also known by its body's SHA-256: the delivery id is not covered by the signature, so a
-- signed body replayed under a fresh id must not enqueue its (older) commit again. Two distinct pushes never have
-- the same body (GitHub's carries the push time), and a redelivery has the same id and the same body. NULL for a
-- GitLab delivery (its token signs no body: whoever holds it can send any body, so a replayed one proves nothing
-- more) and for those recorded before this column, which expire within the retention.
ALTER TABLE webhook_deliveries ADD COLUMN body_sha256 bytea;

CREATE UNIQUE INDEX webhook_deliveries_body ON webhook_deliveries (provider, body_sha256);

-- (0012's job groups, precisely: one job of a group runs at a time between claims. A job cancelled or expired while
-- running leaves `active` at once, while its worker may go on for up to one heartbeat interval before it notices;
-- the writer's lock on the repository's row still serialises the two jobs' writes. Migration files are never
-- edited once applied, so schema.sql's copy of 0012's comment says it there.)
