//! Work that is finished once begun, even when the request that began it goes: a sign-in whose
//! code went to the provider, a refresh whose refresh token did. The provider has spent what it
//! was sent by then, and its answer may be the only one that still works, so it is saved
//! whether or not anyone waits for it (a script that stops waiting, a page that closes, the
//! request's own timeout) — and a shutdown waits for it.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

/// The work under way, counted for a shutdown to wait for.
#[derive(Default)]
pub struct UnderWay {
    running: tokio::sync::watch::Sender<usize>,
}

impl UnderWay {
    /// The work `work` makes, run where it is awaited, with the request's log context, and
    /// counted until it is done; dropped before that, it goes on in a task of its own (see
    /// [`FinishedEvenIfDropped`]), and the [`Detached`] it was given says so from then on.
    pub fn finish<W, F>(
        self: &Arc<Self>,
        work: W,
    ) -> FinishedEvenIfDropped<impl Future<Output = F::Output> + Send + 'static>
    where
        W: FnOnce(Detached) -> F,
        F: Future<Output: Send> + Send + 'static,
    {
        self.running.send_modify(|running| *running += 1);
        let counted = Counted(self.clone());
        let detached = Detached::default();
        // Boxed at once: a sign-in's work is kilobytes of state, which each wrapper below would
        // otherwise copy again as it moves in (unboxed, a sign-in counted 474.1 k instructions
        // against 420.8 k, a Refresh click 266.8 k against 233.2 k).
        let work = Box::pin(work(detached.clone()));
        FinishedEvenIfDropped {
            future: Some(Box::pin(crate::telemetry::carrying_the_request(
                async move {
                    let _counted = counted;
                    work.await
                },
            ))),
            runtime: tokio::runtime::Handle::try_current().ok(),
            detached,
        }
    }

    /// Waits, for up to `within`, until no work is under way; says so in the log when some is,
    /// and when the wait runs out.
    pub async fn all_finished(&self, within: std::time::Duration) {
        let mut running = self.running.subscribe();
        let under_way = *running.borrow();
        if under_way == 0 {
            return;
        }
        tracing::info!(
            under_way,
            "waiting for the sign-ins and refreshes under way to be saved"
        );
        if tokio::time::timeout(within, running.wait_for(|running| *running == 0))
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping with sign-ins or refreshes still under way: tokens the provider issued for them may be lost"
            );
        }
    }
}

/// One piece of work under way (see [`UnderWay::finish`]), until dropped.
struct Counted(Arc<UnderWay>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.running.send_modify(|running| *running -= 1);
    }
}

/// Whether the request that began a piece of work has gone, leaving the work to go on alone
/// (see [`UnderWay::finish`]): a sign-in then changes nothing of the browser's that no answer
/// will reach.
#[derive(Debug, Clone, Default)]
pub struct Detached(Arc<AtomicBool>);

impl Detached {
    pub fn is_detached(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A future that runs where it is awaited and, dropped before it is done, goes on in a task of
/// its own on the runtime it was made on. (Spawned from the start, a refresh woke the runtime's
/// other thread, on the other CPU: a Refresh click cost 20–65 µs more CPU.)
pub struct FinishedEvenIfDropped<F: Future<Output: Send> + Send + 'static> {
    future: Option<Pin<Box<F>>>,
    runtime: Option<tokio::runtime::Handle>,
    detached: Detached,
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
        self.detached.0.store(true, Ordering::Release);
        match &self.runtime {
            // A runtime shutting down drops it at once (after a shutdown's wait for the work).
            Some(runtime) => drop(runtime.spawn(future)),
            None => tracing::warn!("work under way was dropped with no runtime to finish it"),
        }
    }
}
