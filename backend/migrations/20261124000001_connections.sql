-- Saved connections: one per provider account. Tokens are sealed (AES-256-GCM,
-- base64) by the application; this schema is plain SQL that both SQLite and
-- PostgreSQL accept.
CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    account_id TEXT NOT NULL,
    login TEXT NOT NULL,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    token_type TEXT NOT NULL,
    expires_at BIGINT,
    scope TEXT,
    status TEXT NOT NULL,
    device_id TEXT,
    device_name TEXT,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT,
    -- Unix nanoseconds of the last sign-in or refresh: orders a browser's connections.
    touched_ns BIGINT NOT NULL,
    UNIQUE (provider, account_id)
);

CREATE INDEX connections_by_login ON connections (provider, login);

-- Which browsers may see a connection's token.
CREATE TABLE connection_owners (
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    browser_id TEXT NOT NULL,
    PRIMARY KEY (connection_id, browser_id)
);
