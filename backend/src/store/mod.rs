//! Saved connections: SQLite (the embedded default) or PostgreSQL, through one
//! sqlx `Any` pool and one set of migrations written in SQL both accept. The
//! access and refresh tokens are sealed with AES-256-GCM before they are
//! written, bound to their connection and column, so the database file alone
//! reveals no token.

mod batch;
mod cache;
mod checkpoint;
mod inline;
mod keyed;
mod sessions;

use std::{path::Path, str::FromStr, sync::Arc};

use aes_gcm::{Aes256Gcm, KeyInit};
use base64::{Engine, engine::general_purpose::STANDARD};
use oauth2::{AccessToken, RefreshToken};
use rand::Rng;
use sqlx::{AnyPool, Row, any::AnyPoolOptions};

use self::inline::{Access, Arg, Columns, Inline, bind_sqlx, numbered, sqlite};

use crate::{
    clock::{now_hex, unix_now, unix_now_ns},
    sealed,
};

pub use sessions::{NewSession, Pruned, SessionRow, hash_id, key_of};

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// The provider refused the refresh token; only a new sign-in helps.
    NeedsReconnect,
    /// Its tokens cannot be opened with this store key (never written: found on reading).
    Unreadable,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active | Self::Unreadable => "active",
            Self::NeedsReconnect => "needs_reconnect",
        }
    }

    fn parse(text: &str) -> Self {
        if text == "needs_reconnect" {
            Self::NeedsReconnect
        } else {
            Self::Active
        }
    }
}

/// One saved connection, tokens opened. Debug keeps them redacted.
#[derive(Debug)]
pub struct Connection {
    pub id: String,
    pub provider: String,
    pub account_id: String,
    pub login: String,
    pub access_token: AccessToken,
    /// Opened only where a refresh may need it: token reads and the page's session read
    /// leave it sealed (a refresh reads the row again); `holds_refresh_token` says whether one is held.
    pub refresh_token: Option<RefreshToken>,
    pub holds_refresh_token: bool,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub scope: Option<String>,
    pub status: Status,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub created_at: i64,
    pub refreshed_at: Option<i64>,
    /// Unix nanoseconds of the last sign-in or refresh.
    pub touched_ns: i64,
}

/// What a new sign-in brings.
#[derive(Debug)]
pub struct NewConnection {
    pub provider: String,
    pub account_id: String,
    pub login: String,
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub token_type: String,
    pub expires_at: Option<i64>,
    pub scope: Option<String>,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the database's migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "a stored token cannot be opened with this TOKENBRIDGE_STORE_KEY (was the key changed?)"
    )]
    Unseal,
    #[error("{path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    BadKey(String),
    #[error("the database's tables could not be rebuilt without rowids (nothing was changed): {0}")]
    Rebuild(String),
    #[error("the write was not run: the batch it joined ended first")]
    Abandoned,
}

/// The 32-byte key that seals tokens at rest.
#[derive(Clone)]
pub struct StoreKey([u8; 32]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

impl StoreKey {
    /// A fresh random key.
    pub fn random() -> Self {
        Self(rand::rng().random())
    }

    /// The key as base64, for its file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// From base64 (TOKENBRIDGE_STORE_KEY).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = crate::keyfile::decode(text)
            .map_err(|problem| StoreError::BadKey(format!("TOKENBRIDGE_STORE_KEY: {problem}")))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            StoreError::BadKey(format!(
                "TOKENBRIDGE_STORE_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32); it decodes to {} bytes",
                b.len()
            ))
        })?;
        Ok(Self(bytes))
    }

    /// Reads the key file, or creates it (mode 0600) with a fresh random key.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let text = crate::keyfile::read_or_create(path, 32, "store key").map_err(|source| {
            StoreError::KeyFile {
                path: path.display().to_string(),
                source,
            }
        })?;
        Self::from_base64(&text)
    }
}

/// What a sealed value is bound to: its row (by provider account, which never changes) and column.
struct RowKey<'a> {
    provider: &'a str,
    account_id: &'a str,
}

impl RowKey<'_> {
    /// What a sealed value is bound to: `provider/account_id/column`. Stores hold values
    /// sealed with it, so it never changes. (Joined rather than `format!`ted: the formatting
    /// machinery took 1,100 instructions of a token read's 38,000.)
    fn aad(&self, column: &str) -> String {
        [self.provider, self.account_id, column].join("/")
    }
}

/// Seals and opens token values (see [`crate::sealed`]), each bound to its row and column.
struct Sealer(Aes256Gcm);

impl Sealer {
    fn seal(&self, plaintext: &str, row: &RowKey<'_>, column: &str) -> String {
        sealed::seal(&self.0, plaintext.as_bytes(), row.aad(column).as_bytes())
    }

    fn open(&self, sealed: &str, row: &RowKey<'_>, column: &str) -> Result<String, StoreError> {
        let bytes = sealed::decode(sealed).ok_or(StoreError::Unseal)?;
        self.open_bytes(&bytes, row, column)
    }

    /// A row's refresh token, if it holds one, opened.
    fn open_refresh_token(
        &self,
        sealed: Option<&str>,
        row: &RowKey<'_>,
    ) -> Result<Option<RefreshToken>, StoreError> {
        sealed
            .map(|r| self.open(r, row, "refresh_token").map(RefreshToken::new))
            .transpose()
    }

    /// [`Sealer::open`] of a value already decoded from its base64.
    fn open_bytes(
        &self,
        bytes: &[u8],
        row: &RowKey<'_>,
        column: &str,
    ) -> Result<String, StoreError> {
        let plaintext = sealed::open_bytes(&self.0, bytes, row.aad(column).as_bytes())
            .ok_or(StoreError::Unseal)?;
        String::from_utf8(plaintext).map_err(|_| StoreError::Unseal)
    }
}

/// The database and the key that seals tokens in it; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    sealer: Arc<Sealer>,
    /// SQLite takes one writer at a time, and a writer that finds the file busy sleeps for
    /// milliseconds: this process's writers queue here instead (and the checkpoint thread, to
    /// let the log start over: see `checkpoint`). `None` for PostgreSQL.
    write_lock: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The rows of recent token reads, sealed, until anything writes.
    cache: Arc<cache::RowCache>,
    /// A SQLite file's hot statements (sign-ins, the page's read), run on the caller's thread.
    inline: Option<Arc<Inline>>,
    /// Sign-ins' writes to that file, committed together when they queue for the write lock.
    batch: Arc<batch::Batch>,
    postgres: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// The columns of `connections`, in the order [`SAVE_CONNECTION`] binds them.
