//! Sessions and spent states in the store: a session row per completed sign-in
//! (keyed by a hash of the id its cookie carries), the connections each session
//! sees, and the states that callbacks have already spent.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use crate::under_way::Detached;

use super::{
    COLUMNS, Connection, SealedRow, Store, StoreError,
    inline::{Arg, Columns, Statement, bind_sqlx, sqlite, statement},
    placeholders,
};

/// A session to start with a sign-in, replacing the browser's current one (if it has one).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The hash of the new session's id.
    pub hash: String,
    /// The hash of the session it replaces, whose connections it sees from now on.
    pub replaces: Option<String>,
    /// Set once the sign-in's request has gone, so that the new session's cookie will never
    /// reach the browser: the session it would replace is then left as it is. Read as the
    /// save's statements run, after any wait for the store, not before.
    pub browser_gone: Detached,
}

impl NewSession {
    /// The session this one replaces, unless the browser has gone by now.
    fn replaced(&self) -> Option<&str> {
        self.replaces
            .as_deref()
            .filter(|_| !self.browser_gone.is_detached())
    }
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

/// Session ids and states are stored only as their SHA-256, in hex (see [`key_of`]).
pub fn hash_id(id: &str) -> String {
    crate::hex::encode(&Sha256::digest(id.as_bytes()))
}

/// How the store knows an id (a session's, or a state once spent): its SHA-256 in hex, after
/// the time the id was made when it begins with it ([`crate::clock::stamped`]). Rows of new
/// sessions, of their sight of connections and of spent states then come in the order they are
/// made, at the end of their b-trees, where the sign-ins' writes of one batch share a page and a
/// checkpoint copies it once; a random key puts each row on a page of its own. Ids made before,
/// and anything else a callback brings as its state, keep the plain hash.
pub fn key_of(id: &str) -> String {
    let hash = hash_id(id);
    match crate::clock::stamp_of(id) {
        Some(time) => [time, hash.as_str()].concat(),
        None => hash,
    }
}

/// One statement of a sign-in's session change; `None` binds the id of the connection saved.
pub(super) type Step<'a> = (Statement, Vec<Option<Arg<'a>>>);

/// Inside a sign-in's transaction: the new session, what it inherits from the one it
/// replaces (which ends) unless the browser has gone by now ([`NewSession::browser_gone`]),
/// and its sight of the connection saved.
pub(super) fn start(session: &NewSession, now: i64) -> Vec<Step<'_>> {
    let new = Some(Arg::Text(&session.hash));
    let mut steps = vec![(
        statement!("INSERT INTO sessions (id_hash, created_at, seen_at) VALUES ($1, $2, $2)"),
        vec![new, Some(Arg::Int(now))],
    )];
    if let Some(old) = session.replaced() {
        steps.push((
            statement!(
                "INSERT INTO session_connections (session_hash, connection_id) \
                 SELECT $1, connection_id FROM session_connections WHERE session_hash = $2"
            ),
            vec![new, Some(Arg::Text(old))],
        ));
        steps.extend(end(old));
    }
    steps.push((
        statement!(
            "INSERT INTO session_connections (session_hash, connection_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING"
        ),
        vec![new, None],
    ));
    steps
}

/// Ending the session `hash`: its sight of connections, then its row.
fn end(hash: &str) -> [Step<'_>; 2] {
    let hash = Some(Arg::Text(hash));
    [
        (
            statement!("DELETE FROM session_connections WHERE session_hash = $1"),
            vec![hash],
        ),
        (
            statement!("DELETE FROM sessions WHERE id_hash = $1"),
            vec![hash],
        ),
    ]
}

fn args<'a>(step: &[Option<Arg<'a>>], connection_id: &'a str) -> Vec<Arg<'a>> {
    step.iter()
        .map(|arg| arg.unwrap_or(Arg::Text(connection_id)))
        .collect()
}

