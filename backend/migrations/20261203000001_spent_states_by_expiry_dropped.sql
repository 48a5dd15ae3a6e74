-- A spent state is kept only until the sign-in it belonged to would have expired (minutes),
-- so the hourly pruning reads the whole, small table. Its index on expires_at cost every
-- callback one more page written to the log; nothing else reads by expiry.
DROP INDEX spent_states_by_expiry;
