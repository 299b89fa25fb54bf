-- horde-rs coordinator, SQLite schema version 1.
-- Each record is stored whole as JSON (`body`); the in-memory state is
-- authoritative while running and is rebuilt from these tables on start.
CREATE TABLE users (
    id       TEXT PRIMARY KEY,
    key_hash TEXT UNIQUE,
    body     TEXT NOT NULL
);
CREATE TABLE shared_keys (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE workers (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE requests (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE interrogations (
    id   TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