pub(super) async fn run_sqlx(
    tx: &mut Transaction<'static, Any>,
    steps: &[Step<'_>],
    connection_id: &str,
) -> Result<(), StoreError> {
    for (sql, step) in steps {
        bind_sqlx(sqlx::query(sql.text), &args(step, connection_id))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(super) fn run_inline(
    tx: &rusqlite::Connection,
    steps: &[Step<'_>],
    connection_id: &str,
) -> Result<(), StoreError> {
    for (sql, step) in steps {
        tx.prepare_cached(sql.sqlite)?
            .execute(rusqlite::params_from_iter(args(step, connection_id)))?;
    }
    Ok(())
}

impl Store {
    /// The session whose id hashes to `hash`, if it exists (expired or not: the caller decides).
    pub async fn session(&self, hash: &str) -> Result<Option<SessionRow>, StoreError> {
        const SQL: &str = "SELECT created_at, seen_at FROM sessions WHERE id_hash = $1";
        let read = |row: &dyn Columns| -> Result<SessionRow, StoreError> {
            Ok(SessionRow {
                created_at: row.int(0)?,
                seen_at: row.int(1)?,
            })
        };
        Ok(self
            .rows(SQL, &[Arg::Text(hash)], read)
            .await?
            .into_iter()
            .next())
    }

    /// The session whose id hashes to `hash` (expired or not), and the connections of
    /// `providers` it sees, most recently refreshed or created first: the page's read, in
    /// one query.
    pub async fn session_seeing(
        &self,
        providers: &[&str],
        hash: &str,
    ) -> Result<Option<(SessionRow, Vec<Connection>)>, StoreError> {
        static QUALIFIED: LazyLock<String> = LazyLock::new(|| {
            COLUMNS
                .split(", ")
                .map(|c| format!("c.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let query = format!(
            "SELECT s.created_at AS session_created_at, s.seen_at AS session_seen_at, {} \
             FROM sessions s LEFT JOIN session_connections sc ON sc.session_hash = s.id_hash \
             LEFT JOIN connections c ON c.id = sc.connection_id AND c.provider IN ({}) \
             WHERE s.id_hash = $1 ORDER BY c.touched_ns DESC, c.id",
            *QUALIFIED,
            placeholders(2, providers.len())
        );
        let args: Vec<Arg<'_>> = std::iter::once(hash)
            .chain(providers.iter().copied())
            .map(Arg::Text)
            .collect();
        // Each row: the session, and one connection it sees (NULLs when it sees none of these).
        let read = |row: &dyn Columns| -> Result<(SessionRow, Option<SealedRow>), StoreError> {
            let session = SessionRow {
                created_at: row.int(0)?,
                seen_at: row.int(1)?,
            };
            // The connection's columns follow the session's two (all NULL when it sees none).
            let seen = match row.maybe_text(2)? {
                Some(_) => Some(SealedRow::read(row, 2)?),
                None => None,
            };
            Ok((session, seen))
        };
        let rows = self.rows(&query, &args, read).await?;
        let Some((session, _)) = rows.first() else {
            return Ok(None);
        };
        let session = *session;
        let seen = rows
            .iter()
            .filter_map(|(_, row)| row.as_ref())
            .map(|row| self.unseal(row, super::Refresh::Leave))
            .collect();
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
        run_sqlx(&mut tx, &end(hash), "").await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that the state hashing to `hash` is spent; false when it was spent before.
    pub async fn spend_state(&self, hash: &str, expires_at: i64) -> Result<bool, StoreError> {
        const SQL: &str = "INSERT INTO spent_states (state_hash, expires_at) VALUES ($1, $2) \
                           ON CONFLICT DO NOTHING";
        let batched = self
            .batched({
                let hash = hash.to_owned();
                move |db| {
                    Ok(db
                        .prepare_cached(sqlite!(SQL))?
                        .execute(rusqlite::params![hash, expires_at])?)
                }
            })
            .await;
        let inserted = match batched {
            Some(inserted) => inserted? as u64,
            None => {
                let _writing = self.writing().await;
                self.execute(SQL, &[Arg::Text(hash), Arg::Int(expires_at)])
                    .await?
            }
        };
        Ok(inserted == 1)
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
