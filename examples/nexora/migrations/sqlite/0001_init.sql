-- Nexora schema for SQLite. Keep in step with migrations/postgres/0001_init.sql:
-- same tables, columns and names; only identity columns differ.
-- Times are Unix milliseconds (BIGINT) so one code path reads them on both databases.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'member',
    trust_score   BIGINT  NOT NULL DEFAULT 500,
    last_active   BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE TABLE guilds (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT   NOT NULL UNIQUE,
    description TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE guild_members (
    guild_id  BIGINT NOT NULL REFERENCES guilds(id) ON DELETE CASCADE,
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role      TEXT   NOT NULL DEFAULT 'member',
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX guild_members_user ON guild_members(user_id);

CREATE TABLE direct_conversations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_a     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_b     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    CHECK (user_a < user_b),
    UNIQUE (user_a, user_b)
);

CREATE TABLE disputes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT   NOT NULL,
    reason      TEXT   NOT NULL DEFAULT '',
    status      TEXT   NOT NULL DEFAULT 'open',
    raised_by   BIGINT NOT NULL REFERENCES users(id),
    resolution  TEXT,
    created_at  BIGINT NOT NULL,
    resolved_at BIGINT
);

CREATE TABLE dispute_parties (
    dispute_id BIGINT NOT NULL REFERENCES disputes(id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT   NOT NULL,
    PRIMARY KEY (dispute_id, user_id)
);
CREATE INDEX dispute_parties_user ON dispute_parties(user_id);

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_kind TEXT   NOT NULL,
    conversation_id   BIGINT NOT NULL,
    sender_id         BIGINT NOT NULL REFERENCES users(id),
    content           TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    edited_at         BIGINT,
    deleted_at        BIGINT
);
CREATE INDEX messages_conversation ON messages(conversation_kind, conversation_id, id);
CREATE INDEX messages_sender_created ON messages(sender_id, created_at);

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type       TEXT   NOT NULL,
    title      TEXT   NOT NULL,
    message    TEXT   NOT NULL,
    icon       TEXT   NOT NULL,
    data       TEXT   NOT NULL DEFAULT '{}',
    read_at    BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX notifications_user ON notifications(user_id, id);

CREATE TABLE trust_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    old_score  BIGINT NOT NULL,
    new_score  BIGINT NOT NULL,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX trust_changes_user_created ON trust_changes(user_id, created_at);

CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT   NOT NULL,
    period      TEXT   NOT NULL,
    status      TEXT   NOT NULL,
    triggered_by TEXT  NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    result      TEXT,
    error       TEXT,
    UNIQUE (job, period)
);
