//! SQLite on the request's own thread, for the statements every sign-in and every
//! page load runs.
//!
//! sqlx hands each SQLite statement to a worker thread and waits for its answer: two
//! thread wake-ups per statement and more per row, which profiles showed as the larger
//! part of a sign-in's CPU (a sign-in runs six statements). These statements take
//! microseconds, so they run inline on connections of this process's own, with the same
//! SQL as on PostgreSQL; the rest of the store stays on sqlx.
//!
//! A statement never waits here for another process: one that finds the file locked (the
//! `tokenbridge token` command saving a refresh) fails at once as busy, and the store runs
//! it through sqlx instead, whose worker thread waits for the lock (see `Store::inline`).
//! This process's own writers queue on the store's write lock before they come here.
//! Checkpoints, which sync the files and take milliseconds, run on a thread of their own
//! (see `checkpoint`), not on the committing one.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError},
    time::Duration,
};

use rusqlite::{
    Connection, OpenFlags, ToSql,
    types::{Null, ToSqlOutput},
};

use super::checkpoint::{Checkpointer, FALLBACK_PAGES};

/// Idle reading connections kept open; more are opened when reads overlap.
const KEEP: usize = 4;

/// What a piece of inline work does to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Reads,
    /// Only under the store's write lock.
    Writes,
}

/// Connections to one SQLite file, used on the caller's thread: one that writes, and a few
/// that read.
///
/// SQLite empties a connection's page cache whenever another connection has committed since
/// its last transaction. When any of several connections wrote, each found the others'
/// commits and read the pages it was about to change again (22 `pread`s a sign-in at
/// concurrency 8); the one writing connection finds only its own, and keeps its cache. The
/// store's write lock already lets one write at a time, so a write waits for it only while a
/// read has it (see [`Inline::with`]).
pub(super) struct Inline {
    path: PathBuf,
    /// `None` until the first write, and after a transaction was left open. Held while it
    /// works.
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
    /// Checkpoints the file while these connections commit; stopped with them.
    checkpointer: Checkpointer,
}

impl Inline {
    /// Opens a first connection to the file at `path`, which sqlx has opened and migrated,
    /// and checks that it sees the store's tables. This process's writers take `write_lock`
    /// in turn; the checkpoint thread takes it too, to let the log start over.
    pub fn open(path: &Path, write_lock: Arc<tokio::sync::Mutex<()>>) -> rusqlite::Result<Self> {
        let inline = Self {
            path: path.to_owned(),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
            checkpointer: Checkpointer::start(path, write_lock)?,
        };
        inline.with(Access::Reads, |db| {
            db.execute_batch(
                "SELECT 1 FROM spent_states LIMIT 0; SELECT 1 FROM sessions LIMIT 0; \
                 SELECT 1 FROM session_connections LIMIT 0; SELECT 1 FROM connections LIMIT 0",
            )
        })?;
        Ok(inline)
    }

    fn connect(&self) -> rusqlite::Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Busy at once rather than sleeping on the runtime's thread (see above).
        connection.busy_timeout(Duration::ZERO)?;
        // Every statement of a sign-in and of the page's read, and a batch's (see `batch`),
        // stays prepared: rusqlite keeps 16 by default.
        connection.set_prepared_statement_cache_capacity(32);
        // As the sqlx connections have them (see Store::open; sqlx turns foreign keys on).
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // The checkpoint thread keeps the log short; a commit checkpoints only if it falls behind.
        connection.pragma_update(None, "wal_autocheckpoint", FALLBACK_PAGES)?;
        Ok(connection)
    }

    /// Runs `work` on the writing connection or on an idle reading one (opened first if need
    /// be). A transaction `work` opens and does not commit is rolled back when it is dropped.
    ///
    /// A read takes the writing connection when it is idle: its cache has seen no other
    /// connection's commits, so it holds the pages a read is about to need (a reading
    /// connection finds every sign-in's commit and reads them from the file again). A read that
    /// finds it busy never waits for it; a write waits for a read there, which takes
    /// microseconds.
    pub fn with<T, E: From<rusqlite::Error>>(
        &self,
        access: Access,
        work: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        if access == Access::Writes {
            let result = self.on(&mut lock(&self.writer), work);
            self.checkpointer.wrote();
            return result;
        }
        let idle_writer = match self.writer.try_lock() {
            Ok(writer) => Some(writer),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut writer) = idle_writer.filter(|writer| writer.is_some()) {
            return self.on(&mut writer, work);
        }
        let mut reader = lock(&self.readers).pop();
        let result = self.on(&mut reader, work);
        if let Some(reader) = reader {
            let mut idle = lock(&self.readers);
            if idle.len() < KEEP {
                idle.push(reader);
            }
        }
        result
    }

    /// Runs `work` on the connection in `slot` (opened first if there is none), and keeps it
    /// there unless `work` left a transaction open (its rollback failed), which would swallow
    /// the next writes.
    fn on<T, E: From<rusqlite::Error>>(
        &self,
        slot: &mut Option<Connection>,
        work: impl FnOnce(&mut Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut connection = slot.take().map_or_else(|| self.connect(), Ok)?;
        let result = work(&mut connection);
        if connection.is_autocommit() {
            *slot = Some(connection);
        }
        result
    }
}

