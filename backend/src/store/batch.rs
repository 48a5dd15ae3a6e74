//! Sign-ins' writes to a SQLite file, committed together when they queue.
//!
//! A sign-in writes twice (its spent state, then its connection and session), each time under
//! the store's write lock. At concurrency 64 the lock was a queue: 75–93 % of those writes
//! found it held, with 19–31 others waiting on average (a throwaway count in the benchmark,
//! the ninth session of 2026-12-06). The lock goes to its waiters in turn, each woken
//! only when the runtime next gets to it, and each write then paid for a transaction of its
//! own: SQLite's locks, the log's frames for the pages it touched, its commit frame.
//!
//! Here a write joins a queue and then waits for the lock *or* for its result, whichever comes
//! first. The writer that gets the lock runs every write queued by then in one transaction,
//! each in a savepoint of its own (a write that fails is rolled back alone and gets its own
//! error), commits once, and hands each writer its result: its own value once the commit
//! holds, the commit's error if it does not. A writer whose write is done when the lock
//! reaches it lets the lock go at once. Alone, a write runs as before: one transaction, no
//! savepoint.
//!
//! Nothing is answered before its commit: a sign-in's state is still spent before its code
//! leaves, and its connection saved before the browser goes home to read it.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::{
    StoreError,
    inline::{Access, Inline, lock},
};

/// How a batch ended, for each of its writes.
enum Commit<'a> {
    Committed,
    /// Another process holds the file (the `tokenbridge token` command): nothing of the batch
    /// was kept; each writer goes through sqlx instead, whose worker waits for the file.
    LockedOut,
    Failed(&'a rusqlite::Error),
}

