//! Scripts read tokens far more often than anything writes them (one read before each API
//! call of each worker), so the rows that token reads look up stay here, sealed exactly as
//! the database holds them: a read opens its token with one AES-GCM open, and no token is
//! kept open in memory beyond the request that asked for it.
//!
//! An entry serves only while nothing can have changed since it was read. Every read and
//! every entry carries a [`Stamp`]; any write anywhere changes the stamp, and an entry whose
//! stamp is not the current one is read again:
//! - writes by this process count themselves (after their commit);
//! - SQLite: every commit, by any process on the same file (another tokenbridge, the
//!   `tokenbridge token` command refreshing), rewrites the header of the database's
//!   write-ahead-log index (the `-shm` file beside it: <https://www.sqlite.org/walformat.html>)
//!   before the commit returns, so the header's bytes are part of the stamp: the check is
//!   one `pread`, and no commit can slip past it. SQLite removes that file when the last
//!   connection to the database closes; the cache holds a connection of its own open, so
//!   the file it reads is the one every writer writes for as long as the cache lives;
//! - PostgreSQL: every write notifies the channel [`CHANNEL`] in its own transaction, and a
//!   listener counts what it hears. Another instance's write reaches this one when the
//!   notification arrives (well under a millisecond on one network); while the listener is
//!   not connected nothing is served from here at all.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, RwLock, Weak,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use super::SealedRow;

/// The PostgreSQL channel every write to `connections` notifies, and how.
const CHANNEL: &str = "tokenbridge_connections";
pub const NOTIFY: &str = "NOTIFY tokenbridge_connections";

/// At most this many logins are kept; past it the cache starts again empty.
const MAX_ENTRIES: usize = 10_000;

/// What "nothing has changed" means at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    writes: u64,
    wal_index: [u8; 48],
}

/// (the providers asked about, joined; the login)
type Key = (String, String);

/// What a lookup found, and when.
type Entry = (Stamp, Arc<[SealedRow]>);

pub struct RowCache {
    rows: RwLock<HashMap<Key, Entry>>,
    /// Writes this process made, and (PostgreSQL) writes it heard of.
    writes: Arc<AtomicU64>,
    watch: Watch,
}

enum Watch {
    /// An in-memory database, or one this cache cannot watch: nothing is cached.
    Nothing,
    #[cfg(unix)]
    Sqlite(WalIndex),
    Postgres(Listening),
}

impl RowCache {
    /// For the SQLite file at `path` (in WAL mode, migrated); keeps nothing if its index
    /// file cannot be watched.
    pub fn sqlite(path: &str) -> Self {
        #[cfg(unix)]
        let watch = match WalIndex::open(path) {
            Ok(index) => Watch::Sqlite(index),
            Err(error) => {
                tracing::warn!("scripts' token reads go to the database every time: {error}");
                Watch::Nothing
            }
        };
        #[cfg(not(unix))]
        let watch = {
            let _ = path;
            Watch::Nothing
        };
        Self::with(watch, Arc::default())
    }

    /// For a database this cache cannot watch: it keeps nothing.
    pub fn nothing() -> Self {
        Self::with(Watch::Nothing, Arc::default())
    }

    /// For the PostgreSQL database at `url`: starts the listener, which stops when the
    /// cache is dropped.
    pub fn postgres(url: &str) -> Self {
        let writes = Arc::new(AtomicU64::new(0));
        let hearing = Arc::new(AtomicBool::new(false));
        let (alive, dropped) = tokio::sync::watch::channel(());
        tokio::spawn(listen(
            url.to_owned(),
            Arc::downgrade(&writes),
            Arc::downgrade(&hearing),
            dropped,
        ));
        Self::with(
            Watch::Postgres(Listening {
                hearing,
                _alive: alive,
            }),
            writes,
        )
    }

    fn with(watch: Watch, writes: Arc<AtomicU64>) -> Self {
        Self {
            rows: RwLock::default(),
            writes,
            watch,
        }
    }

    /// The stamp of this moment, or `None` when whether anything changed cannot be told.
    /// Take it before reading the database, so that a write during the read leaves the
    /// entry stale rather than the cache wrong.
    pub fn stamp(&self) -> Option<Stamp> {
        let writes = self.writes.load(Ordering::Acquire);
        let wal_index = match &self.watch {
            Watch::Nothing => return None,
            #[cfg(unix)]
            Watch::Sqlite(index) => index.header()?,
            Watch::Postgres(listening) => {
                if !listening.hearing.load(Ordering::Acquire) {
                    return None;
                }
                [0; 48]
            }
        };
        Some(Stamp { writes, wal_index })
    }