macro_rules! columns {
    () => {
        "id, provider, account_id, login, access_token, refresh_token, token_type, expires_at, scope, status, device_id, device_name, created_at, refreshed_at, touched_ns"
    };
}
const COLUMNS: &str = columns!();

/// A sign-in's connection: added, or the one of the same provider account updated. The
/// login is left as it was ([`RENAME_CONNECTION`] follows when it changed): a column in the
/// `SET` list has its index entries written again even when the value is the same, which
/// was a page of `connections_by_login` in the log at every sign-in.
const SAVE_CONNECTION: &str = concat!(
    "INSERT INTO connections (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT (provider, account_id) DO UPDATE SET access_token = excluded.access_token, \
     refresh_token = excluded.refresh_token, token_type = excluded.token_type, expires_at = excluded.expires_at, \
     scope = excluded.scope, status = excluded.status, device_id = excluded.device_id, \
     device_name = excluded.device_name, refreshed_at = excluded.created_at, touched_ns = excluded.touched_ns \
     RETURNING id, login, created_at, refreshed_at, touched_ns"
);

/// The new login of an account whose login changed since its last sign-in.
const RENAME_CONNECTION: &str = "UPDATE connections SET login = $1 WHERE id = $2";

impl StoreError {
    /// Whether the database could not be reached (rather than refusing what was asked):
    /// worth a 503 and a retry, not a 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Database(
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::WorkerCrashed
            )
        ) || matches!(self, Self::Database(sqlx::Error::Database(e)) if is_busy(e.as_ref()))
            || matches!(self, Self::Sqlite(e) if inline::is_busy(e))
    }
}

/// SQLite's busy, locked, I/O and cannot-open errors (with any of their extended codes, as the
/// inline path's [`inline::is_busy`] reads them) and PostgreSQL's connection-class errors
/// (08…, 57P…): the store is there but cannot answer now.
fn is_busy(error: &dyn sqlx::error::DatabaseError) -> bool {
    let code = error.code();
    let code = code.as_deref().unwrap_or_default();
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // sqlx gives SQLite's extended code (773, say, for a busy timeout): its low byte is
        // the primary one.
        return code
            .parse::<i32>()
            .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 14));
    }
    code.starts_with("08") || code.starts_with("57P")
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotated {
    pub connections: usize,
}

impl Store {
    /// Re-seals every stored token with `new`, in one transaction: either every row is
    /// sealed with the new key afterwards, or none is. A row the current key cannot open
    /// stops the rotation (nothing is changed) and is named.
    pub async fn rotate_key(&self, new: &StoreKey) -> Result<Rotated, StoreError> {
        let new = Sealer(
            Aes256Gcm::new_from_slice(&new.0)
                .map_err(|_| StoreError::BadKey("new store key".into()))?,
        );
        let _writing = self.writing().await;
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT id, provider, account_id, access_token, refresh_token FROM connections",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let provider: String = row.try_get("provider")?;
            let account_id: String = row.try_get("account_id")?;
            let key = RowKey {
                provider: &provider,
                account_id: &account_id,
            };
            let reseal = |column: &str, sealed: &str| -> Result<String, StoreError> {
                let plain = self.sealer.open(sealed, &key, column).map_err(|_| {
                    StoreError::BadKey(format!(
                        "connection {id} cannot be opened with the current key; nothing was changed"
                    ))
                })?;
                Ok(new.seal(&plain, &key, column))
            };
            let access: String = row.try_get("access_token")?;
            let refresh: Option<String> = row.try_get("refresh_token")?;
            let access = reseal("access_token", &access)?;
            let refresh = refresh.map(|r| reseal("refresh_token", &r)).transpose()?;
            sqlx::query(
                "UPDATE connections SET access_token = $1, refresh_token = $2 WHERE id = $3",
            )
            .bind(access)
            .bind(refresh)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        self.announce(&mut tx).await?;
        tx.commit().await?;
        self.cache.changed();
        Ok(Rotated {
            connections: rows.len(),
        })
    }

