-- horde-rs coordinator, PostgreSQL schema version 1.
-- Several coordinator processes share these tables. Each record is stored
-- whole as JSON (`body`), stamped with the version of the turn that last
-- wrote it; a deleted record keeps its row with a NULL body (a tombstone) so
-- that other processes learn of the deletion when they catch up.
CREATE TABLE horde_records (
    kind     smallint NOT NULL,
    id       text     NOT NULL,
    version  bigint   NOT NULL,
    key_hash text,
    body     text,
    PRIMARY KEY (kind, id)
);
CREATE INDEX horde_records_by_version ON horde_records (version);
CREATE UNIQUE INDEX horde_records_by_key_hash ON horde_records (key_hash)
    WHERE key_hash IS NOT NULL;

-- The one row whose lock is the cluster's write lock; `version` counts turns.
CREATE TABLE horde_cluster (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    version bigint  NOT NULL
);
INSERT INTO horde_cluster (one, version) VALUES (true, 0);

-- When the cluster last swept (seconds since the Unix epoch; 0: never).
CREATE TABLE horde_sweep (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    swept_at double precision NOT NULL
);
INSERT INTO horde_sweep (one, swept_at) VALUES (true, 0);

CREATE TABLE horde_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Result and source images, so that any process serves any blob.
CREATE TABLE horde_blobs (
    name  text  PRIMARY KEY,
    bytes bytea NOT NULL
);
