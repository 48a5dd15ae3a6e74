//! One refresh at a time per connection, however many callers ask, and each one finished
//! once begun: the provider may have spent the refresh token it was sent, so its answer is
//! saved even if the caller goes (a script that stops waiting, a page that closes, a
//! shutdown), and tried again while the store cannot take it.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use crate::{
    provider::IssuedToken,
    store::{Connection, Store, StoreError},
};

/// A future that runs where it is awaited and, dropped before it is done, goes on in a task of
/// its own on the runtime it was made on. (Spawned from the start, a refresh woke the runtime's
/// other thread, on the other CPU: a Refresh click cost 20–65 µs more CPU.)
pub(super) struct FinishedEvenIfDropped<F: Future<Output: Send> + Send + 'static> {
    future: Option<Pin<Box<F>>>,
    runtime: Option<tokio::runtime::Handle>,
}

impl<F: Future<Output: Send> + Send + 'static> FinishedEvenIfDropped<F> {
    pub(super) fn new(future: F) -> Self {
        Self {
            future: Some(Box::pin(future)),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

impl<F: Future<Output: Send> + Send + 'static> Future for FinishedEvenIfDropped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Taken out while it runs: one that panics is not handed on to run again.
        let mut future = self.future.take().expect("not polled again once finished");
        match future.as_mut().poll(cx) {
            Poll::Ready(output) => Poll::Ready(output),
            Poll::Pending => {
                self.future = Some(future);
                Poll::Pending
            }
        }
    }
}

impl<F: Future<Output: Send> + Send + 'static> Drop for FinishedEvenIfDropped<F> {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else {
            return;
        };
        match &self.runtime {
            // A runtime shutting down drops it at once (after a shutdown's wait for refreshes).
            Some(runtime) => drop(runtime.spawn(future)),
            None => tracing::warn!("a refresh under way was dropped with no runtime to finish it"),
        }
    }
}

/// The connections being refreshed: one lock each, so that concurrent callers share one
/// refresh, and how many refreshes are under way.
#[derive(Default)]
pub(super) struct Refreshing {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Refreshes still running, for a shutdown to wait for.
    running: tokio::sync::watch::Sender<usize>,
}

impl Refreshing {
    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This caller's turn at refreshing connection `id`, once every caller before it is done.
    pub(super) async fn turn(self: &Arc<Self>, id: &str) -> Turn {
        let lock = self.locks().entry(id.to_owned()).or_default().clone();
        let mut turn = Turn {
            refreshing: self.clone(),
            id: id.to_owned(),
            lock,
            held: None,
        };
        // Declared after `turn`, so dropped before it if this caller goes while it waits.
        let waiting = turn.lock.clone().lock_owned();
        turn.held = Some(waiting.await);
        turn
    }

    /// Counts a refresh as running until what it returns is dropped.
    pub(super) fn started(self: &Arc<Self>) -> Running {
        self.running.send_modify(|running| *running += 1);
        Running(self.clone())
    }

    /// Waits, for up to `within`, until no refresh is running; says so in the log when one
    /// is, and when the wait runs out.
    pub(super) async fn all_finished(&self, within: std::time::Duration) {
        let mut running = self.running.subscribe();
        let under_way = *running.borrow();
        if under_way == 0 {
            return;
        }
        tracing::info!(
            refreshes = under_way,
            "waiting for the refreshes under way to be saved"
        );
        if tokio::time::timeout(within, running.wait_for(|running| *running == 0))
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping with refreshes still under way: tokens the provider issued for them may be lost"
            );
        }
    }
}

/// A refresh running (see [`Refreshing::started`]).
pub(super) struct Running(Arc<Refreshing>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.send_modify(|running| *running -= 1);
    }
}

/// One caller's turn at a connection's refresh: its lock, held once the turn has come.
/// Dropped (done, failed, or its caller gone), it lets the lock go, and takes the lock out of
/// the map when no one else holds it or waits for it.
pub(super) struct Turn {
    refreshing: Arc<Refreshing>,
    id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.held = None;
        let mut locks = self.refreshing.locks();
        // The map's and this turn's: no one else holds this lock or waits for it.
        if Arc::strong_count(&self.lock) == 2
            && locks
                .get(&self.id)
                .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            locks.remove(&self.id);
        }
    }
}

/// How long to wait before each new try at saving a refresh's answer while the store cannot
/// be reached: about six seconds in all, on top of each try's own wait for the store.
const SAVE_RETRIES: [std::time::Duration; 3] = [
    std::time::Duration::from_millis(250),
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(5),
];

/// Saves the tokens `issued` for `connection`, trying again while the store cannot be reached
/// (a SQLite file another process holds past its wait, PostgreSQL gone for a moment): the
/// provider may have spent the refresh token it was sent, so this answer may be the only one
/// that still works.
pub(super) async fn save_refreshed(
    store: &Store,
    connection: &Connection,
    issued: &IssuedToken,
) -> Result<(), StoreError> {
    let mut waits = SAVE_RETRIES.iter();
    loop {
        let error = match store
            .save_refresh(
                connection,
                &issued.access_token,
                issued.refresh_token.as_ref(),
                issued.expires_at,
            )
            .await
        {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        match waits.next() {
            Some(wait) if error.is_unavailable() => {
                tracing::warn!(connection = %connection.id, %error, "cannot save the refreshed tokens yet; trying again in {wait:?}");
                tokio::time::sleep(*wait).await;
            }
            _ => {
                tracing::error!(
                    connection = %connection.id, rotated = issued.refresh_token.is_some(), %error,
                    "the refreshed tokens could not be saved; if the provider rotated the refresh token, the connection needs a new sign-in"
                );
                return Err(error);
            }
        }
    }
}
