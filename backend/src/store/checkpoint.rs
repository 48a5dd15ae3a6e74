//! The write-ahead log's checkpoints, on a thread of their own.
//!
//! A checkpoint copies the pages of SQLite's write-ahead log back into the database file
//! and syncs both. SQLite runs one on the commit that finds the log past 1000 pages, on the
//! committing thread: every fortieth sign-in or so waited 4–6 ms for it (the callback's p99
//! at concurrency 1, and a runtime thread stalled meanwhile at any concurrency). The inline
//! connections leave the log to this thread, which checkpoints `PASSIVE` (waiting for no
//! reader or writer) every few tens of milliseconds while pages come in. They keep SQLite's
//! own checkpoint for a log fifteen times as long.
//!
//! Under a steady stream of sign-ins the log never starts over by itself (its next frame
//! written at its start): SQLite starts it over only for a write that begins with all of it
//! copied, and a checkpoint takes milliseconds (it syncs both files) while commits keep
//! coming. So once the log passes [`RESTART_PAGES`] this thread makes a second pass with this
//! process's writers held — the store's write lock, which they wait on asynchronously, no
//! runtime thread blocked — copying only what came in since its first (during it, and from
//! the writers queued ahead of it for the lock), and the next write starts the log over (on
//! its runtime thread it syncs the log's new header, one `fsync`). Until the eighth session
//! of 2026-12-06 the commit that found the log past the fallback did that itself, on its
//! runtime thread, with up to 50 ms of pages left to copy (about 6 ms there, three `fsync`s
//! on a runtime thread); held by this thread at the same length, the callback's p99 at concurrency 8 went from 5.2–6.1 ms to 3.7–4.9 ms in four
//! benchmark pairs, at 1 and in CPU per sign-in it did not move. The commits keep SQLite's
//! own checkpoint for a log past [`FALLBACK_PAGES`], should this thread fall behind or be
//! missing. Measured and not taken before: that second pass far more often (once the log
//! passed 1,000 pages), on a machine whose syncs took up to 10 ms: writers waited through 53
//! of them in a run, and the callback's p99 rose (see docs/performance.md, *Measured and not
//! taken*).

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use rusqlite::{Connection, OpenFlags};

/// The log length (pages, 40 MB) past which the thread's pass is followed by one with this
/// process's writers held, after which the log starts over: under steady writes, once every
/// this many pages (see above).
const RESTART_PAGES: i64 = 10_000;
/// The log length (pages) at which an inline connection's commit checkpoints by itself: for a
/// thread some 50–100 ms behind at the benchmark's fastest sign-ins (the log restarts at
/// 10,000–13,000 pages there), or none.
pub(super) const FALLBACK_PAGES: i64 = 15_000;
/// The pause between checkpoints while pages come in: at the benchmark's fastest sign-ins
/// the log grows by about 2,500 pages in it (10 MB), a quarter of [`RESTART_PAGES`].
const BUSY_PAUSE: Duration = Duration::from_millis(50);
/// The pause while nothing is written. The first write after it wakes the thread (see
/// [`Checkpointer::wrote`]): at the fastest sign-ins the log would pass [`RESTART_PAGES`] in
/// two fifths of it.
const IDLE_PAUSE: Duration = Duration::from_millis(500);