/// A queued write. Given the batch's connection inside its transaction, it runs; given how
/// the batch ended before its turn, it tells its writer.
type Job = Box<dyn FnOnce(Result<&Connection, &Commit<'_>>) -> Ran + Send>;

/// A write that ran: whether it holds (or must be rolled back), and how to tell its writer.
struct Ran {
    holds: bool,
    tell: Box<dyn FnOnce(&Commit<'_>) + Send>,
}

impl Ran {
    fn told() -> Self {
        Self {
            holds: false,
            tell: Box::new(|_| {}),
        }
    }
}

/// The writes waiting for one SQLite file's write lock.
#[derive(Default)]
pub(super) struct Batch {
    queue: Mutex<Vec<Job>>,
    /// Transactions committed, for the tests to count.
    #[cfg(test)]
    commits: std::sync::atomic::AtomicUsize,
}

impl Batch {
    /// Runs `work` under `write_lock` on `inline`'s writing connection, with whatever other
    /// writes are queued when the lock comes, in one transaction. `None` when another process
    /// holds the file: the caller writes through sqlx instead.
    pub async fn write<T: Send + 'static>(
        &self,
        inline: &Inline,
        write_lock: &tokio::sync::Mutex<()>,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Option<Result<T, StoreError>> {
        let (sender, mut result) = oneshot::channel();
        let job: Job = Box::new(move |turn: Result<&Connection, &Commit<'_>>| {
            let db = match turn {
                Ok(db) => db,
                Err(ended) => {
                    let _ = sender.send(outcome(ended, || Err(StoreError::Abandoned)));
                    return Ran::told();
                }
            };
            // Its writer has gone (the request was dropped): a write no one would read of.
            if sender.is_closed() {
                return Ran::told();
            }
            match work(db) {
                Ok(value) => Ran {
                    holds: true,
                    tell: Box::new(move |commit| {
                        let _ = sender.send(outcome(commit, || Ok(value)));
                    }),
                },
                Err(error) => {
                    let _ = sender.send(Some(Err(error)));
                    Ran::told()
                }
            }
        });
        lock(&self.queue).push(job);
        // A free lock is taken at once, before this task waits on `result`: were it waiting,
        // its own answer would wake it, and a woken task wakes an idle runtime thread to take it
        // (4 `futex` calls a sign-in at concurrency 1).
        let _writing = match write_lock.try_lock() {
            Ok(writing) => writing,
            Err(_) => {
                let acquire = write_lock.lock();
                tokio::pin!(acquire);
                tokio::select! {
                    biased;
                    done = &mut result => return done.unwrap_or(Some(Err(StoreError::Abandoned))),
                    writing = &mut acquire => writing,
                }
            }
        };
        // A writer that had the lock before took this write and answered it before letting go.
        match result.try_recv() {
            Ok(done) => return done,
            Err(oneshot::error::TryRecvError::Closed) => return Some(Err(StoreError::Abandoned)),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        let jobs = std::mem::take(&mut *lock(&self.queue));
        let _committed = run(inline, jobs);
        #[cfg(test)]
        if _committed {
            self.commits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
            .try_recv()
            .unwrap_or(Some(Err(StoreError::Abandoned)))
    }
}

/// What a writer gets from a batch that ended as `commit`: `ran`'s value once committed.
fn outcome<T>(
    commit: &Commit<'_>,
    ran: impl FnOnce() -> Result<T, StoreError>,
) -> Option<Result<T, StoreError>> {
    match commit {
        Commit::Committed => Some(ran()),
        Commit::LockedOut => None,
        Commit::Failed(error) => Some(Err(copy(error))),
    }
}

/// Runs `jobs` in one transaction and tells each writer how it went. Whether it committed.
fn run(inline: &Inline, jobs: Vec<Job>) -> bool {
    let together = jobs.len() > 1;
    let mut waiting = jobs.into_iter();
    let mut ran = Vec::with_capacity(waiting.len());
    let done = inline.with(Access::Writes, |db| {
        // The transaction's statements are prepared once, not parsed at every write as
        // rusqlite's `Transaction` does (6 k instructions a sign-in's two writes).
        db.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let mut each = || {
            for job in waiting.by_ref() {
                if together {
                    db.prepare_cached("SAVEPOINT batched")?.execute([])?;
                }
                let holds = {
                    let this = job(Ok(db));
                    let holds = this.holds;
                    ran.push(this);
                    holds
                };
                if together {
                    if !holds {
                        db.prepare_cached("ROLLBACK TO batched")?.execute([])?;
                    }
                    db.prepare_cached("RELEASE batched")?.execute([])?;
                }
            }
            let holds = ran.iter().any(|this| this.holds);
            if holds {
                db.prepare_cached("COMMIT")?.execute([])?;
            }
            Ok::<_, rusqlite::Error>(holds)
        };
        let done = each();
        if !db.is_autocommit() {
            // Nothing to commit, or a failure: the writer keeps its connection only once
            // this has rolled back (see `Inline::with`).
            let _ = db.execute_batch("ROLLBACK");
        }
        done
    });
    let commit = match &done {
        Ok(_) => Commit::Committed,
        // Another process has the file (at the transaction's start, in a file in write-ahead
        // log mode): all of it was rolled back, and each write goes through sqlx instead.
        Err(error) if busy(error) => Commit::LockedOut,
        Err(error) => Commit::Failed(error),
    };
    for this in ran {
        (this.tell)(&commit);
    }
    for job in waiting {
        job(Err(&commit));
    }
    done.unwrap_or(false)
}

fn busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// The batch's error, for each of its writers.
fn copy(error: &rusqlite::Error) -> StoreError {
    let code = error
        .sqlite_error()
        .copied()
        .unwrap_or(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR));
    StoreError::Sqlite(rusqlite::Error::SqliteFailure(
        code,
        Some(error.to_string()),
    ))
}

#[cfg(test)]
mod tests {
    use std::{sync::atomic::Ordering, time::Duration};

    use super::super::Store;
    use super::*;

    /// A store on a SQLite file of its own (removed by the caller).
    async fn store(label: &str) -> (std::path::PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("tb-batch-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let store = Store::open(&url, &super::super::StoreKey([7; 32]))
            .await
            .unwrap();
        (dir, store)
    }

    /// Waits until `count` writes wait in the store's queue.
    async fn queued(store: &Store, count: usize) {
        for _ in 0..1000 {
            if lock(&store.batch.queue).len() == count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{count} writes never queued");
    }

    fn spend(store: &Store, state: &'static str) -> tokio::task::JoinHandle<bool> {
        let store = store.clone();
        tokio::spawn(async move { store.spend_state(state, i64::MAX).await.unwrap() })
    }

    /// A write that spends the state `half`, then fails.
    fn half_then_fail(db: &Connection) -> Result<(), StoreError> {
        db.execute(
            "INSERT INTO spent_states (state_hash, expires_at) VALUES ('half', 1)",
            [],
        )?;
        db.execute("INSERT INTO no_such_table VALUES (1)", [])?;
        Ok(())
    }

    /// `future`'s output, or a failed test (not a hung one) if a wake-up was lost.
    async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), future)
            .await
            .expect("answered within 10 s")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_queued_together_commit_once_and_each_gets_its_own_answer() {
        let (dir, store) = store("together").await;
        let held = store.write_lock.as_ref().unwrap().lock().await;
        let spends: Vec<_> = ["s1", "s2", "s3", "s4", "s3"]
            .into_iter()
            .map(|state| spend(&store, state))
            .collect();
        queued(&store, 5).await;
        drop(held);
        let mut answers = Vec::new();
        for spend in spends {
            answers.push(within(spend).await.unwrap());
        }

        assert_eq!(store.batch.commits.load(Ordering::Relaxed), 1);
        assert_eq!(&answers[..2], [true, true]);
        assert!(answers[3]);
        assert!(
            answers[2] != answers[4],
            "the state spent twice in one batch is spent once: {answers:?}"
        );
        for state in ["s1", "s2", "s3", "s4"] {
            assert!(store.state_spent(state).await.unwrap(), "{state}");
        }
        // Alone, a write commits by itself.
        assert!(within(spend(&store, "s5")).await.unwrap());
        assert_eq!(store.batch.commits.load(Ordering::Relaxed), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_is_rolled_back_alone() {
        let (dir, store) = store("failing").await;
        let held = store.write_lock.as_ref().unwrap().lock().await;
        let before = spend(&store, "before");
        queued(&store, 1).await;
        let failing = tokio::spawn({
            let store = store.clone();
            async move { store.batched(half_then_fail).await }
        });
        queued(&store, 2).await;
        let after = spend(&store, "after");
        queued(&store, 3).await;
        drop(held);

        let failed = within(failing).await.unwrap().expect("it ran inline");
        assert!(
            failed
                .unwrap_err()
                .to_string()
                .contains("no such table: no_such_table")
        );
        assert!(within(before).await.unwrap());
        assert!(within(after).await.unwrap());
        assert!(store.state_spent("before").await.unwrap());
        assert!(store.state_spent("after").await.unwrap());
        assert!(
            !store.state_spent("half").await.unwrap(),
            "the failed write's first statement was rolled back"
        );
        assert_eq!(store.batch.commits.load(Ordering::Relaxed), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_writer_has_gone_is_not_run() {
        let (dir, store) = store("gone").await;
        let held = store.write_lock.as_ref().unwrap().lock().await;
        let gone = spend(&store, "gone");
        queued(&store, 1).await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        let kept = spend(&store, "kept");
        queued(&store, 2).await;
        drop(held);

        assert!(within(kept).await.unwrap());
        assert!(store.state_spent("kept").await.unwrap());
        assert!(!store.state_spent("gone").await.unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_failing_write_changes_nothing() {
        let (dir, store) = store("lone").await;
        let failed = within(store.batched(half_then_fail))
            .await
            .expect("it ran inline");

        assert!(failed.is_err());
        assert!(!store.state_spent("half").await.unwrap());
        assert_eq!(store.batch.commits.load(Ordering::Relaxed), 0);
        // The writing connection was left with no transaction open: the next write holds.
        assert!(within(spend(&store, "next")).await.unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Another process's write transaction (the `token` command's) holds the file: a batch
    /// gives way, and each of its writes goes through sqlx, whose worker waits for the file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_wait_for_another_process_through_sqlx() {
        let (dir, store) = store("other").await;
        let other = Connection::open(dir.join("t.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let held = store.write_lock.as_ref().unwrap().lock().await;
        let spends: Vec<_> = ["w1", "w2", "w3"]
            .into_iter()
            .map(|state| spend(&store, state))
            .collect();
        queued(&store, 3).await;
        drop(held);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            spends.iter().all(|spend| !spend.is_finished()),
            "they wait for the other writer"
        );
        other.execute_batch("COMMIT").unwrap();

        for spend in spends {
            assert!(within(spend).await.unwrap());
        }
        for state in ["w1", "w2", "w3"] {
            assert!(store.state_spent(state).await.unwrap(), "{state}");
        }
        assert_eq!(
            store.batch.commits.load(Ordering::Relaxed),
            0,
            "not through the batch"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