    /// Whether the database answers now.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Opens (creating if need be) the database at `url` and brings its schema up to date.
    pub async fn open(url: &str, key: &StoreKey) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let url = prepare_sqlite_url(url)?;
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 10 })
            // A database that cannot be reached fails a request in seconds, not in half a minute.
            .acquire_timeout(std::time::Duration::from_secs(3))
            // A PostgreSQL connection may have died while idle, so it is pinged before use;
            // a SQLite one is a file this process holds open, and the ping would be one more
            // round trip to its worker thread for every statement.
            .test_before_acquire(!sqlite)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if sqlite {
                        // Write-ahead logging: a committed connection survives a kill -9, and
                        // readers never wait for a writer. NORMAL syncs at checkpoints, not at
                        // every commit, so a power cut (not a crash) may lose the last commits.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *connection)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *connection)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let sealer = Sealer(
            Aes256Gcm::new_from_slice(&key.0)
                .map_err(|_| StoreError::BadKey("store key".into()))?,
        );
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        // This process's SQLite writes take it in turn (see `writing`); so does the checkpoint
        // that lets the write-ahead log start over (see `checkpoint`).
        let write_lock = Arc::new(tokio::sync::Mutex::new(()));
        let (cache, inline) = if sqlite {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?;
            let file = options.get_filename().to_string_lossy().into_owned();
            // The rebuild, the inline statements and the cache need a plain file: not an
            // in-memory database (it lives only as long as its connections, the rebuild closes
            // the one it used, another driver's connection would not see it, and it has no index
            // file beside it), and no option beyond the mode (vfs=, immutable=, …) that rusqlite
            // and sqlx might read apart.
            let plain_file = plain_sqlite_file(&url) && Path::new(&file).is_file();
            // The rebuild only saves pages, so a file it cannot rebuild (a row the old tables
            // let in that the new ones refuse) keeps its tables.
            if plain_file && let Err(error) = keyed::rebuild(&pool).await {
                tracing::warn!("SQLite: the session tables keep their rowids: {error}");
            }
            let inline = if plain_file {
                open_inline(Path::new(&file), &write_lock).await
            } else {
                None
            };
            let cache = if plain_file {
                cache::RowCache::sqlite(&file)
            } else {
                cache::RowCache::nothing()
            };
            (cache, inline)
        } else if postgres {
            (cache::RowCache::postgres(&url), None)
        } else {
            (cache::RowCache::nothing(), None)
        };
        Ok(Self {
            pool,
            sealer: Arc::new(sealer),
            write_lock: sqlite.then_some(write_lock),
            cache: Arc::new(cache),
            inline,
            batch: Arc::default(),
            postgres,
        })
    }

    /// Adds the connection, or updates the one of the same provider account, and starts
    /// `session`, which sees it (and whatever the session it replaces saw, ending that one,
    /// unless the browser has gone by then: [`NewSession::browser_gone`]): one transaction.
    pub async fn save_sign_in(
        &self,
        new: NewConnection,
        session: &NewSession,
    ) -> Result<Connection, StoreError> {
        let now = unix_now();
        let row = RowKey {
            provider: &new.provider,
            account_id: &new.account_id,
        };
        let access = self
            .sealer
            .seal(new.access_token.secret(), &row, "access_token");
        let refresh = new
            .refresh_token
            .as_ref()
            .map(|t| self.sealer.seal(t.secret(), &row, "refresh_token"));
        let save = Arc::new(Save {
            id: new_id(),
            provider: new.provider.clone(),
            account_id: new.account_id.clone(),
            login: new.login.clone(),
            access,
            refresh,
            token_type: new.token_type.clone(),
            expires_at: new.expires_at,
            scope: new.scope.clone(),
            device_id: new.device_id.clone(),
            device_name: new.device_name.clone(),
            now,
            now_ns: unix_now_ns(),
            session: session.clone(),
        });
        let batched = self
            .batched({
                let save = Arc::clone(&save);
                move |db| save.inline(db)
            })
            .await;
        let saved = match batched {
            Some(saved) => saved?,
            None => self.save_sign_in_apart(&save).await?,
        };
        self.cache.changed();
        Ok(Connection {
            id: saved.id,
            created_at: saved.created_at,
            refreshed_at: saved.refreshed_at,
            touched_ns: saved.touched_ns,
            status: Status::Active,
            holds_refresh_token: new.refresh_token.is_some(),
            provider: new.provider,
            account_id: new.account_id,
            login: new.login,
            access_token: new.access_token,
            refresh_token: new.refresh_token,
            token_type: new.token_type,
            expires_at: new.expires_at,
            scope: new.scope,
            device_id: new.device_id,
            device_name: new.device_name,
        })
    }

    /// The sign-in's save apart from any batch: inline when the file is free by now, else
    /// through sqlx (whose worker waits for another process's lock), under the write lock.
    async fn save_sign_in_apart(&self, save: &Save) -> Result<Saved, StoreError> {
        let _writing = self.writing().await;
        let inline = self.inline(Access::Writes, |db| {
            let tx = db.transaction()?;
            let saved = save.inline(&tx)?;
            tx.commit()?;
            Ok(saved)
        });
        if let Some(saved) = inline {
            return saved;
        }
        let args = save.args();
        let mut tx = self.pool.begin().await?;
        let row = bind_sqlx(sqlx::query(SAVE_CONNECTION), &args)
            .fetch_one(&mut *tx)
            .await?;
        let saved = Saved::read(&row)?;
        if saved.login != save.login {
            sqlx::query(RENAME_CONNECTION)
                .bind(save.login.as_str())
                .bind(saved.id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        // Built only now, after the connection's row is written (for SQLite, once the write
        // lock is ours): a browser that went while this save waited keeps its session.
        let session_steps = sessions::start(&save.session, save.now);
        sessions::run_sqlx(&mut tx, &session_steps, &saved.id).await?;
        self.announce(&mut tx).await?;
        tx.commit().await?;
        Ok(saved)
    }

    /// Runs `work` on the SQLite file's writing connection, in a transaction it may share
    /// with other sign-ins' writes queued beside it (see [`batch`]); `None` when it must go
    /// through sqlx instead (PostgreSQL, an in-memory database, or another process holding
    /// the file just now).
    async fn batched<T: Send + 'static>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<Result<T, StoreError>> {
        let (inline, write_lock) = (self.inline.as_deref()?, self.write_lock.as_deref()?);
        self.batch.write(inline, write_lock, work).await
    }

    /// Runs `work` on the SQLite file inline (see [`inline`]); `None` when it must go
    /// through sqlx instead: on PostgreSQL or an in-memory database, or when another
    /// process holds the file's lock just now (sqlx's worker thread waits for it, not the
    /// request's). A busy `work` has changed nothing: its transaction is rolled back.
    fn inline<T>(
        &self,
        access: Access,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        match self.inline.as_ref()?.with(access, work) {
            Err(error) if inline::is_locked_out(&error) => None,
            done => Some(done),
        }
    }

    /// The rows `sql` selects with `args`, each read by `read`: inline on a SQLite file,
    /// else through sqlx.
    async fn rows<T>(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        read: impl Fn(&dyn Columns) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let inline = self.inline(Access::Reads, |db| {
            let mut statement = db.prepare_cached(&numbered(sql))?;
            let mut rows = statement.query(rusqlite::params_from_iter(args))?;
            let mut read_rows = Vec::new();
            while let Some(row) = rows.next()? {
                read_rows.push(read(row)?);
            }
            Ok(read_rows)
        });
        match inline {
            Some(rows) => rows,
            None => bind_sqlx(sqlx::query(sql), args)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|row| read(row))
                .collect(),
        }
    }

    /// Runs one statement that writes, outside a transaction, under the write lock the
    /// caller holds: inline on a SQLite file, else through sqlx. How many rows it changed.
    async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let inline = self.inline(Access::Writes, |db| {
            Ok(db
                .prepare_cached(&numbered(sql))?
                .execute(rusqlite::params_from_iter(args))?)
        });
        match inline {
            Some(changed) => Ok(changed? as u64),
            None => Ok(bind_sqlx(sqlx::query(sql), args)
                .execute(&self.pool)
                .await?
                .rows_affected()),
        }
    }

    async fn writing(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// The connection `id`, if it belongs to one of `providers`.
    pub async fn get(
        &self,
        providers: &[&str],
        id: &str,
    ) -> Result<Option<Connection>, StoreError> {
        if !could_match_a_row(id) {
            return Ok(None);
        }
        let query = format!(
            "SELECT {COLUMNS} FROM connections WHERE id = $1 AND provider IN ({})",
            placeholders(2, providers.len())
        );
        let args = with_providers([Arg::Text(id)], providers);
        let rows = self
            .rows(&query, &args, |row| SealedRow::read(row, 0))
            .await?;
        Ok(rows.first().map(|row| self.unseal(row, Refresh::Open)))
    }

    /// The connections of `providers` whose account login is `login`, oldest first: one
    /// per provider at most, unless a provider has two accounts of one login. Scripts'
    /// token reads come here, so the rows found are kept (sealed) until anything writes.
    pub async fn by_login(
        &self,
        providers: &[&str],
        login: &str,
    ) -> Result<Vec<Connection>, StoreError> {
        let stamp = self.cache.stamp();
        if let Some(now) = stamp
            && let Some(rows) = self.cache.get(providers, login, now)
        {
            return Ok(rows
                .iter()
                .map(|row| self.unseal(row, Refresh::Leave))
                .collect());
        }
        if !could_match_a_row(login) {
            return Ok(Vec::new());
        }
        let query = format!(
            "SELECT {COLUMNS} FROM connections WHERE login = $1 AND provider IN ({}) ORDER BY created_at, id",
            placeholders(2, providers.len())
        );
        let args = with_providers([Arg::Text(login)], providers);
        let rows: Arc<[SealedRow]> = self
            .rows(&query, &args, |row| SealedRow::read(row, 0))
            .await?
            .into();
        let opened = rows
            .iter()
            .map(|row| self.unseal(row, Refresh::Leave))
            .collect();
        // Logins that name nothing are not kept: anyone may ask for any number of them.
        if let Some(stamp) = stamp
            && !rows.is_empty()
        {
            self.cache.put(providers, login, stamp, rows);
        }
        Ok(opened)
    }

    /// Every connection of `providers`, newest first, their refresh tokens left sealed (the
    /// lists that show them say only whether one is held).
    pub async fn all(&self, providers: &[&str]) -> Result<Vec<Connection>, StoreError> {
        let query = format!(
            "SELECT {COLUMNS} FROM connections WHERE provider IN ({}) ORDER BY created_at DESC, id",
            placeholders(1, providers.len())
        );
        // Every row of a deployment's connections: read on sqlx's worker thread, not inline on
        // the request's, which would hold a runtime thread for the whole scan.
        let rows = bind_sqlx(sqlx::query(&query), &with_providers([], providers))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok(self.unseal(&SealedRow::read(row, 0)?, Refresh::Leave)))
            .collect()
    }

    /// Whether the account `account_id` of `provider` has a connection, whatever its id (a
    /// sign-in after a disconnect saves it under a new one).
    pub async fn holds_account(
        &self,
        provider: &str,
        account_id: &str,
    ) -> Result<bool, StoreError> {
        let args = [Arg::Text(provider), Arg::Text(account_id)];
        Ok(!self
            .rows(
                "SELECT 1 FROM connections WHERE provider = $1 AND account_id = $2",
                &args,
                |_| Ok(()),
            )
            .await?
            .is_empty())
    }

    /// Whether the session `session_hash` sees the connection `id` of `provider`.
    pub async fn session_sees(
        &self,
        providers: &[&str],
        session_hash: &str,
        id: &str,
    ) -> Result<bool, StoreError> {
        if !could_match_a_row(id) {
            return Ok(false);
        }
        let query = format!(
            "SELECT 1 FROM session_connections s JOIN connections c ON c.id = s.connection_id \
             WHERE s.session_hash = $1 AND s.connection_id = $2 AND c.provider IN ({})",
            placeholders(3, providers.len())
        );
        let args = with_providers([Arg::Text(session_hash), Arg::Text(id)], providers);
        Ok(!self.rows(&query, &args, |_| Ok(())).await?.is_empty())
    }

    /// Refreshed tokens for `connection`, sealed for its row, to be saved by
    /// [`Self::save_refresh`]; a refresh token of `None` keeps the one held.
    pub fn seal_refresh(
        &self,
        connection: &Connection,
        access_token: &AccessToken,
        refresh_token: Option<&RefreshToken>,
        expires_at: Option<i64>,
    ) -> SealedRefresh {
        let row = RowKey {
            provider: &connection.provider,
            account_id: &connection.account_id,
        };
        SealedRefresh {
            id: connection.id.clone(),
            provider: connection.provider.clone(),
            account_id: connection.account_id.clone(),
            device_id: connection.device_id.clone(),
            touched_ns: connection.touched_ns,
            access_token: self
                .sealer
                .seal(access_token.secret(), &row, "access_token"),
            refresh_token: refresh_token
                .map(|refresh| self.sealer.seal(refresh.secret(), &row, "refresh_token")),
            expires_at,
        }
    }

    /// The tokens of a refresh's answer sealed by [`Self::seal_refresh`], opened: to hand them
    /// back to the provider when no connection holds them any more. `None` if they cannot be
    /// opened (a changed key), which the log says.
    pub fn open_refresh(
        &self,
        sealed: &SealedRefresh,
    ) -> Option<(AccessToken, Option<RefreshToken>)> {
        let row = RowKey {
            provider: &sealed.provider,
            account_id: &sealed.account_id,
        };
        let opened = self
            .sealer
            .open(&sealed.access_token, &row, "access_token")
            .and_then(|access| {
                let refresh = self
                    .sealer
                    .open_refresh_token(sealed.refresh_token.as_deref(), &row)?;
                Ok((AccessToken::new(access), refresh))
            });
        match opened {
            Ok(tokens) => Some(tokens),
            Err(error) => {
                tracing::warn!(connection = %sealed.id, "a kept refresh answer cannot be opened: {error}");
                None
            }
        }
    }

    /// Stores refreshed tokens, only over the row as the refresh read it: a sign-in that saved
    /// new tokens meanwhile (another scope, say), or a disconnect elsewhere, is not undone.
    /// Whether it saved them.
    pub async fn save_refresh(&self, sealed: &SealedRefresh) -> Result<bool, StoreError> {
        let args = [
            Arg::Text(&sealed.access_token),
            Arg::MaybeText(sealed.refresh_token.as_deref()),
            Arg::MaybeInt(sealed.expires_at),
            Arg::Int(unix_now()),
            Arg::Int(unix_now_ns()),
            Arg::Text(Status::Active.as_str()),
            Arg::Text(&sealed.id),
            Arg::Text(&sealed.provider),
            Arg::Int(sealed.touched_ns),
        ];
        let changed = self
            .update_connection(
                "UPDATE connections SET access_token = $1, refresh_token = COALESCE($2, refresh_token), expires_at = $3, \
                 refreshed_at = $4, touched_ns = $5, status = $6 WHERE id = $7 AND provider = $8 AND touched_ns = $9",
                &args,
            )
            .await?;
        Ok(changed > 0)
    }

    /// Marks the connection `id` of `provider` with `status`, if no sign-in or refresh has
    /// touched it since `touched_ns` (when a refresh read it): whether it did. A refresh token
    /// refused because another process had just refreshed with it (and the provider rotated it)
    /// must not mark a connection that process has just saved afresh.
    pub async fn set_status_if_untouched(
        &self,
        provider: &str,
        id: &str,
        status: Status,
        touched_ns: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .update_connection(
                "UPDATE connections SET status = $1 WHERE id = $2 AND provider = $3 AND touched_ns = $4",
                &[
                    Arg::Text(status.as_str()),
                    Arg::Text(id),
                    Arg::Text(provider),
                    Arg::Int(touched_ns),
                ],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Runs `sql`, one statement that changes a row of `connections`, under the write lock,
    /// and lets the token reads' cache know. On PostgreSQL it announces the change to the
    /// other instances in the same transaction; on SQLite one statement is a transaction by
    /// itself, run inline (see [`inline`]): a Refresh click's save went through sqlx's
    /// worker thread, with its wake-ups, as the sign-in's did before. The rows it changed.
    async fn update_connection(&self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let _writing = self.writing().await;
        let changed = if self.postgres {
            let mut tx = self.pool.begin().await?;
            let changed = bind_sqlx(sqlx::query(sql), args)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            self.announce(&mut tx).await?;
            tx.commit().await?;
            changed
        } else {
            self.execute(sql, args).await?
        };
        self.cache.changed();
        Ok(changed)
    }

    /// Forgets the connection `id` of `provider`, and every session's sight of it.
    pub async fn delete(&self, provider: &str, id: &str) -> Result<(), StoreError> {
        self.delete_where(provider, id, None).await.map(|_| ())
    }

    /// Deletes the connection `id` only as it was read (`touched_ns`, the time of its last
    /// sign-in or refresh): whether it did. It did not if the row was saved afresh since (a
    /// refresh or sign-in, on any instance) or is gone.
    pub async fn delete_unchanged(
        &self,
        provider: &str,
        id: &str,
        touched_ns: i64,
    ) -> Result<bool, StoreError> {
        self.delete_where(provider, id, Some(touched_ns)).await
    }

    async fn delete_where(
        &self,
        provider: &str,
        id: &str,
        touched_ns: Option<i64>,
    ) -> Result<bool, StoreError> {
        // The row, only as it was read when `touched_ns` is given.
        let (links, row) = if touched_ns.is_some() {
            (
                "DELETE FROM session_connections WHERE connection_id IN \
                 (SELECT id FROM connections WHERE id = $1 AND provider = $2 AND touched_ns = $3)",
                "DELETE FROM connections WHERE id = $1 AND provider = $2 AND touched_ns = $3",
            )
        } else {
            (
                "DELETE FROM session_connections WHERE connection_id IN \
                 (SELECT id FROM connections WHERE id = $1 AND provider = $2)",
                "DELETE FROM connections WHERE id = $1 AND provider = $2",
            )
        };
        let _writing = self.writing().await;
        let mut tx = self.pool.begin().await?;
        let bind = |query: &'static str| {
            let query = sqlx::query(query).bind(id).bind(provider);
            match touched_ns {
                Some(touched_ns) => query.bind(touched_ns),
                None => query,
            }
        };
        bind(links).execute(&mut *tx).await?;
        let deleted = bind(row).execute(&mut *tx).await?.rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        self.announce(&mut tx).await?;
        tx.commit().await?;
        self.cache.changed();
        Ok(true)
    }

    /// The connection in `row`, its access token opened, and its refresh token if `refresh` says so.
    fn unseal(&self, row: &SealedRow, refresh: Refresh) -> Connection {
        let key = RowKey {
            provider: &row.provider,
            account_id: &row.account_id,
        };
        let opened = self
            .sealer
            .open_bytes(&row.access_token, &key, "access_token")
            .and_then(|access| {
                let sealed = row.refresh_token.as_deref();
                let refresh = self
                    .sealer
                    .open_refresh_token(sealed.filter(|_| refresh == Refresh::Open), &key)?;
                Ok((AccessToken::new(access), refresh))
            });
        // One row that cannot be opened (a changed key, a damaged value) is reported as
        // such, and hides none of the others.
        let (access_token, refresh_token, status) = match opened {
            Ok((access, refresh)) => (access, refresh, Status::parse(&row.status)),
            Err(error) => {
                tracing::warn!(connection = %row.id, "a stored token cannot be opened: {error}");
                (AccessToken::new(String::new()), None, Status::Unreadable)
            }
        };
        Connection {
            access_token,
            refresh_token,
            holds_refresh_token: row.refresh_token.is_some() && status != Status::Unreadable,
            status,
            id: row.id.clone(),
            provider: row.provider.clone(),
            account_id: row.account_id.clone(),
            login: row.login.clone(),
            token_type: row.token_type.clone(),
            expires_at: row.expires_at,
            scope: row.scope.clone(),
            device_id: row.device_id.clone(),
            device_name: row.device_name.clone(),
            created_at: row.created_at,
            refreshed_at: row.refreshed_at,
            touched_ns: row.touched_ns,
        }
    }

    /// Notifies other instances (PostgreSQL) of a write to `connections`, in its transaction.
    async fn announce(&self, tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
        if self.postgres {
            sqlx::query(cache::NOTIFY).execute(&mut **tx).await?;
        }
        Ok(())
    }
}

