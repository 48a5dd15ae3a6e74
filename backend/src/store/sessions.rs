//! Sessions and spent states in the store: a session row per completed sign-in
//! (keyed by a hash of the id its cookie carries), the connections each session
//! sees, and the states that callbacks have already spent.

use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use super::{COLUMNS, Connection, SealedRow, Store, StoreError, bind_all, placeholders};

/// A session to start with a sign-in, replacing the browser's current one (if it has one).
#[derive(Debug)]
pub struct NewSession {
    /// The hash of the new session's id.
    pub hash: String,
    /// The hash of the session it replaces, whose connections it sees from now on.
    pub replaces: Option<String>,
}

/// A session as the store holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRow {
    /// Unix seconds when the sign-in that made it completed.
    pub created_at: i64,
    /// Unix seconds of the last renewal (at most one write a minute).
    pub seen_at: i64,
}

/// What one pruning pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub states: u64,
}

/// Session ids and states are stored only as their SHA-256, in hex.
pub fn hash_id(id: &str) -> String {
    super::hex(&Sha256::digest(id.as_bytes()))
}

/// Inside a sign-in's transaction: the new session, what it inherits, and its sight of `connection_id`.
pub(super) async fn start(
    tx: &mut Transaction<'static, Any>,
    session: &NewSession,
    connection_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO sessions (id_hash, created_at, seen_at) VALUES ($1, $2, $2)")
        .bind(&session.hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    if let Some(old) = &session.replaces {
        sqlx::query(
            "INSERT INTO session_connections (session_hash, connection_id) \
             SELECT $1, connection_id FROM session_connections WHERE session_hash = $2",
        )
        .bind(&session.hash)
        .bind(old)
        .execute(&mut **tx)
        .await?;
        end(tx, old).await?;
    }
    sqlx::query(
        "INSERT INTO session_connections (session_hash, connection_id) VALUES ($1, $2) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&session.hash)
    .bind(connection_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn end(tx: &mut Transaction<'static, Any>, hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM session_connections WHERE session_hash = $1")
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// The session whose id hashes to `hash`, if it exists (expired or not: the caller decides).
    pub async fn session(&self, hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query("SELECT created_at, seen_at FROM sessions WHERE id_hash = $1")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(SessionRow {
                created_at: row.try_get("created_at")?,
                seen_at: row.try_get("seen_at")?,
            })
        })
        .transpose()
    }

    /// The session whose id hashes to `hash` (expired or not), and the connections of
    /// `providers` it sees, most recently refreshed or created first: the page's read, in
    /// one query.
    pub async fn session_seeing(
        &self,
        providers: &[&str],
        hash: &str,
    ) -> Result<Option<(SessionRow, Vec<Connection>)>, StoreError> {
        let columns = COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let query = format!(
            "SELECT s.created_at AS session_created_at, s.seen_at AS session_seen_at, {columns} \
             FROM sessions s LEFT JOIN session_connections sc ON sc.session_hash = s.id_hash \
             LEFT JOIN connections c ON c.id = sc.connection_id AND c.provider IN ({}) \
             WHERE s.id_hash = $1 ORDER BY c.touched_ns DESC, c.id",
            placeholders(2, providers.len())
        );
        let rows = bind_all(sqlx::query(&query).bind(hash), providers)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let session = SessionRow {
            created_at: first.try_get("session_created_at")?,
            seen_at: first.try_get("session_seen_at")?,
        };
        let mut seen = Vec::new();
        for row in &rows {
            // A session that sees nothing (or nothing of these providers) has one row of NULLs.
            if row.try_get::<Option<String>, _>("id")?.is_some() {
                seen.push(self.unseal(&SealedRow::read(row)?));
            }
        }
        Ok(Some((session, seen)))
    }

    /// Renews the session's idle expiry from `now`.
    pub async fn touch_session(&self, hash: &str, now: i64) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        sqlx::query("UPDATE sessions SET seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends the session: its row and its sight of connections go (the connections stay).
    pub async fn end_session(&self, hash: &str) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        let mut tx = self.pool.begin().await?;
        end(&mut tx, hash).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that the state hashing to `hash` is spent; false when it was spent before.
    pub async fn spend_state(&self, hash: &str, expires_at: i64) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let done = sqlx::query(
            "INSERT INTO spent_states (state_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(hash)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether a callback already spent the state hashing to `hash`.
    pub async fn state_spent(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM spent_states WHERE state_hash = $1")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Removes sessions idle since before `idle_before` or made before `made_before` (with
    /// their sight of connections), and spent states whose sign-in expired before `now`.
    pub async fn prune(
        &self,
        now: i64,
        idle_before: i64,
        made_before: i64,
    ) -> Result<Pruned, StoreError> {
        let _writing = self.writing().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM session_connections WHERE session_hash IN \
             (SELECT id_hash FROM sessions WHERE seen_at < $1 OR created_at < $2)",
        )
        .bind(idle_before)
        .bind(made_before)
        .execute(&mut *tx)
        .await?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE seen_at < $1 OR created_at < $2")
            .bind(idle_before)
            .bind(made_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let states = sqlx::query("DELETE FROM spent_states WHERE expires_at < $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Pruned { sessions, states })
    }
}
