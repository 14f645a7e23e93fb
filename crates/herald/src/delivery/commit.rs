//! Group commit, the engine: writes are queued to one committer per node, which applies
//! whatever has queued up atomically with one commit (one fsync), then answers every caller.
//! Under load, hundreds of writes share a commit; when idle, a write commits alone at once:
//! there is no timer. A caller hears back only after its commit, so an accepted write is
//! always durable. What the writes are, and how a batch of them is applied, is the [`Batched`]
//! type's business (`writes.rs`); this module knows only batches.
//!
//! - A batch that fails is rolled back and its writes retried one at a time, so one bad write
//!   (a publish to an application deleted meanwhile) fails alone.
//! - A batch whose connection the server dropped before running it is run again (up to three
//!   times over 600 ms), as nothing of it was applied.
//! - On SQLite the committer runs on a thread of its own (with a single-threaded runtime):
//!   its statements are plain blocking calls, and a commit waits for its fsync, which must not
//!   hold up an async worker. On PostgreSQL it is a task on the node's runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::store::{StoreError, StoreResult};

/// Most writes in one batch.
const MAX_BATCH: usize = 1024;
/// Writes waiting for the committer before callers wait to enqueue (back-pressure).
const QUEUE: usize = 8192;
/// Waits before running again a batch whose connection was lost.
const LOST_CONNECTION_RETRIES: [u64; 3] = [0, 100, 500];

/// A kind of write that is applied in batches.
pub trait Batched: Sized + Send + Sync + 'static {
    /// One write's outcome.
    type Done: Send + 'static;
    /// What applying needs (the database handle and the like).
    type Ctx: Send + Sync + 'static;

    /// Applies `batch` atomically; one outcome per write, in order.
    fn apply(
        ctx: &Self::Ctx,
        batch: &[Self],
    ) -> impl Future<Output = StoreResult<Vec<Self::Done>>> + Send;

    /// Checks the committer's connection (a readiness check).
    fn ping(ctx: &Self::Ctx) -> impl Future<Output = StoreResult<()>> + Send;
}

enum Msg<W: Batched> {
    Write(W, oneshot::Sender<StoreResult<W::Done>>),
    /// Answered once everything queued before it is committed, with the connection checked.
    Ping(oneshot::Sender<StoreResult<()>>),
    /// Stop once everything queued before this is committed.
    Close(oneshot::Sender<()>),
}

/// A handle to the committer; cheap to clone.
pub struct Committer<W: Batched> {
    tx: mpsc::Sender<Msg<W>>,
}

impl<W: Batched> Clone for Committer<W> {
    fn clone(&self) -> Self {
        Committer {
            tx: self.tx.clone(),
        }
    }
}

impl<W: Batched> Committer<W> {
    /// Starts the committer: on a thread of its own when its statements block (`own_thread`),
    /// else as a task (returned, so shutdown can wait for it).
    pub fn start(
        ctx: W::Ctx,
        own_thread: bool,
        metrics: Arc<Metrics>,
    ) -> StoreResult<(Self, Option<tokio::task::JoinHandle<()>>)> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = if own_thread {
            // Timers only (the retry's sleep): without an I/O driver, the thread sleeps on a
            // condition variable between batches, as cheap to wake as a parked thread.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(StoreError::Thread)?;
            std::thread::Builder::new()
                .name("herald-commit".into())
                .spawn(move || rt.block_on(run(ctx, rx, metrics)))
                .map_err(StoreError::Thread)?;
            None
        } else {
            Some(tokio::spawn(run(ctx, rx, metrics)))
        };
        Ok((Committer { tx }, task))
    }

    /// Queues `write` and waits for its outcome, once committed.
    pub async fn submit(&self, write: W) -> StoreResult<W::Done> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Write(write, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Whether the committer is running and keeping up: answers once everything queued before
    /// it is committed. A readiness check bounds the wait.
    pub async fn ping(&self) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Ping(reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Stops the committer once everything queued so far is committed; writes sent after that
    /// fail with [`StoreError::Closed`]. For shutdown, after the last writer.
    pub async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Close(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run<W: Batched>(ctx: W::Ctx, mut rx: mpsc::Receiver<Msg<W>>, metrics: Arc<Metrics>) {
    let mut queued = Vec::with_capacity(MAX_BATCH);
    let mut closers = Vec::new();
    while rx.recv_many(&mut queued, MAX_BATCH).await > 0 {
        let mut writes = Vec::with_capacity(queued.len());
        let mut replies = Vec::with_capacity(queued.len());
        let mut pings = Vec::new();
        for m in queued.drain(..) {
            match m {
                Msg::Write(w, reply) => {
                    writes.push(w);
                    replies.push(reply);
                }
                Msg::Ping(reply) => pings.push(reply),
                Msg::Close(reply) => closers.push(reply),
            }
        }
        if !closers.is_empty() {
            // Writes sent from now on are refused; those queued already are committed.
            rx.close();
        }
        if !writes.is_empty() {
            let (n, started) = (writes.len(), Instant::now());
            commit(&ctx, writes, replies).await;
            metrics.commit(n, started.elapsed());
        }
        if !pings.is_empty() {
            let ok = W::ping(&ctx).await;
            for reply in pings {
                let _ = reply.send(match &ok {
                    Ok(()) => Ok(()),
                    Err(e) => Err(StoreError::Busy(e.to_string())),
                });
            }
        }
    }
    for reply in closers {
        let _ = reply.send(());
    }
}

/// Applies one batch and answers its callers. A caller that went away (its HTTP client hung
/// up) no longer needs the answer; the write itself stands.
async fn commit<W: Batched>(
    ctx: &W::Ctx,
    writes: Vec<W>,
    replies: Vec<oneshot::Sender<StoreResult<W::Done>>>,
) {
    let mut outcome = W::apply(ctx, &writes).await;
    for wait_ms in LOST_CONNECTION_RETRIES {
        match &outcome {
            Err(e) if crate::store::is_connection_lost(e) => {
                tracing::warn!(error = %e, "the committer's database connection was lost; retrying");
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                outcome = W::apply(ctx, &writes).await;
            }
            _ => break,
        }
    }
    match outcome {
        Ok(done) => {
            for (reply, d) in replies.into_iter().zip(done) {
                let _ = reply.send(Ok(d));
            }
        }
        Err(e) if writes.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, writes = writes.len(), "group commit failed; retrying each write alone");
            for (w, reply) in writes.iter().zip(replies) {
                let r = W::apply(ctx, std::slice::from_ref(w)).await;
                let _ = reply.send(r.and_then(|mut d| {
                    d.pop()
                        .ok_or_else(|| StoreError::Corrupt("a write had no outcome".into()))
                }));
            }
        }
    }
}