/// Whether [`Store::unseal`] opens a row's refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refresh {
    Open,
    /// Token reads, the page and the lists show at most the access token; a refresh reads
    /// the row again.
    Leave,
}

/// A refresh's answer sealed for its connection's row ([`Store::seal_refresh`]): what a
/// refresh whose save failed keeps for the next to save, never the plain tokens.
#[derive(Clone)]
pub struct SealedRefresh {
    /// The connection.
    pub id: String,
    /// The connection's provider, account and device (for a revocation).
    pub provider: String,
    pub account_id: String,
    pub device_id: Option<String>,
    /// The row as the refresh read it: saved only over that.
    touched_ns: i64,
    access_token: String,
    /// `None` keeps the refresh token held.
    refresh_token: Option<String>,
    expires_at: Option<i64>,
}

/// A row of `connections` as the database holds it, tokens sealed.
#[derive(Debug, Clone)]
pub struct SealedRow {
    id: String,
    provider: String,
    account_id: String,
    login: String,
    /// Sealed, decoded from the column's base64 as the row is read: every token read opens
    /// it, and the rows token reads find stay in memory (empty when the column is not
    /// base64, which no key opens).
    access_token: Vec<u8>,
    refresh_token: Option<String>,
    token_type: String,
    expires_at: Option<i64>,
    scope: Option<String>,
    status: String,
    device_id: Option<String>,
    device_name: Option<String>,
    created_at: i64,
    refreshed_at: Option<i64>,
    touched_ns: i64,
}