/// The thread that checkpoints one SQLite file, stopped when this is dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    /// Set while the thread waits the idle pause.
    idle: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the SQLite file at `path` (already in write-ahead-log mode), whose
    /// writers in this process take `write_lock` in turn. If the thread cannot start, commits
    /// checkpoint by themselves at [`FALLBACK_PAGES`].
    pub fn start(path: &Path, write_lock: Arc<tokio::sync::Mutex<()>>) -> rusqlite::Result<Self> {
        Self::restarting_at(path, write_lock, RESTART_PAGES)
    }

    /// As [`Checkpointer::start`], holding the writers past `restart_pages`.
    fn restarting_at(
        path: &Path,
        write_lock: Arc<tokio::sync::Mutex<()>>,
        restart_pages: i64,
    ) -> rusqlite::Result<Self> {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Busy at once rather than waiting (a pass with the writers held must not make them
        // wait seconds on another process's lock): the next pass tries again.
        connection.busy_timeout(Duration::ZERO)?;
        let stop = Arc::new(AtomicBool::new(false));
        let idle = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let (stop, idle) = (Arc::clone(&stop), Arc::clone(&idle));
                move || run(&connection, &write_lock, restart_pages, &stop, &idle)
            })
            .inspect_err(|error| {
                tracing::warn!(%error, "cannot start the SQLite checkpoint thread; commits checkpoint by themselves");
            })
            .ok();
        Ok(Self { stop, idle, thread })
    }

    /// Says that a connection wrote: a thread waiting the idle pause goes back to work at
    /// once, so that a burst of sign-ins after a quiet spell finds its log checkpointed. One
    /// atomic read a write otherwise.
    pub fn wrote(&self) {
        if self.idle.load(Ordering::Relaxed)
            && self.idle.swap(false, Ordering::Relaxed)
            && let Some(thread) = &self.thread
        {
            thread.thread().unpark();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // Ends within a pass or two and a wait for the write lock (which no one holds once
            // the store is being dropped); a panicked thread has nothing more to say.
            let _ = thread.join();
        }
    }
}

fn run(
    connection: &Connection,
    write_lock: &tokio::sync::Mutex<()>,
    restart_pages: i64,
    stop: &AtomicBool,
    idle: &AtomicBool,
) {
    // Said once when checkpoints start failing (a full disk, say) and once when they work again,
    // not twice a second.
    let mut failing = false;
    let mut last = None;
    while !stop.load(Ordering::Relaxed) {
        let pass = checkpoint(connection).and_then(|log| {
            if log.pages < restart_pages {
                return Ok(log);
            }
            // What came in since, copied with no writer of this process between it and the
            // next write (another process's, the `token` command's, may still come first).
            let _writers = write_lock.blocking_lock();
            checkpoint(connection)
        });
        let pause = match pass {
            Ok(log) => {
                if failing {
                    tracing::info!("SQLite checkpoints work again");
                    failing = false;
                }
                let pause = pause_after(last, log);
                last = Some(log);
                pause
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "SQLite checkpoint failed; trying again every {IDLE_PAUSE:?}");
                    failing = true;
                }
                IDLE_PAUSE
            }
        };
        // A write between this store and the park unparks it at once; one before the store
        // leaves the thread idle until the next write wakes it (or the pause ends).
        idle.store(pause == IDLE_PAUSE, Ordering::Relaxed);
        std::thread::park_timeout(pause);
        idle.store(false, Ordering::Relaxed);
    }
}

/// The write-ahead log as a checkpoint left it, in pages (both -1 when not in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Log {
    /// Pages in the log since it last started over.
    pages: i64,
    /// Of those, the pages in the database file as well.
    copied: i64,
}

/// The pause after a checkpoint that left `log`: the busy one when pages came in since the
/// `last` checkpoint.
fn pause_after(last: Option<Log>, log: Log) -> Duration {
    if last == Some(log) {
        IDLE_PAUSE
    } else {
        BUSY_PAUSE
    }
}

