//! The bounded mail queue and its sender. A job may be the work that makes a mail, run here
//! off the request, so a request about an unknown address does exactly what any other does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::{Mail, MailTransport, SendError};
use crate::error::ApiError;

/// How the queue and its sender behave.
#[derive(Debug, Clone, Copy)]
pub struct MailerSettings {
    pub capacity: usize,
    pub concurrency: usize,
    pub max_attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub retry_base: Duration,
}

/// The work that makes a mail; `Ok(None)` when there is nobody to mail.
pub type PrepareMail = Pin<Box<dyn Future<Output = anyhow::Result<Option<Mail>>> + Send>>;

enum Job {
    Ready(Mail),
    Prepare(PrepareMail),
}

/// Counters since start, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailStats {
    pub enqueued: u64,
    /// Mails the transport accepted.
    pub delivered: u64,
    /// Jobs whose preparation found nobody to mail (an unknown address, say).
    pub discarded: u64,
    pub failed: u64,
    pub retries: u64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    delivered: AtomicU64,
    discarded: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    settled: Notify,
}

impl Counters {
    fn finish(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.settled.notify_waiters();
    }

    /// The finished counts are read before `enqueued`: every job finished was enqueued first, so
    /// a snapshot never shows more finished than enqueued, and shows nothing pending only when
    /// nothing was.
    fn snapshot(&self) -> MailStats {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        let (delivered, discarded, failed) = (
            get(&self.delivered),
            get(&self.discarded),
            get(&self.failed),
        );
        MailStats {
            enqueued: get(&self.enqueued),
            delivered,
            discarded,
            failed,
            retries: get(&self.retries),
        }
    }
}

impl MailStats {
    /// Jobs queued or being sent.
    pub fn pending(&self) -> u64 {
        self.enqueued - self.delivered - self.discarded - self.failed
    }
}

/// The mail queue. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Job>,
    counters: Arc<Counters>,
    stop: Arc<watch::Sender<bool>>,
    worker: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// A reserved place in the queue: sending through it cannot fail.
pub struct MailSlot {
    permit: mpsc::OwnedPermit<Job>,
    counters: Arc<Counters>,
}

impl MailSlot {
    pub fn deliver(self, mail: Mail) {
        self.send(Job::Ready(mail));
    }

    /// Queues the work that makes a mail; the sender runs it, then delivers what it gives.
    pub fn prepare(
        self,
        work: impl Future<Output = anyhow::Result<Option<Mail>>> + Send + 'static,
    ) {
        self.send(Job::Prepare(Box::pin(work)));
    }

    fn send(self, job: Job) {
        self.counters.enqueued.fetch_add(1, Ordering::SeqCst);
        self.permit.send(job);
    }
}

impl Mailer {
    /// Starts the background sender. Must run inside the tokio runtime.
    pub fn start(transport: Arc<dyn MailTransport>, settings: MailerSettings) -> Mailer {
        let (queue, jobs) = mpsc::channel(settings.capacity.max(1));
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(run(
            jobs,
            stopped,
            transport,
            settings,
            Arc::clone(&counters),
        ));
        Mailer {
            queue,
            counters,
            stop: Arc::new(stop),
            worker: Arc::new(Mutex::new(Some(worker))),
        }
    }

    /// Reserves a place for one mail, or answers 503 when the queue is full (or closed).
    pub fn reserve(&self) -> Result<MailSlot, ApiError> {
        match self.queue.clone().try_reserve_owned() {
            Ok(permit) => Ok(MailSlot {
                permit,
                counters: Arc::clone(&self.counters),
            }),
            Err(_) => {
                tracing::warn!("mail queue full or closed; refusing a request that mails");
                Err(ApiError::Unavailable(anyhow::anyhow!(
                    "the mail queue is full or closed"
                )))
            }
        }
    }

    pub fn stats(&self) -> MailStats {
        self.counters.snapshot()
    }

    /// Resolves once no job is queued or being sent.
    pub async fn idle(&self) {
        loop {
            let settled = self.counters.settled.notified();
            if self.stats().pending() == 0 {
                return;
            }
            settled.await;
        }
    }

    /// Stops taking mail and gives what is queued up to `grace` to go out.
    pub async fn shutdown(&self, grace: Duration) {
        self.stop.send_replace(true);
        let Some(mut worker) = self.worker.lock().await.take() else {
            return;
        };
        if tokio::time::timeout(grace, &mut worker).await.is_err() {
            worker.abort();
            tracing::error!(
                unsent = self.stats().pending(),
                "mail queue not drained before shutdown; these mails were not sent"
            );
        }
    }
}

async fn run(
    mut jobs: mpsc::Receiver<Job>,
    mut stopped: watch::Receiver<bool>,
    transport: Arc<dyn MailTransport>,
    settings: MailerSettings,
    counters: Arc<Counters>,
) {
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut in_flight = JoinSet::new();
    loop {
        // A permit first, so a job is only taken off the queue when it can start.
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let Ok(permit) = permit else { break };
        let job = tokio::select! {
            job = jobs.recv() => job,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        let Some(job) = job else { break };
        let (transport, counters) = (Arc::clone(&transport), Arc::clone(&counters));
        in_flight.spawn(deliver(job, transport, settings, counters, permit));
        while in_flight.try_join_next().is_some() {}
    }
    // Shutting down: no new mail, but what is queued still goes out.
    jobs.close();
    while let Some(job) = jobs.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let (transport, counters) = (Arc::clone(&transport), Arc::clone(&counters));
        in_flight.spawn(deliver(job, transport, settings, counters, permit));
    }
    while in_flight.join_next().await.is_some() {}
}

/// Sends one mail, retrying transient failures with exponential backoff.
async fn deliver(
    job: Job,
    transport: Arc<dyn MailTransport>,
    settings: MailerSettings,
    counters: Arc<Counters>,
    _permit: OwnedSemaphorePermit,
) {
    let mail = match job {
        Job::Ready(mail) => mail,
        Job::Prepare(work) => match work.await {
            Ok(Some(mail)) => mail,
            Ok(None) => return counters.finish(&counters.discarded),
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "cannot prepare a mail; not sent");
                return counters.finish(&counters.failed);
            }
        },
    };
    let kind = mail.kind().as_str();
    let attempts = settings.max_attempts.max(1);
    let mut delay = settings.retry_base;
    for attempt in 1..=attempts {
        let error = match transport.send(&mail).await {
            Ok(()) => {
                if transport.sends_mail() {
                    tracing::info!(to = mail.to(), kind, attempt, "mail sent");
                }
                return counters.finish(&counters.delivered);
            }
            Err(SendError::Permanent(e)) => e,
            Err(SendError::Transient(e)) if attempt < attempts => {
                tracing::warn!(
                    to = mail.to(),
                    kind,
                    attempt,
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "mail not sent; will retry"
                );
                counters.retries.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                continue;
            }
            Err(SendError::Transient(e)) => e,
        };
        tracing::error!(
            to = mail.to(),
            kind,
            attempt,
            error = format!("{error:#}"),
            "mail not sent; giving up"
        );
        return counters.finish(&counters.failed);
    }
}