impl SealedRow {
    /// A row that selects [`COLUMNS`] from its column `first` on, from either driver.
    fn read(row: &(impl Columns + ?Sized), first: usize) -> Result<Self, StoreError> {
        let at = |n: usize| first + n;
        Ok(Self {
            id: row.text(at(0))?,
            provider: row.text(at(1))?,
            account_id: row.text(at(2))?,
            login: row.text(at(3))?,
            access_token: sealed::decode(&row.text(at(4))?).unwrap_or_default(),
            refresh_token: row.maybe_text(at(5))?,
            token_type: row.text(at(6))?,
            expires_at: row.maybe_int(at(7))?,
            scope: row.maybe_text(at(8))?,
            status: row.text(at(9))?,
            device_id: row.maybe_text(at(10))?,
            device_name: row.maybe_text(at(11))?,
            created_at: row.int(at(12))?,
            refreshed_at: row.maybe_int(at(13))?,
            touched_ns: row.int(at(14))?,
        })
    }
}

/// What a sign-in writes: its connection's row (tokens sealed) and its session.
struct Save {
    id: String,
    provider: String,
    account_id: String,
    login: String,
    access: String,
    refresh: Option<String>,
    token_type: String,
    expires_at: Option<i64>,
    scope: Option<String>,
    device_id: Option<String>,
    device_name: Option<String>,
    now: i64,
    now_ns: i64,
    session: NewSession,
}

