//! One refresh at a time per connection, however many callers ask, and its answer saved: tried
//! again while the store cannot take it, and if it still cannot, kept (sealed) for the
//! connection's next turn to save (a task of its own takes such a turn once the store answers:
//! `Connections::save_kept_by_itself`). The provider may have spent the refresh token it was sent,
//! so its answer may be the only one that still works. (That a refresh is finished even if its
//! caller goes is [`crate::under_way`]'s.)

use std::{collections::HashMap, sync::Arc};

use crate::{
    provider::IssuedToken,
    store::{Connection, SealedRefresh, Store, StoreError},
};

/// The connections being refreshed: one lock each, so that concurrent callers share one
/// refresh; and the refreshes' answers the store could not take, by connection.
#[derive(Default)]
pub(super) struct Refreshing {
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    unsaved: std::sync::Mutex<HashMap<String, SealedRefresh>>,
    /// The connections whose kept answer a task of its own is saving.
    savers: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Refreshing {
    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn unsaved(&self) -> std::sync::MutexGuard<'_, HashMap<String, SealedRefresh>> {
        self.unsaved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a task should start saving connection `id`'s kept answer: none is yet.
    pub(super) fn start_saver(&self, id: &str) -> bool {
        self.savers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned())
    }

    /// The task saving connection `id`'s kept answer is done (under the connection's turn, so
    /// that an answer kept after it is given a task of its own).
    pub(super) fn saver_done(&self, id: &str) {
        self.savers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    /// The connections with a refresh answer kept.
    pub(super) fn kept_ids(&self) -> Vec<String> {
        self.unsaved().keys().cloned().collect()
    }

    /// Says in the log, at a shutdown, how many refreshes' answers the store never took: they
    /// are lost with this process.
    pub(super) fn warn_of_unsaved(&self) {
        let unsaved = self.unsaved().len();
        if unsaved > 0 {
            tracing::warn!(
                connections = unsaved,
                "stopping with refreshed tokens the store could not take: those connections may need a new sign-in"
            );
        }
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

impl Turn {
    /// Saves the tokens `issued` for `connection`, trying again while the store cannot be
    /// reached (a SQLite file another process holds past its wait, PostgreSQL gone for a
    /// moment), and keeping them, sealed, for the connection's next turn if it still cannot.
    /// Whether they were saved: not over a row changed since the refresh read it (see
    /// [`Store::save_refresh`]).
    pub(super) async fn save(
        &self,
        store: &Store,
        connection: &Connection,
        issued: &IssuedToken,
    ) -> Result<bool, StoreError> {
        let sealed = store.seal_refresh(
            connection,
            &issued.access_token,
            issued.refresh_token.as_ref(),
            issued.expires_at,
        );
        let mut waits = SAVE_RETRIES.iter();
        loop {
            let error = match store.save_refresh(&sealed).await {
                Ok(saved) => return Ok(saved),
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
                        "the refreshed tokens could not be saved; they are kept, sealed, and saved once the store answers, by a task of their own or the connection's next refresh or disconnect (a restart before then loses them, and a rotated refresh token with them)"
                    );
                    self.refreshing.unsaved().insert(self.id.clone(), sealed);
                    return Err(error);
                }
            }
        }
    }

    /// Saves the answer of an earlier refresh of this turn's connection that the store could
    /// not take then, if one is kept, before this turn reads the connection. Kept until the
    /// store has answered (a caller that goes meanwhile leaves it for the next turn, which
    /// saves it only over the row it was made for); dropped once saved, or once the row has
    /// changed since (a sign-in, or another process, saved it afresh or deleted it), when it is
    /// handed back for the caller to see whether anyone holds its tokens.
    pub(super) async fn save_kept(&self, store: &Store) -> Result<Kept, StoreError> {
        let Some(sealed) = self.refreshing.unsaved().get(&self.id).cloned() else {
            return Ok(Kept::Nothing);
        };
        let kept = match store.save_refresh(&sealed).await {
            Ok(true) => {
                tracing::info!(connection = %self.id, "the answer of a refresh the store could not take before is saved now");
                Ok(Kept::Saved)
            }
            Ok(false) => {
                tracing::info!(connection = %self.id, "the answer of a refresh the store could not take before is not saved: the connection was saved afresh or deleted meanwhile");
                Ok(Kept::Dropped(sealed))
            }
            Err(error) if error.is_unavailable() => return Err(error),
            Err(error) => {
                tracing::error!(connection = %self.id, %error, "the answer of an earlier refresh could not be saved, and is dropped");
                Err(error)
            }
        };
        self.refreshing.unsaved().remove(&self.id);
        kept
    }

    /// The connections being refreshed, this turn's among them.
    pub(super) fn refreshing(&self) -> Arc<Refreshing> {
        self.refreshing.clone()
    }
}

/// What became of a refresh's answer kept for its connection's next turn.
pub(super) enum Kept {
    Nothing,
    Saved,
    /// Not saved: the row had changed since the refresh read it.
    Dropped(SealedRefresh),
}
