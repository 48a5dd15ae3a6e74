//! SQLite only: the small tables every sign-in writes, stored by their key alone.
//!
//! A SQLite table is a b-tree ordered by a hidden integer `rowid`, and its `PRIMARY KEY` a
//! second b-tree beside it; a row added writes a page of each to the write-ahead log. A
//! `WITHOUT ROWID` table is the one b-tree of its key. For `spent_states`, `sessions` and
//! `session_connections`, whose rows are a key and a number or two, that is one page less
//! per row: three of the ~17 pages a sign-in commits. PostgreSQL has no such clause, and
//! the migrations are one set for both, so the tables are made by them as plain tables and
//! rebuilt here, once per database file, with every row kept; the migrations after this
//! one must leave the clause in place (SQLite keeps it through `ALTER TABLE … ADD COLUMN`).
//!
//! The rebuild follows SQLite's own recipe for changing a table
//! (<https://www.sqlite.org/lang_altertable.html#otheralter>): foreign keys off on the
//! connection, one transaction that makes each new table, copies the rows, drops the old
//! one, renames the new one and makes its indexes again, then a foreign key check before
//! the commit. Another tokenbridge opening the same file at the same moment waits for the
//! transaction and then finds nothing to do.

use sqlx::{AnyConnection, AnyPool, Connection};

use super::StoreError;

/// A table as the migrations define it, but without rowids.
struct Table {
    name: &'static str,
    /// Made as `new_<name>`, then renamed.
    create: &'static str,
    columns: &'static str,
    indexes: &'static [&'static str],
}

/// Sessions before what refers to them.
const TABLES: [Table; 3] = [
    Table {
        name: "spent_states",
        create: "CREATE TABLE new_spent_states (
             state_hash TEXT PRIMARY KEY,
             expires_at BIGINT NOT NULL
         ) WITHOUT ROWID",
        columns: "state_hash, expires_at",
        indexes: &[],
    },
    Table {
        name: "sessions",
        create: "CREATE TABLE new_sessions (
             id_hash TEXT PRIMARY KEY,
             created_at BIGINT NOT NULL,
             seen_at BIGINT NOT NULL
         ) WITHOUT ROWID",
        columns: "id_hash, created_at, seen_at",
        // Its indexes by time went with a later migration, which runs before this.
        indexes: &[],
    },
    Table {
        name: "session_connections",
        create: "CREATE TABLE new_session_connections (
             session_hash TEXT NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
             connection_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
             PRIMARY KEY (session_hash, connection_id)
         ) WITHOUT ROWID",
        columns: "session_hash, connection_id",
        indexes: &[
            "CREATE INDEX session_connections_by_connection ON session_connections (connection_id)",
        ],
    },
];

/// Rebuilds those of the tables that still have a rowid. The connection it uses is closed
/// afterwards, however it ends, rather than given back to the pool with foreign keys off.
///
/// The close is waited for. A SQLite connection that closes checks whether it is the file's
/// last by asking for its exclusive lock, and holds the file a moment while it asks; closed
/// in the background (as the pool closes a connection dropped with `close_on_drop`), it did
/// so while the store went on, and the inline connections opened next, which never wait,
/// found the file busy: the first sign-in's writes went through sqlx.
pub(super) async fn rebuild(pool: &AnyPool) -> Result<(), StoreError> {
    if with_rowid(&mut *pool.acquire().await?).await?.is_empty() {
        return Ok(());
    }
    let mut db = pool.acquire().await?.detach();
    let rebuilt = rebuild_on(&mut db).await;
    // Its worker thread gone, a connection that fails to close has nothing left to undo; the
    // rebuild's own result is the one to tell.
    if let Err(error) = db.close().await {
        tracing::warn!("SQLite: the rebuild's connection did not close cleanly: {error}");
    }
    rebuilt
}

/// The names of those of [`TABLES`] that are plain tables.
async fn with_rowid(db: &mut AnyConnection) -> Result<Vec<&'static str>, StoreError> {
    let mut found = Vec::new();
    for Table { name, .. } in TABLES {
        let sql: Option<String> =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(name)
                .fetch_optional(&mut *db)
                .await?;
        if sql.is_some_and(|sql| !sql.to_ascii_uppercase().contains("WITHOUT ROWID")) {
            found.push(name);
        }
    }
    Ok(found)
}

async fn rebuild_on(db: &mut AnyConnection) -> Result<(), StoreError> {
    // Off outside a transaction (SQLite ignores it inside one): dropping `sessions` must
    // not delete the rows of `session_connections` that refer to it.
    run(db, "PRAGMA foreign_keys = OFF").await?;
    // IMMEDIATE: the write lock first, so that a second process waits here and then sees
    // the tables rebuilt, rather than both copying.
    run(db, "BEGIN IMMEDIATE").await?;
    let done = rebuild_tables(db).await;
    match done {
        Ok(()) => run(db, "COMMIT").await?,
        Err(error) => {
            // The connection is closed afterwards either way, which also rolls back.
            let _ = run(db, "ROLLBACK").await;
            return Err(error);
        }
    }
    run(db, "PRAGMA foreign_keys = ON").await
}

async fn rebuild_tables(db: &mut AnyConnection) -> Result<(), StoreError> {
    let plain = with_rowid(db).await?;
    for Table {
        name,
        create,
        columns,
        indexes,
    } in TABLES
    {
        if !plain.contains(&name) {
            continue;
        }
        let before = count(db, name).await?;
        run(db, create).await?;
        run(
            db,
            &format!("INSERT INTO new_{name} ({columns}) SELECT {columns} FROM {name}"),
        )
        .await?;
        run(db, &format!("DROP TABLE {name}")).await?;
        run(db, &format!("ALTER TABLE new_{name} RENAME TO {name}")).await?;
        for index in indexes {
            run(db, index).await?;
        }
        let after = count(db, name).await?;
        if after != before {
            return Err(StoreError::Rebuild(format!(
                "{name} held {before} rows and would hold {after}"
            )));
        }
        tracing::info!("SQLite: {name} rebuilt without rowids ({after} rows)");
    }
    let broken: i64 = sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_check")
        .fetch_one(&mut *db)
        .await?;
    if broken > 0 {
        return Err(StoreError::Rebuild(format!(
            "{broken} rows would refer to rows that are not there"
        )));
    }
    Ok(())
}

async fn run(db: &mut AnyConnection, sql: &str) -> Result<(), StoreError> {
    sqlx::query(sql).execute(&mut *db).await?;
    Ok(())
}

async fn count(db: &mut AnyConnection, table: &str) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut *db)
        .await?)
}