    /// This process wrote: whatever was read before is stale.
    pub fn changed(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    pub fn get(&self, providers: &[&str], login: &str, now: Stamp) -> Option<Arc<[SealedRow]>> {
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
        let (stamp, found) = rows.get(&(providers.join("\n"), login.to_owned()))?;
        (*stamp == now).then(|| found.clone())
    }

    pub fn put(&self, providers: &[&str], login: &str, stamp: Stamp, found: Arc<[SealedRow]>) {
        let mut rows = self.rows.write().unwrap_or_else(|e| e.into_inner());
        if rows.len() >= MAX_ENTRIES {
            rows.clear();
        }
        rows.insert((providers.join("\n"), login.to_owned()), (stamp, found));
    }
}

/// The header of SQLite's write-ahead-log index: two copies of 48 bytes at the start of
/// the `-shm` file, which every commit rewrites (the frame count, checksums and salts), the
/// second copy first. Equal copies with `isInit` set are a header no commit is writing.
#[cfg(unix)]
struct WalIndex {
    /// Never closed: closing any handle on a file drops every POSIX lock this process holds
    /// on it, SQLite's own included (its "index in use" and read locks). SQLite's connections
    /// close their handles with care for that; a plain `File` does not. One descriptor per
    /// store opened, for the life of the process.
    file: std::mem::ManuallyDrop<std::fs::File>,
    /// Keeps the index file in place: SQLite removes it only when the last connection to
    /// the database closes, and makes a new one (which this file would not be) after.
    /// (Held, never used: a Mutex only to make it shareable between threads.)
    _anchor: Mutex<rusqlite::Connection>,
}

#[cfg(unix)]
impl WalIndex {
    fn open(path: &str) -> Result<Self, String> {
        let anchor = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| format!("cannot open {path}: {e}"))?;
        // A read maps the index (making the file if need be); it stays mapped, and the
        // file in place, until the connection closes.
        anchor
            .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| format!("cannot read {path}: {e}"))?;
        // SQLite names the index after the database's resolved path (a symlinked database's
        // index sits beside its target), which the connection reports.
        let resolved = anchor.path().filter(|p| !p.is_empty()).unwrap_or(path);
        let index = format!("{resolved}-shm");
        let file = std::fs::File::open(&index).map_err(|e| format!("{index}: {e}"))?;
        Ok(Self {
            file: std::mem::ManuallyDrop::new(file),
            _anchor: Mutex::new(anchor),
        })
    }

    fn header(&self) -> Option<[u8; 48]> {
        use std::os::unix::fs::FileExt;
        let mut bytes = [0u8; 96];
        self.file.read_exact_at(&mut bytes, 0).ok()?;
        let (first, second) = bytes.split_at(48);
        if first != second || first[12] != 1 {
            return None;
        }
        first.try_into().ok()
    }
}

struct Listening {
    /// Whether the listener is connected and listening now.
    hearing: Arc<AtomicBool>,
    /// Dropped with the cache, which tells the listener to stop.
    _alive: tokio::sync::watch::Sender<()>,
}

/// Counts the notifications on [`CHANNEL`] into `writes`, connecting again (after a second)
/// whenever the connection is lost; `hearing` is true only while it listens.
async fn listen(
    url: String,
    writes: Weak<AtomicU64>,
    hearing: Weak<AtomicBool>,
    mut dropped: tokio::sync::watch::Receiver<()>,
) {
    let count = |hearing_now: bool| {
        let (Some(writes), Some(hearing)) = (writes.upgrade(), hearing.upgrade()) else {
            return false;
        };
        // Whatever was read while nobody listened may be stale: a new count either way.
        writes.fetch_add(1, Ordering::AcqRel);
        hearing.store(hearing_now, Ordering::Release);
        true
    };
    let mut warned = false;
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = dropped.changed() => return,
            connected = connected => match connected {
                Ok(listener) => Some(listener),
                Err(error) => {
                    if !warned {
                        tracing::warn!("cannot listen for other instances' writes (token reads go to the database meanwhile): {error}");
                        warned = true;
                    }
                    None
                }
            },
        };
        if listener.is_some() {
            warned = false;
            if !count(true) {
                return;
            }
        }
        while let Some(heard) = &mut listener {
            tokio::select! {
                _ = dropped.changed() => return,
                notification = heard.try_recv() => match notification {
                    Ok(Some(_)) => {
                        if !count(true) {
                            return;
                        }
                    }
                    Ok(None) | Err(_) => {
                        tracing::warn!("lost the connection that hears other instances' writes; token reads go to the database until it is back");
                        listener = None;
                    }
                },
            }
        }
        if !count(false) {
            return;
        }
        tokio::select! {
            _ = dropped.changed() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::WalIndex;

    /// A database opened through a symlink: SQLite keeps its index beside the target, and
    /// that is the file the stamp must follow, or another process's commit would go unseen.
    #[test]
    fn the_stamp_follows_commits_to_a_symlinked_database() {
        let dir = std::env::temp_dir().join(format!("tb-wal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let real = dir.join("real.db");
        let link = dir.join("link.db");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let writer = rusqlite::Connection::open(&real).unwrap();
        writer
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();

        let index = WalIndex::open(link.to_str().unwrap()).unwrap();
        let before = index.header().unwrap();
        writer.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let after = index.header().unwrap();

        assert_ne!(before, after, "a commit changes the stamp");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