/// One passive checkpoint. The log it reports is the same as the last one's when nothing
/// was written in between. (Its count of copied pages is not this checkpoint's: it counts
/// every page of the log already in the database file, so it stays above zero while the
/// server is idle, until the next write starts the log over.)
fn checkpoint(connection: &Connection) -> rusqlite::Result<Log> {
    let (_busy, pages, copied): (i64, i64, i64) =
        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok(Log { pages, copied })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SQLite file in write-ahead-log mode with one row in table `t` (x = `x`), which
    /// no commit checkpoints: its directory (removed by the caller), path and connection.
    fn wal_file(label: &str, x: i64) -> (std::path::PathBuf, std::path::PathBuf, Connection) {
        let dir =
            std::env::temp_dir().join(format!("tb-checkpoint-{label}-{}", std::process::id()));
        // Nothing of an earlier run's (its log, say) under the same process id.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.db");
        let _ = std::fs::remove_file(&path);
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(&format!(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
                 CREATE TABLE t (x INTEGER); INSERT INTO t VALUES ({x});"
            ))
            .unwrap();
        (dir, path, writer)
    }

    /// An idle server's checkpoint thread waits the idle pause, not the busy one (it took the
    /// log's pages already in the database file for pages just copied, and woke twenty times
    /// a second doing nothing); the first checkpoint after a write waits the busy one.
    #[test]
    fn with_nothing_written_since_the_last_checkpoint_the_thread_waits_the_idle_pause() {
        let (dir, path, writer) = wal_file("idle", 1);
        let checkpointer = Connection::open(&path).unwrap();
        let after_writes = checkpoint(&checkpointer).unwrap();
        assert!(after_writes.copied > 0, "{after_writes:?}");
        let idle = checkpoint(&checkpointer).unwrap();
        assert_eq!(
            pause_after(Some(after_writes), idle),
            IDLE_PAUSE,
            "nothing was written in between: {after_writes:?}, {idle:?}"
        );
        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_eq!(
            pause_after(Some(idle), checkpoint(&checkpointer).unwrap()),
            BUSY_PAUSE,
            "a page came in"
        );
        drop(checkpointer);
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A log written without a pause still starts over: the thread copies the rest of it
    /// with the writers held, and the next commit writes at its start. Without that, the log
    /// file held every commit of the loop (one page each), since no commit found it all copied.
    #[test]
    fn a_log_written_without_a_pause_still_starts_over() {
        let (dir, path, writer) = wal_file("restart", 1);
        // As the inline connections commit: no sync of the log at each commit.
        writer.pragma_update(None, "synchronous", "NORMAL").unwrap();
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let checkpointer = Checkpointer::restarting_at(&path, Arc::clone(&lock), 100).unwrap();
        // As the store's writers write: each commit under the lock, the next one at once.
        let started = std::time::Instant::now();
        let mut commits = 0_u64;
        while commits < 2_000 || started.elapsed() < Duration::from_millis(500) {
            let _writing = lock.blocking_lock();
            writer.execute("UPDATE t SET x = x + 1", []).unwrap();
            // As `Inline::with` does: a thread that found no pages in its last pass (this
            // loop stalled on a busy machine) goes back to work.
            checkpointer.wrote();
            commits += 1;
        }
        drop(checkpointer);
        let log = std::fs::metadata(dir.join("t.db-wal")).unwrap().len();
        let page = writer
            .query_row("PRAGMA page_size", [], |r| r.get::<_, u64>(0))
            .unwrap();
        // A 32-byte header, then a 24-byte header and a page for each frame.
        let frames = log.saturating_sub(32) / (page + 24);
        assert!(
            frames < commits / 2,
            "{frames} frames in the log after {commits} one-page commits"
        );
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// What is committed reaches the database file itself, not only its log: a backup that
    /// copies the file alone (without `-wal`) has it.
    #[test]
    fn commits_reach_the_database_file_without_a_commit_checkpointing() {
        let (dir, path, writer) = wal_file("file", 42);
        let copy = dir.join("copy.db");
        let in_the_file_alone = || {
            std::fs::copy(&path, &copy).unwrap();
            let _ = std::fs::remove_file(dir.join("copy.db-wal"));
            Connection::open(&copy)
                .unwrap()
                .query_row("SELECT count(*) FROM t WHERE x = 42", [], |r| {
                    r.get::<_, i64>(0)
                })
                .unwrap_or(0)
        };
        assert_eq!(
            in_the_file_alone(),
            0,
            "without a checkpoint, only the log has it"
        );

        let checkpointer = Checkpointer::start(&path, Arc::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while in_the_file_alone() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(in_the_file_alone(), 1, "the checkpoint thread copied it");
        drop(checkpointer);
        drop(writer);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
