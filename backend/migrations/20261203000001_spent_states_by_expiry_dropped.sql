-- A spent state is kept until the sign-in it belonged to would have expired and is pruned
-- hourly, so the table holds about an hour of sign-ins and the pruning reads it whole (it
-- deletes most of it anyway). Its index on expires_at cost every callback one more page
-- written to the log; nothing else reads by expiry.
DROP INDEX spent_states_by_expiry;