/// The mutex's value, also after a panic while it was held (nothing in it is left half-done).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `sql` with PostgreSQL's `$1, $2, …` written as SQLite's `?1, ?2, …`, which bind by
/// number wherever they stand (SQLite numbers `$1` by its place in the text). Only a `$`
/// before a digit is a placeholder ([`is_placeholder`]).
pub(super) fn numbered(sql: &str) -> String {
    let mut rewritten = String::with_capacity(sql.len());
    let mut copied = 0;
    for (at, _) in sql.match_indices('$') {
        if is_placeholder(sql.as_bytes(), at) {
            rewritten.push_str(&sql[copied..at]);
            rewritten.push('?');
            copied = at + 1;
        }
    }
    rewritten.push_str(&sql[copied..]);
    rewritten
}

/// Whether the byte at `at` begins a numbered placeholder: a `$` before a digit. The one rule
/// of [`numbered`] and [`numbered_bytes`].
const fn is_placeholder(sql: &[u8], at: usize) -> bool {
    sql[at] == b'$' && at + 1 < sql.len() && sql[at + 1].is_ascii_digit()
}

/// [`numbered`] at compile time, for a statement held as a constant: `N` must be its length
/// ([`sqlite!`] makes sure). A sign-in's statements (four, more when it replaces a session)
/// paid for the rewrite at every run, about 7 k instructions a flow; made here, it costs nothing.
pub(super) const fn numbered_bytes<const N: usize>(sql: &str) -> [u8; N] {
    let bytes = sql.as_bytes();
    assert!(
        bytes.len() == N,
        "numbered_bytes: N is not the statement's length"
    );
    let mut out = [0; N];
    let mut at = 0;
    while at < N {
        out[at] = if is_placeholder(bytes, at) {
            b'?'
        } else {
            bytes[at]
        };
        at += 1;
    }
    out
}

/// SQLite's text of a statement held as a constant (a literal or a `const`), made at compile
/// time: what [`numbered`] makes of it at run time.
macro_rules! sqlite {
    ($sql:expr) => {{
        const SQLITE_BYTES: [u8; $sql.len()] = $crate::store::inline::numbered_bytes($sql);
        const SQLITE_TEXT: &str = match ::std::str::from_utf8(&SQLITE_BYTES) {
            Ok(text) => text,
            Err(_) => panic!("a statement rewritten into bytes that are not UTF-8"),
        };
        SQLITE_TEXT
    }};
}
pub(super) use sqlite;

/// A statement held as a constant, in both texts: as written (PostgreSQL's `$1, $2…`, for
/// sqlx) and as SQLite binds it (`?1, ?2…`, made at compile time by [`sqlite!`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Statement {
    pub(super) text: &'static str,
    pub(super) sqlite: &'static str,
}

/// The [`Statement`] of a literal or a `const`.
macro_rules! statement {
    ($sql:expr) => {
        $crate::store::inline::Statement {
            text: $sql,
            sqlite: $crate::store::inline::sqlite!($sql),
        }
    };
}
pub(super) use statement;

