//! A stand-in provider that answers at once over HTTP/1.1 keep-alive: an
//! authorize endpoint that sends the browser straight back, a token endpoint
//! with Yandex-shaped JSON, and user info. It counts the TCP connections it accepts.
//!
//! It runs in a process of its own (the benchmark started again with `--stub`), as a
//! provider does: the server's calls to it and the benchmark's direct calls both cross
//! from one process to another, so that the difference between them (the BFF overhead)
//! is the server's, not the price of a wake-up that only one side paid. In the
//! benchmark's own process, the direct calls were answered by the runtime that made
//! them, with no process to wake: the two took 0.04 ms at the median where a bare
//! server's callback making the same two calls took 0.31 ms (a run at concurrency 1).

use std::{
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{IntoResponse, Redirect},
    routing::{get, post},
};
use serde_json::json;

#[derive(Clone, Default)]
pub struct Counters {
    pub connections: Arc<AtomicU64>,
    tokens: Arc<AtomicU64>,
}

impl Counters {
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A listener that counts the connections it accepts.
struct Counting {
    listener: tokio::net::TcpListener,
    accepted: Arc<AtomicU64>,
}

impl axum::serve::Listener for Counting {
    type Io = tokio::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, addr)) = self.listener.accept().await {
                self.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// The argument that makes the benchmark's binary the stub.
pub const ARG: &str = "--stub";

/// The stub's side, run by `tokenbridge-bench --stub`: prints the address it listens on,
/// then answers each line on stdin with the number of connections accepted so far, and
/// stops when stdin closes (the benchmark ended, however it ended).
pub fn serve() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (addr, counters) = runtime.block_on(listen())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{addr}")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        line?;
        writeln!(out, "{}", counters.connections())?;
        out.flush()?;
    }
    Ok(())
}

async fn listen() -> std::io::Result<(SocketAddr, Counters)> {
    let counters = Counters::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/info", get(info))
        .with_state(counters.clone());
    let counting = Counting {
        listener,
        accepted: counters.connections.clone(),
    };
    tokio::spawn(async move {
        let _ = axum::serve(counting, app).await;
    });
    Ok((addr, counters))
}

/// The stub's process, seen from the benchmark.
pub struct Stub {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
}

impl Stub {
    /// Starts this binary again as the stub and reads the address it listens on.
    pub fn start() -> Result<Self, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the benchmark's own binary: {e}"))?;
        let mut child = Command::new(exe)
            .arg(ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the stub provider: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("the stub provider has no pipes".into());
        };
        let mut stub = Self {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        stub.addr = stub
            .line()?
            .parse()
            .map_err(|e| format!("the stub provider gave no address: {e}"))?;
        Ok(stub)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err("the stub provider stopped".into()),
            Ok(_) => Ok(line.trim().to_owned()),
            Err(e) => Err(format!("cannot read from the stub provider: {e}")),
        }
    }

    /// The TCP connections it has accepted so far.
    pub fn connections(&mut self) -> Result<u64, String> {
        writeln!(self.stdin, "connections")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("cannot ask the stub provider: {e}"))?;
        self.line()?
            .parse()
            .map_err(|e| format!("the stub provider's count does not read: {e}"))
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Allows at once: back to the callback with a code and the state.
async fn authorize(Query(params): Query<Vec<(String, String)>>) -> Redirect {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut back = reqwest::Url::parse(&get("redirect_uri"))
        .unwrap_or_else(|_| reqwest::Url::parse("http://127.0.0.1/").expect("a valid URL"));
    back.query_pairs_mut()
        .append_pair("code", "1234567")
        .append_pair("state", &get("state"));
    Redirect::to(back.as_str())
}

async fn token(State(counters): State<Counters>) -> impl IntoResponse {
    let n = counters.tokens.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "token_type": "bearer",
        "access_token": format!("bench-token-{n}"),
        "expires_in": 31_536_000,
        "refresh_token": format!("bench-refresh-{n}"),
    }))
}

/// Each token is its own account, so each flow makes its own connection.
async fn info(headers: HeaderMap) -> impl IntoResponse {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // Yandex's scheme, or the standard one a plain OAuth 2.0 provider is asked with.
        .and_then(|v| {
            v.strip_prefix("OAuth ")
                .or_else(|| v.strip_prefix("Bearer "))
        })
        .unwrap_or("unknown");
    let id = token.rsplit('-').next().unwrap_or("0").to_owned();
    Json(json!({ "id": id, "login": format!("user-{id}"), "client_id": "bench-client" }))
}
