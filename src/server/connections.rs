//! What a connection may cost the server before it has proven anything:
//! how many are open at once, how long one may sit idle, how long one
//! request may take to arrive and be answered, and how many bytes of
//! not-yet-verified webhook bodies are held at once. Slow or idle
//! connections and large unsigned bodies are the cheap way to stall a
//! webhook server; each is bounded here, below the operating system's own
//! limits, so `/healthz` keeps answering.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::HttpBody;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The bounds; `[http]` in the server's config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// From a request's first byte until its answer starts: headers and
    /// body must have arrived by then (a byte every few seconds does not
    /// keep a connection alive).
    pub request_timeout: Duration,
    /// Webhook bodies being read at once, in bytes, before their signature
    /// is checked; a delivery that would exceed it gets 503.
    pub max_unverified_body_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            idle_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            max_unverified_body_bytes: 64 * 1024 * 1024,
        }
    }
}

/// A TCP listener that hands out at most `max_connections` connections,
/// each bounded in time ([`GuardedStream`]).
pub struct GuardedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
    limits: HttpLimits,
}

impl GuardedListener {
    pub fn new(inner: TcpListener, limits: HttpLimits) -> Self {
        GuardedListener {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            limits,
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = GuardedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, address) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => return (GuardedStream::new(stream, slot, self.limits), address),
                Err(_) => {
                    tracing::warn!(
                        %address,
                        max = self.limits.max_connections,
                        "connection limit reached: closing a new connection"
                    );
                    drop(stream);
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection holding its slot, that fails its next read when it has
/// been idle too long or its current request is taking too long to arrive.
pub struct GuardedStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
    limits: HttpLimits,
    /// When the request being read began (its first byte after the last
    /// answer); `None` between requests.
    request_started: Option<Instant>,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl GuardedStream {
    fn new(inner: TcpStream, slot: OwnedSemaphorePermit, limits: HttpLimits) -> Self {
        let now = Instant::now();
        GuardedStream {
            inner,
            _slot: slot,
            limits,
            request_started: None,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
        }
    }

    fn deadline(&self) -> Instant {
        match self.request_started {
            Some(started) => (started + self.limits.request_timeout)
                .min(self.last_activity + self.limits.idle_timeout),
            None => self.last_activity + self.limits.idle_timeout,
        }
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let now = Instant::now();
                    self.last_activity = now;
                    self.request_started.get_or_insert(now);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let deadline = self.deadline();
                if self.timer.deadline() != deadline {
                    self.timer.as_mut().reset(deadline);
                }
                match self.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client was too slow",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = written
            && n > 0
        {
            // An answer: the request it answers is over.
            self.request_started = None;
            self.last_activity = Instant::now();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The bytes of unverified webhook bodies the server holds at once, in KiB.
#[derive(Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
    max_body: usize,
}

impl BodyBudget {
    pub fn new(total_bytes: usize, max_body: usize) -> Self {
        BodyBudget {
            kib: Arc::new(Semaphore::new((total_bytes / 1024).max(1))),
            max_body,
        }
    }
}

/// Middleware for the webhook route: a delivery reserves its declared
/// length (or the largest body allowed, when it declares none) from the
/// [`BodyBudget`] before its body is read, and frees it when answered.
pub async fn reserve_body(
    State(budget): State<BodyBudget>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(budget.max_body)
        .min(budget.max_body);
    let kib = u32::try_from(declared.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
    let Ok(_reserved) = budget.kib.clone().try_acquire_many_owned(kib) else {
        tracing::warn!(bytes = declared, "too many webhook bytes in flight: 503");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many deliveries in flight; retry shortly",
        )
            .into_response();
    };
    next.run(request).await
}

/// Middleware for every route: an answer given before the request's body
/// was read to its end says `Connection: close`. Otherwise the server
/// closes the connection after answering (it cannot tell where the unread
/// body ends) while the client, seeing a keep-alive answer, may send its
/// next request on it and get nothing back. The webhook's 413 and 503 and
/// a refused key's 401 are answered that way.
pub async fn close_unless_body_read(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let read_to_end = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        axum::body::Body::new(WatchedBody {
            body,
            read_to_end: read_to_end.clone(),
        })
    });
    let mut response = next.run(request).await;
    if !read_to_end.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that records whether it was read to its end.
struct WatchedBody {
    body: axum::body::Body,
    read_to_end: Arc<AtomicBool>,
}

impl HttpBody for WatchedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.body.is_end_stream() {
            self.read_to_end.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    /// The connection header of the answer to a POST of `body` to `path`.
    async fn connection_after(path: &str, body: Body) -> Option<HeaderValue> {
        let app = Router::new()
            .route(
                "/reads",
                post(|body: Bytes| async move { body.len().to_string() }),
            )
            .route("/refuses", post(|| async { StatusCode::UNAUTHORIZED }))
            .layer(axum::middleware::from_fn(close_unless_body_read));
        let request = axum::http::Request::post(path).body(body).unwrap();
        let response = app.oneshot(request).await.unwrap();
        response.headers().get(header::CONNECTION).cloned()
    }

    #[tokio::test]
    async fn only_an_answer_before_the_body_ends_closes_the_connection() {
        let close = Some(HeaderValue::from_static("close"));
        let streamed = || {
            let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("a"), Ok("b")];
            Body::from_stream(futures::stream::iter(chunks))
        };
        assert_eq!(
            connection_after("/refuses", Body::from("unread")).await,
            close
        );
        assert_eq!(connection_after("/refuses", streamed()).await, close);
        assert_eq!(connection_after("/reads", Body::from("read")).await, None);
        assert_eq!(connection_after("/reads", streamed()).await, None);
        // No body: nothing is left unread.
        assert_eq!(connection_after("/refuses", Body::empty()).await, None);
    }
}