impl Save {
    /// The row's values in the order [`SAVE_CONNECTION`] binds them.
    fn args(&self) -> [Arg<'_>; 15] {
        [
            Arg::Text(&self.id),
            Arg::Text(&self.provider),
            Arg::Text(&self.account_id),
            Arg::Text(&self.login),
            Arg::Text(&self.access),
            Arg::MaybeText(self.refresh.as_deref()),
            Arg::Text(&self.token_type),
            Arg::MaybeInt(self.expires_at),
            Arg::MaybeText(self.scope.as_deref()),
            Arg::Text(Status::Active.as_str()),
            Arg::MaybeText(self.device_id.as_deref()),
            Arg::MaybeText(self.device_name.as_deref()),
            Arg::Int(self.now),
            Arg::MaybeInt(None),
            Arg::Int(self.now_ns),
        ]
    }

    /// The save's statements, on a SQLite connection inside the caller's transaction.
    fn inline(&self, db: &rusqlite::Connection) -> Result<Saved, StoreError> {
        let saved = db
            .prepare_cached(sqlite!(SAVE_CONNECTION))?
            .query_row(rusqlite::params_from_iter(&self.args()), |row| {
                Ok(Saved::read(row))
            })??;
        if saved.login != self.login {
            db.prepare_cached(sqlite!(RENAME_CONNECTION))?
                .execute(rusqlite::params_from_iter(&[
                    Arg::Text(&self.login),
                    Arg::Text(&saved.id),
                ]))?;
        }
        sessions::run_inline(db, &sessions::start(&self.session, self.now), &saved.id)?;
        Ok(saved)
    }
}

/// What saving a sign-in's connection gives back ([`SAVE_CONNECTION`]'s RETURNING).
struct Saved {
    id: String,
    /// The login the row held before this sign-in (a new row: this sign-in's).
    login: String,
    created_at: i64,
    refreshed_at: Option<i64>,
    touched_ns: i64,
}

impl Saved {
    /// `RETURNING id, login, created_at, refreshed_at, touched_ns`.
    fn read(row: &(impl Columns + ?Sized)) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.text(0)?,
            login: row.text(1)?,
            created_at: row.int(2)?,
            refreshed_at: row.maybe_int(3)?,
            touched_ns: row.int(4)?,
        })
    }
}

/// `leading`, then each of `providers`: the arguments of a query that ends with
/// `provider IN (…)`.
fn with_providers<'a, const N: usize>(
    leading: [Arg<'a>; N],
    providers: &[&'a str],
) -> Vec<Arg<'a>> {
    leading
        .into_iter()
        .chain(providers.iter().map(|provider| Arg::Text(provider)))
        .collect()
}

/// `$first, $first+1, …`: `count` numbered placeholders (one that matches nothing when none).
fn placeholders(first: usize, count: usize) -> String {
    if count == 0 {
        return "NULL".to_owned();
    }
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `N` fresh random bytes, in hex: ids of connections, sessions and anonymous accounts.
pub fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::rng().random();
    crate::hex::encode(&bytes)
}

/// Whether `key` (a connection's id or login, as a request gave it) could name a saved row:
/// nothing saved holds a NUL, and PostgreSQL refuses a query that binds one (its text cannot
/// hold it) where the answer is simply that no row matches.
fn could_match_a_row(key: &str) -> bool {
    !key.contains('\0')
}

/// A new connection's id: 32 hex digits, the first 12 the time in Unix milliseconds and the
/// other 20 random (80 bits), so that ids come in the order they are made, as UUIDv7's do.
/// The connections' index by id and the sessions' sight of connections by id then take each
/// new id at their end, on the page the sign-ins before it wrote, rather than on a random page
/// of its own: fewer pages written to SQLite's log, and copied by its checkpoints, per new
/// connection. An id is no secret (every route checks the session's sight of it) and says no
/// more than the connection's `created_at` does.
fn new_id() -> String {
    let mut id = now_hex();
    id.push_str(&random_hex::<10>());
    id
}

