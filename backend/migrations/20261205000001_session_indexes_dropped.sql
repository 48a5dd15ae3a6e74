-- Sessions were indexed by when they were made and last seen, for the hourly pruning alone,
-- which now reads the table whole (as it does spent_states). Each index cost every sign-in
-- a page or two more written to SQLite's log, and every renewal of a session one more. The
-- sessions of a deployment number in the thousands; reading them once an hour costs
-- milliseconds.
DROP INDEX IF EXISTS sessions_by_seen;
DROP INDEX IF EXISTS sessions_by_created;