/// A value bound to a statement, by either driver.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
    MaybeInt(Option<i64>),
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Self::Text(text) | Self::MaybeText(Some(text)) => ToSqlOutput::from(text),
            Self::Int(n) | Self::MaybeInt(Some(n)) => ToSqlOutput::from(n),
            Self::MaybeText(None) | Self::MaybeInt(None) => ToSqlOutput::from(Null),
        })
    }
}

/// `query` with `args` bound in order.
pub(super) fn bind_sqlx<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        query = match *arg {
            Arg::Text(text) => query.bind(text),
            Arg::MaybeText(text) => query.bind(text),
            Arg::Int(n) => query.bind(n),
            Arg::MaybeInt(n) => query.bind(n),
        };
    }
    query
}

/// A result row of either driver, read by column position (from 0). Not by name: SQLite's
/// driver finds a name by asking the database for each column's name in turn until one
/// matches, 8 on average of a connection's 15 columns, at every column of every row.
pub(super) trait Columns {
    fn text(&self, at: usize) -> Result<String, super::StoreError>;
    fn maybe_text(&self, at: usize) -> Result<Option<String>, super::StoreError>;
    fn int(&self, at: usize) -> Result<i64, super::StoreError>;
    fn maybe_int(&self, at: usize) -> Result<Option<i64>, super::StoreError>;
}

impl Columns for sqlx::any::AnyRow {
    fn text(&self, at: usize) -> Result<String, super::StoreError> {
        Ok(sqlx::Row::try_get(self, at)?)
    }
    fn maybe_text(&self, at: usize) -> Result<Option<String>, super::StoreError> {
        Ok(sqlx::Row::try_get(self, at)?)
    }
    fn int(&self, at: usize) -> Result<i64, super::StoreError> {
        Ok(sqlx::Row::try_get(self, at)?)
    }
    fn maybe_int(&self, at: usize) -> Result<Option<i64>, super::StoreError> {
        Ok(sqlx::Row::try_get(self, at)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, at: usize) -> Result<String, super::StoreError> {
        Ok(self.get(at)?)
    }
    fn maybe_text(&self, at: usize) -> Result<Option<String>, super::StoreError> {
        Ok(self.get(at)?)
    }
    fn int(&self, at: usize) -> Result<i64, super::StoreError> {
        Ok(self.get(at)?)
    }
    fn maybe_int(&self, at: usize) -> Result<Option<i64>, super::StoreError> {
        Ok(self.get(at)?)
    }
}

/// Another process holds the lock this statement needs.
pub(super) fn is_locked_out(error: &super::StoreError) -> bool {
    matches!(error, super::StoreError::Sqlite(e)
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy))
}

/// SQLite's "busy", "locked", "can't open" and I/O errors: the store is there but cannot answer now.
pub(super) fn is_busy(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked, SystemIoFailure};
    matches!(
        error.sqlite_error_code(),
        Some(DatabaseBusy | DatabaseLocked | CannotOpen | SystemIoFailure)
    )
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn only_numbered_placeholders_are_rewritten() {
        const FIRST: &str = "SELECT '$x', a FROM t WHERE b = $12 AND c IN ($2, $3)";
        const SECOND: &str = "a = 'ё$$' AND b = $$1 AND c = $";
        for rewritten in [numbered(FIRST).as_str(), sqlite!(FIRST)] {
            assert_eq!(
                rewritten,
                "SELECT '$x', a FROM t WHERE b = ?12 AND c IN (?2, ?3)"
            );
        }
        for rewritten in [numbered(SECOND).as_str(), sqlite!(SECOND)] {
            assert_eq!(rewritten, "a = 'ё$$' AND b = $?1 AND c = $");
        }
        let statement = statement!("DELETE FROM t WHERE a = $1 AND b = $2");
        assert_eq!(statement.text, "DELETE FROM t WHERE a = $1 AND b = $2");
        assert_eq!(statement.sqlite, "DELETE FROM t WHERE a = ?1 AND b = ?2");
    }
}