/// The database file (and so the journal files SQLite makes beside it, which take its
/// mode) readable by its owner only: made so, or tightened if it exists.
#[cfg(unix)]
fn owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    for file in [
        path.to_owned(),
        path.with_extension("db-wal"),
        path.with_extension("db-shm"),
    ] {
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// How long [`open_inline`] tries a file that is busy.
const INLINE_OPEN_TRIES: u32 = 200;
const INLINE_OPEN_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// A SQLite file's inline connections, or `None` (said in a warning) when they cannot be had:
/// the sign-in statements then go through sqlx for as long as the process runs. Just after
/// the pool has opened the file, one of its connections, or the recovery of the log's index
/// by the first connection to read it, may hold the file a moment, and the inline connections
/// never wait (`busy_timeout` 0): a busy file is tried again, for up to two seconds. Any other
/// error (a file that cannot be opened, a disk error) is said at once.
async fn open_inline(file: &Path, write_lock: &Arc<tokio::sync::Mutex<()>>) -> Option<Arc<Inline>> {
    let mut tries = 1;
    loop {
        match Inline::open(file, Arc::clone(write_lock)) {
            Ok(inline) => return Some(Arc::new(inline)),
            Err(error)
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && tries < INLINE_OPEN_TRIES =>
            {
                tries += 1;
                tokio::time::sleep(INLINE_OPEN_PAUSE).await;
            }
            Err(error) => {
                tracing::warn!("the sign-in statements go through sqlx: SQLite inline: {error}");
                return None;
            }
        }
    }
}

/// Whether `url` (as [`prepare_sqlite_url`] made it) names a SQLite file on disk with no
/// option but read-write mode.
fn plain_sqlite_file(url: &str) -> bool {
    let rest = url.strip_prefix("sqlite://").unwrap_or(url);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path != ":memory:"
        && !path.starts_with("file:")
        && query
            .split('&')
            .all(|option| matches!(option, "" | "mode=rwc" | "mode=rw"))
}

/// SQLite: create the file (and its folder) if missing, readable by its owner only.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(url.to_owned());
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" {
        if let Some(parent) = Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::KeyFile {
                path: parent.display().to_string(),
                source,
            })?;
        }
        owner_only(Path::new(path)).map_err(|source| StoreError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file another connection holds a moment when the store opens (here an exclusive lock
    /// held for 300 ms) still gets its inline connections: the sign-in statements do not go
    /// through sqlx for the rest of the process's life.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_held_a_moment_at_start_still_gets_its_inline_connections() {
        let dir = std::env::temp_dir().join(format!("tb-inline-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.db");
        let url = format!("sqlite://{}", file.display());
        drop(Store::open(&url, &StoreKey([7; 32])).await.unwrap());
        let holder = rusqlite::Connection::open(&file).unwrap();
        holder
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE; BEGIN IMMEDIATE; \
                 DELETE FROM spent_states; COMMIT;",
            )
            .unwrap();
        let write_lock = Arc::new(tokio::sync::Mutex::new(()));
        assert!(
            Inline::open(&file, Arc::clone(&write_lock))
                .is_err_and(|e| e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)),
            "the holder keeps the file from the inline connections"
        );
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(holder);
        });

        let inline = open_inline(&file, &write_lock).await;

        released.join().unwrap();
        let inline = inline.expect("the inline connections, once the file was free");
        let spent: i64 = inline
            .with(Access::Reads, |db| {
                db.query_row("SELECT count(*) FROM spent_states", [], |row| row.get(0))
            })
            .unwrap();
        assert_eq!(spent, 0);
        drop(inline);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Connection ids keep their form (32 lowercase hex digits), never repeat, and sort in the
    /// order they were made a millisecond or more apart.
    #[test]
    fn connection_ids_come_in_the_order_they_are_made() {
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(new_id());
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let same_moment: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(
            same_moment.len(),
            1000,
            "ids made at once are still distinct"
        );
        for id in ids.iter().chain(&same_moment) {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
    }

    /// Session ids and states made now are stored under keys in the order they were made;
    /// an id made before (64 hex digits) keeps the key it was stored under, and a state that
    /// only looks stamped (a forged callback's) gets a plain hash, never an error.
    #[test]
    fn ids_stamped_with_their_time_are_stored_in_order_and_older_ids_as_before() {
        let mut keys = Vec::new();
        for _ in 0..5 {
            let id = crate::clock::stamped(&random_hex::<32>());
            assert!(id.starts_with('.') && id.len() == 77, "{id}");
            keys.push(key_of(&id));
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        assert!(keys.iter().all(|k| k.len() == 76), "{keys:?}");
        let same_moment = crate::clock::stamped("a");
        assert_ne!(key_of(&same_moment), key_of(&format!("{same_moment}b")));

        let older = random_hex::<32>();
        assert_eq!(
            key_of(&older),
            hash_id(&older),
            "an older session id keeps its key"
        );
        for forged in [
            ".",
            ".0123",
            ".zzzzzzzzzzzzrest",
            ".ABCDEF012345rest",
            ".01234567890é",
        ] {
            assert_eq!(key_of(forged), hash_id(forged), "{forged}");
        }
    }

    #[test]
    fn the_key_file_is_made_once_readable_only_by_its_owner() {
        let dir = std::env::temp_dir().join(format!("tb-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("nested").join("store.key");

        let made = StoreKey::from_file(&path).unwrap();
        let again = StoreKey::from_file(&path).unwrap();

        assert_eq!(made.0, again.0, "the second start reads the same key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_own_row_and_column() {
        let sealer = Sealer(Aes256Gcm::new_from_slice(&[1u8; 32]).unwrap());
        let row = RowKey {
            provider: "yandex",
            account_id: "1",
        };
        let other = RowKey {
            provider: "yandex",
            account_id: "2",
        };
        let sealed = sealer.seal("y0_secret", &row, "access_token");

        assert!(!sealed.contains("y0_secret"));
        assert_eq!(
            sealer.open(&sealed, &row, "access_token").unwrap(),
            "y0_secret"
        );
        assert!(sealer.open(&sealed, &other, "access_token").is_err());
        assert!(sealer.open(&sealed, &row, "refresh_token").is_err());
    }

    /// A value sealed by any earlier version still opens: what it is bound to is spelled the
    /// same (sealed here by hand, as `provider/account_id/column`).
    #[test]
    fn a_value_sealed_by_an_earlier_version_still_opens() {
        use aes_gcm::{
            Nonce,
            aead::{Aead, Payload},
        };
        let cipher = Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
        let nonce = [3u8; 12];
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: b"y0_earlier",
                    aad: b"yandex/42/refresh_token",
                },
            )
            .unwrap();
        let sealed = STANDARD.encode([nonce.as_slice(), &ciphertext].concat());
        let row = RowKey {
            provider: "yandex",
            account_id: "42",
        };
        assert_eq!(
            Sealer(cipher).open(&sealed, &row, "refresh_token").unwrap(),
            "y0_earlier"
        );
    }

    #[test]
    fn only_a_plain_file_runs_statements_inline() {
        assert!(plain_sqlite_file(
            "sqlite:///var/lib/tb/tokenbridge.db?mode=rwc"
        ));
        assert!(plain_sqlite_file("sqlite://data/tokenbridge.db?mode=rw"));
        // In memory, or with options the two drivers might read apart: all through sqlx.
        assert!(!plain_sqlite_file("sqlite://:memory:?mode=rwc"));
        assert!(!plain_sqlite_file("sqlite://data/x.db?mode=memory"));
        assert!(!plain_sqlite_file("sqlite://data/x.db?mode=ro"));
        assert!(!plain_sqlite_file(
            "sqlite://data/x.db?immutable=true&mode=rwc"
        ));
        assert!(!plain_sqlite_file("sqlite://file:x.db?mode=rwc"));
    }

    #[test]
    fn an_id_is_kept_by_its_sha256_in_lowercase_hex() {
        use sha2::{Digest, Sha256};
        let expected: String = Sha256::digest(b"state")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash_id("state"), expected);
    }

    #[test]
    fn a_bad_store_key_says_how_to_make_one() {
        let error = StoreKey::from_base64("c2hvcnQ=").unwrap_err().to_string();
        assert!(
            error.contains("32 bytes") && error.contains("openssl rand"),
            "{error}"
        );
    }

    /// A connection is deleted only as it was read when its `touched_ns` is given (a disconnect
    /// deletes what it revoked, not what another instance's refresh saved since), and however it
    /// is when not; either takes the sessions' sight of it along.
    #[tokio::test]
    async fn a_connection_is_deleted_only_as_it_was_read() {
        let dir = std::env::temp_dir().join(format!("tb-delete-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = Store::open(&url, &StoreKey([7; 32])).await.unwrap();
        let sign_in = |account: &str, session: &str| {
            let new = NewConnection {
                provider: "prov".into(),
                account_id: account.into(),
                login: account.into(),
                access_token: AccessToken::new("access".into()),
                refresh_token: None,
                token_type: "bearer".into(),
                expires_at: None,
                scope: None,
                device_id: None,
                device_name: None,
            };
            let session = sessions::NewSession {
                hash: hash_id(session),
                replaces: None,
                browser_gone: Default::default(),
            };
            let store = &store;
            async move { store.save_sign_in(new, &session).await.unwrap() }
        };
        let (first, second) = (sign_in("a", "s-1").await, sign_in("b", "s-2").await);

        let stale = first.touched_ns - 1;
        assert!(
            !store
                .delete_unchanged("prov", &first.id, stale)
                .await
                .unwrap()
        );
        assert!(
            store.get(&["prov"], &first.id).await.unwrap().is_some(),
            "a row saved afresh stays"
        );
        assert!(
            store
                .delete_unchanged("prov", &first.id, first.touched_ns)
                .await
                .unwrap()
        );
        assert!(store.get(&["prov"], &first.id).await.unwrap().is_none());
        assert!(
            !store
                .delete_unchanged("prov", &first.id, first.touched_ns)
                .await
                .unwrap(),
            "gone"
        );

        let links = || async {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM session_connections")
                .fetch_one(&store.pool)
                .await
                .unwrap()
        };
        assert_eq!(
            links().await,
            1,
            "the second sign-in's session still sees its own"
        );
        store.delete("prov", &second.id).await.unwrap();
        assert!(store.get(&["prov"], &second.id).await.unwrap().is_none());
        assert_eq!(links().await, 0, "no session sees a deleted connection");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Rows are read by column position: every column lands in its own field, through each
    /// way a connection is read (the scripts' and the lists' queries through sqlx, the page's
    /// session read inline on SQLite's own connections). Each field holds a value no other has.
    #[tokio::test]
    async fn a_saved_connection_reads_back_field_by_field() {
        let dir = std::env::temp_dir().join(format!("tb-columns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = Store::open(&url, &StoreKey([7; 32])).await.unwrap();
        let session = sessions::NewSession {
            hash: hash_id("session"),
            replaces: None,
            browser_gone: Default::default(),
        };
        let saved = store
            .save_sign_in(
                NewConnection {
                    provider: "prov".into(),
                    account_id: "account-1".into(),
                    login: "alice".into(),
                    access_token: AccessToken::new("access-2".into()),
                    refresh_token: Some(RefreshToken::new("refresh-3".into())),
                    token_type: "bearer".into(),
                    expires_at: Some(4_000_000_004),
                    scope: Some("scope:5".into()),
                    device_id: Some("device-6".into()),
                    device_name: Some("Device seven".into()),
                },
                &session,
            )
            .await
            .unwrap();
        let check = |read: &Connection, how: &str| {
            assert_eq!(
                (
                    read.id.as_str(),
                    read.provider.as_str(),
                    read.account_id.as_str(),
                    read.login.as_str(),
                    read.access_token.secret().as_str(),
                    read.holds_refresh_token,
                    read.token_type.as_str(),
                ),
                (
                    saved.id.as_str(),
                    "prov",
                    "account-1",
                    "alice",
                    "access-2",
                    true,
                    "bearer",
                ),
                "{how}"
            );
            assert_eq!(
                (
                    read.expires_at,
                    read.scope.as_deref(),
                    read.status,
                    read.device_id.as_deref(),
                    read.device_name.as_deref(),
                    read.created_at,
                    read.refreshed_at,
                    read.touched_ns,
                ),
                (
                    Some(4_000_000_004),
                    Some("scope:5"),
                    Status::Active,
                    Some("device-6"),
                    Some("Device seven"),
                    saved.created_at,
                    None,
                    saved.touched_ns,
                ),
                "{how}"
            );
        };
        assert!(saved.created_at > 1_700_000_000 && saved.touched_ns > saved.created_at);
        let by_id = store.get(&["prov"], &saved.id).await.unwrap().unwrap();
        check(&by_id, "by id");
        assert_eq!(
            by_id.refresh_token.map(|t| t.into_secret()).as_deref(),
            Some("refresh-3")
        );
        check(
            &store.by_login(&["prov"], "alice").await.unwrap()[0],
            "by login",
        );
        check(&store.all(&["prov"]).await.unwrap()[0], "all");
        let (_, seen) = store
            .session_seeing(&["prov"], &session.hash)
            .await
            .unwrap()
            .unwrap();
        check(&seen[0], "the session's read");
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
