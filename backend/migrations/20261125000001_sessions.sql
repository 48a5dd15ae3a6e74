-- Sessions live on the server: a row per completed sign-in, keyed by a hash of the
-- random id that the browser's sealed cookie carries. Idle expiry counts from
-- seen_at (renewed at most once a minute), absolute expiry from created_at.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);

CREATE INDEX sessions_by_seen ON sessions (seen_at);
CREATE INDEX sessions_by_created ON sessions (created_at);

-- Which sessions see which connections: those of the provider accounts they signed in with.
CREATE TABLE session_connections (
    session_hash TEXT NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    PRIMARY KEY (session_hash, connection_id)
);

CREATE INDEX session_connections_by_connection ON session_connections (connection_id);

-- Browsers were owners before sessions lived on the server; their ids were never
-- more than cookie values, so their rows have no session to move to.
DROP TABLE connection_owners;

-- States already spent by a callback, kept until the sign-in they belonged to would
-- have expired, so that a replay is refused on every instance and after a restart.
CREATE TABLE spent_states (
    state_hash TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

CREATE INDEX spent_states_by_expiry ON spent_states (expires_at);
