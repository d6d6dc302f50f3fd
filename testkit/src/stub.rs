//! A stub upstream for tests: each path answers with a scripted [`Reply`] after a set latency,
//! hangs, or misbehaves at the byte level, and every request leaves [`Event`]s behind.
//!
//! It speaks HTTP/1.1 over raw TCP on purpose: a test can see the exact moment a request
//! arrives and the moment its client closed the connection, and can send bytes no well-behaved
//! server would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// What the stub does with a request for one path.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub latency: Duration,
    pub behaviour: Behaviour,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

/// How the reply is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// A well-formed response after the latency.
    Normal,
    /// Never answers; waits for the client to give up.
    Hang,
    /// Sends the head and half the body, then resets the connection.
    ResetMidBody,
}

impl Reply {
    /// `200` with `value` as a JSON body.
    pub fn json(value: serde_json::Value) -> Self {
        Self {
            status: 200,
            body: serde_json::to_vec(&value).expect("JSON values serialize"),
            latency: Duration::ZERO,
            behaviour: Behaviour::Normal,
            headers: Vec::new(),
        }
    }

    /// `status` with a small JSON error body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            ..Self::json(
                serde_json::json!({"error": {"code": "stub", "message": "scripted failure"}}),
            )
        }
    }

    /// A `200` whose body is `bytes`, whatever they are.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            body: bytes.into(),
            ..Self::json(serde_json::Value::Null)
        }
    }

    pub fn hang() -> Self {
        Self {
            behaviour: Behaviour::Hang,
            ..Self::json(serde_json::Value::Null)
        }
    }

    pub fn reset_mid_body(value: serde_json::Value) -> Self {
        Self {
            behaviour: Behaviour::ResetMidBody,
            ..Self::json(value)
        }
    }

    /// The same reply with one more response header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The same reply, answered only after `latency`.
    #[must_use]
    pub fn after(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
}

/// Something that happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The request head arrived.
    Started,
    /// The response was written.
    Answered,
    /// The client closed the connection before the response was written.
    ClientClosed,
}

#[derive(Debug, Clone)]
pub struct Event {
    /// The request target (path and query).
    pub target: String,
    pub kind: EventKind,
    pub at: Instant,
    /// The `x-request-id` header the request carried, if any.
    pub request_id: Option<String>,
    /// The `if-none-match` header the request carried, if any.
    pub if_none_match: Option<String>,
    /// Every header of the request, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
}

