//! Serving connections: hyper's HTTP/1 under the limits a server open to
//! the public needs, so that idle, slow or abandoned connections cannot
//! starve it — a deadline for a request's headers, one for its whole body,
//! an idle timeout (no byte moving either way: an idle keep-alive, a client
//! that never reads its answer), a cap on open connections, and a pause
//! instead of a spin when accepting fails (out of file descriptors).
//!
//! The router is axum's; each request carries the peer address as
//! [`ConnectInfo`], as `into_make_service_with_connect_info` would give it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Connection limits (`[connections]` in `horde.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Seconds a client has to send a request's headers, from the moment
    /// the connection opens or the previous answer was sent.
    pub header_read_timeout_secs: f64,
    /// Seconds a client has to send a request's whole body.
    pub body_timeout_secs: f64,
    /// Seconds a connection may move no byte either way, with no handler
    /// at work on it, before it is closed (an idle keep-alive; a client not
    /// reading its answer).
    pub idle_timeout_secs: f64,
    /// Connections open at once; more are closed as soon as they are
    /// accepted. Keep it below the process's open-files limit (`ulimit -n`).
    pub max_connections: usize,
    /// Seconds open connections get to finish when the server stops.
    pub shutdown_grace_secs: f64,
    /// `r2: false` image statuses (images inline as base64, up to tens of
    /// megabytes each) held in memory at once; more wait, then answer 503.
    pub max_inline_answers: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10.0,
            body_timeout_secs: 30.0,
            idle_timeout_secs: 30.0,
            max_connections: 1024,
            shutdown_grace_secs: 10.0,
            max_inline_answers: 16,
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.001)).unwrap_or(Duration::from_secs(3600))
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves,
/// then lets open connections finish (up to the grace period).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, addr)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::warn!(%addr, max, "connection limit reached; closing a new connection");
                        drop(stream);
                        continue;
                    };
                    let (router, limits, stop) = (router.clone(), limits.clone(), stop_rx.clone());
                    tokio::spawn(async move {
                        serve_connection(stream, addr, router, &limits, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a transient
                    // failure: pause rather than spin on the listener.
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(secs(limits.shutdown_grace_secs), permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the shutdown grace period; closing them");
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    addr: SocketAddr,
    router: Router,
    limits: &ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let watch = Arc::new(Watch {
        clock: Instant::now(),
        activity: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        reading_since: AtomicU64::new(NOT_READING),
    });
    let io = Watched {
        inner: stream,
        watch: watch.clone(),
    };
    let body_timeout = secs(limits.body_timeout_secs);
    let handling = watch.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(|body| {
            Body::new(Deadline {
                inner: body,
                deadline: Instant::now() + body_timeout,
                sleep: None,
            })
        });
        req.extensions_mut().insert(ConnectInfo(addr));
        let guard = Handling::new(handling.clone());
        let router = router.clone();
        async move {
            let _guard = guard;
            router.oneshot(req).await
        }
    });
    // No hyper timer: a timer armed per request costs a fifth of a cheap
    // request's time. The header deadline is kept below, by the watch.
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service);
    let mut conn = pin!(conn);
    let idle = secs(limits.idle_timeout_secs);
    let header = secs(limits.header_read_timeout_secs);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let last = watch.activity.load(Ordering::Relaxed);
        let reading = watch.reading_since.load(Ordering::Relaxed);
        let mut deadline = watch.at(last) + idle;
        if reading != NOT_READING {
            deadline = deadline.min(watch.at(reading) + header);
        } else {
            // A request may start arriving while this sleeps: look again
            // within one header deadline.
            deadline = deadline.min(Instant::now() + header);
        }
        if watch.in_flight.load(Ordering::Relaxed) > 0 {
            // A handler is at work: look again in a while, not in a spin.
            deadline = deadline.max(Instant::now() + idle.min(Duration::from_secs(1)));
        }
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%addr, error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                if changed.is_err() || *stop.borrow() {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                if watch.in_flight.load(Ordering::Relaxed) > 0 {
                    continue; // a handler is at work: not idle, headers read
                }
                let now = Instant::now();
                let still = watch.activity.load(Ordering::Relaxed) == last;
                let reading = watch.reading_since.load(Ordering::Relaxed);
                if still && now >= watch.at(last) + idle {
                    tracing::debug!(%addr, "connection idle; closing it");
                    return;
                }
                if reading != NOT_READING && now >= watch.at(reading) + header {
                    tracing::debug!(%addr, "request headers too slow; closing the connection");
                    return;
                }
            }
        }
    }
}

/// `reading_since` when no request is being read.
const NOT_READING: u64 = u64::MAX;

/// What a connection's watchdog looks at, in milliseconds since it opened.
struct Watch {
    clock: Instant,
    /// When a byte last moved either way.
    activity: AtomicU64,
    /// Requests whose handler is running.
    in_flight: AtomicUsize,
    /// When the first byte of a request not yet handed to a handler
    /// arrived ([`NOT_READING`]: none is).
    reading_since: AtomicU64,
}

impl Watch {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.clock + Duration::from_millis(ms)
    }
}

/// Counts a request whose handler is running (its answer not yet made):
/// a connection waiting on its handler is not idle, and its headers are in.
struct Handling(Arc<Watch>);

impl Handling {
    fn new(watch: Arc<Watch>) -> Self {
        watch.in_flight.fetch_add(1, Ordering::Relaxed);
        watch.reading_since.store(NOT_READING, Ordering::Relaxed);
        Self(watch)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that tells its [`Watch`] when bytes move.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl Watched {
    fn touch(&self) {
        self.watch
            .activity
            .store(self.watch.now_ms(), Ordering::Relaxed);
    }

    fn touch_read(&self) {
        let now = self.watch.now_ms();
        self.watch.activity.store(now, Ordering::Relaxed);
        if self.watch.in_flight.load(Ordering::Relaxed) == 0
            && self.watch.reading_since.load(Ordering::Relaxed) == NOT_READING
        {
            self.watch.reading_since.store(now, Ordering::Relaxed);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that must arrive whole before its deadline. The timer
/// is armed only when the body is not already there (most bodies are, and
/// a GET has none), so a fast request pays for no timer.
struct Deadline {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

/// The error a body past its deadline ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

impl hyper::body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