impl Event {
    /// The value of a request header (`name` in lowercase), if the request carried it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The request headers an [`Event`] keeps.
#[derive(Debug, Clone, Default)]
struct Seen {
    request_id: Option<String>,
    if_none_match: Option<String>,
    headers: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Per target, the replies still to give; the last one repeats.
    replies: Mutex<HashMap<String, Vec<Reply>>>,
    events: Mutex<Vec<Event>>,
    /// Set by [`Stub::quiet`]: no events are kept.
    quiet: AtomicBool,
}

/// A running stub upstream on a loopback port; it stops when the test's runtime does.
#[derive(Debug, Clone)]
pub struct Stub {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Stub {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let addr = listener.local_addr().expect("bound socket has an address");
        let shared = Arc::new(Shared::default());
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let _ = socket.set_nodelay(true);
                tokio::spawn(serve_connection(socket, accept_shared.clone()));
            }
        });
        Self { addr, shared }
    }

    /// Scripts the reply for a request target: an exact path-and-query match wins over a match
    /// of the path alone. Unscripted targets get a JSON 404.
    pub fn on(&self, target: &str, reply: Reply) -> &Self {
        self.script(target, vec![reply])
    }

    /// Scripts several replies for a target, given in order; the last one then repeats.
    pub fn script(&self, target: &str, replies: Vec<Reply>) -> &Self {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        self.shared
            .replies
            .lock()
            .expect("stub lock")
            .insert(target.to_owned(), replies);
        self
    }

    /// Keeps no events from now on, for benchmarks: recording copies every request's headers,
    /// so it would charge a client for each header it sends, and it grows without bound.
    pub fn quiet(&self) -> &Self {
        self.shared.quiet.store(true, Ordering::Relaxed);
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn events(&self) -> Vec<Event> {
        self.shared.events.lock().expect("stub lock").clone()
    }

    /// When the first request whose target starts with `prefix` had `kind`.
    pub fn first(&self, prefix: &str, kind: EventKind) -> Option<Instant> {
        self.events()
            .iter()
            .find(|e| e.kind == kind && e.target.starts_with(prefix))
            .map(|e| e.at)
    }

    /// How many requests whose target starts with `prefix` arrived.
    pub fn hits(&self, prefix: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.kind == EventKind::Started && e.target.starts_with(prefix))
            .count()
    }

    /// Waits up to `limit` for an event; `None` if it never came.
    pub async fn wait_for(
        &self,
        prefix: &str,
        kind: EventKind,
        limit: Duration,
    ) -> Option<Instant> {
        let until = Instant::now() + limit;
        loop {
            if let Some(at) = self.first(prefix, kind) {
                return Some(at);
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn record(&self, target: &str, kind: EventKind, seen: Seen) {
        record(&self.shared, target, kind, seen);
    }

    fn reply_for(&self, target: &str) -> Reply {
        let mut replies = self.shared.replies.lock().expect("stub lock");
        let path = target.split('?').next().unwrap_or(target);
        let key = if replies.contains_key(target) {
            target
        } else {
            path
        };
        match replies.get_mut(key) {
            Some(script) if script.len() > 1 => script.remove(0),
            Some(script) => script[0].clone(),
            None => Reply::status(404),
        }
    }
}

fn record(shared: &Shared, target: &str, kind: EventKind, seen: Seen) {
    if shared.quiet.load(Ordering::Relaxed) {
        return;
    }
    shared.events.lock().expect("stub lock").push(Event {
        target: target.to_owned(),
        kind,
        at: Instant::now(),
        request_id: seen.request_id,
        if_none_match: seen.if_none_match,
        headers: seen.headers,
    });
}

/// Answers requests on one keep-alive connection until the client closes it.
async fn serve_connection(mut socket: TcpStream, shared: Arc<Shared>) {
    let stub = Stub {
        addr: socket
            .local_addr()
            .expect("connected socket has an address"),
        shared,
    };
    let mut buffer = Vec::with_capacity(4096);
    loop {
        let Some(head) = read_head(&mut socket, &mut buffer).await else {
            return;
        };
        let target = head
            .lines()
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or("/")
            .to_owned();
        let header = |wanted: &str| {
            head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case(wanted)
                    .then(|| value.trim().to_owned())
            })
        };
        let seen = if stub.shared.quiet.load(Ordering::Relaxed) {
            Seen::default()
        } else {
            Seen {
                request_id: header("x-request-id"),
                if_none_match: header("if-none-match"),
                headers: head
                    .lines()
                    .skip(1)
                    .filter_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        Some((name.trim().to_lowercase(), value.trim().to_owned()))
                    })
                    .collect(),
            }
        };
        stub.record(&target, EventKind::Started, seen.clone());
        let reply = stub.reply_for(&target);

        let wait = async {
            match reply.behaviour {
                Behaviour::Hang => std::future::pending::<()>().await,
                _ if reply.latency.is_zero() => {}
                // A thread sleep, not Tokio's timer: the timer rounds every deadline up to its
                // next millisecond tick, which would blur latency benchmarks by up to 1 ms.
                _ => {
                    let latency = reply.latency;
                    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(latency)).await;
                }
            }
        };
        // While waiting, watch the socket: a read of 0 bytes is the client closing it.
        let mut probe = [0u8; 1024];
        tokio::select! {
            () = wait => {}
            read = socket.read(&mut probe) => {
                match read {
                    Ok(0) | Err(_) => {
                        stub.record(&target, EventKind::ClientClosed, seen);
                        return;
                    }
                    Ok(n) => buffer.extend_from_slice(&probe[..n]),
                }
            }
        }

        let extra: String = reply
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        // JSON unless the reply says otherwise.
        let content_type = if reply
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            ""
        } else {
            "content-type: application/json\r\n"
        };
        let head = format!(
            "HTTP/1.1 {} Stub\r\n{content_type}content-length: {}\r\n{extra}\r\n",
            reply.status,
            reply.body.len()
        );
        let mut response = head.into_bytes();
        if reply.behaviour == Behaviour::ResetMidBody {
            response.extend_from_slice(&reply.body[..reply.body.len() / 2]);
            let _ = socket.write_all(&response).await;
            let _ = socket.set_zero_linger();
            return;
        }
        response.extend_from_slice(&reply.body);
        if socket.write_all(&response).await.is_err() {
            stub.record(&target, EventKind::ClientClosed, seen);
            return;
        }
        stub.record(&target, EventKind::Answered, seen);
    }
}

/// Reads one request head (the stub only serves body-less GETs), leaving any bytes after it in
/// `buffer`. `None` when the connection ends first.
async fn read_head(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}
