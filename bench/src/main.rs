//! tokenbridge's own benchmark (run it with `scripts/bench.sh`): complete flows
//! through the release binary against a local stub provider at concurrency 1, 8
//! and 64, and scripts' token reads at the same levels, each with the server's own
//! CPU time per operation (from /proc, stable on a shared machine; for flows also how much
//! of it was system time, the kernel's) beside rates and percentiles; the same flows and
//! reads against the floor (`tokenbridge-floor`, a bare server of the same crates that
//! makes the same exchanges and nothing else), so that
//! tokenbridge's own work shows apart from what the exchanges cost on this machine;
//! the store alone (`store`: a sign-in's two commits through this checkout's store code, in a
//! process of its own, no HTTP), the least a sign-in's writes cost here;
//! the BFF's own cost next to direct calls to the stub (a process of its own); connection reuse;
//! binary size, start-up time and memory; and the page's size (against a bare
//! Leptos page built the same way) and time to the token card in headless
//! Chromium. Prints a table and writes a JSON file. Nothing here asserts a time.

mod page;
mod ranges;
mod store;
mod stub;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, ExitCode, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// Settings from the environment, with the defaults `scripts/bench.sh` relies on.
struct Options {
    /// The server measured (`TOKENBRIDGE_BIN`): by default the build `scripts/run.sh` runs,
    /// with profile-guided optimisation (`scripts/pgo.sh`).
    binary: PathBuf,
    floor_binary: PathBuf,
    dist: PathBuf,
    reference_dist: PathBuf,
    flows: usize,
    reads: usize,
    /// Refresh clicks at concurrency 1 (`BENCH_REFRESHES`).
    refreshes: usize,
    rss_flows: usize,
    loads: usize,
    /// Sign-ins the store makes alone (`store`), and as many spent states after them.
    store_sign_ins: usize,
    out: PathBuf,
    /// The servers' log filter (`RUST_LOG`): the server's own default, `info`, unless set.
    log_filter: String,
    /// Where the servers' log goes (beside `out`, `server.log`): a file, as a deployment's
    /// goes to a file or the journal, not the terminal the benchmark prints to.
    log: PathBuf,
    /// A pause after each warm-up (tokenbridge's, the floor's, the token and session reads',
    /// the Refresh clicks'), for a tool
    /// to attach to the idle server before the flows or reads it counts begin
    /// (`scripts/syscalls.sh`, `scripts/instructions.sh`).
    pause: Duration,
}

impl Options {
    fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        let number =
            |name: &str, default: usize| var(name, &default.to_string()).parse().unwrap_or(default);
        // The servers run in folders of their own (see `start_server`): paths they are given
        // are made whole here, from the folder the benchmark runs in.
        let path = |name: &str, default: &str| {
            let given = PathBuf::from(var(name, default));
            std::path::absolute(&given).unwrap_or(given)
        };
        let out = PathBuf::from(var("BENCH_OUT", "bench/results.json"));
        Self {
            binary: path("TOKENBRIDGE_BIN", "target/pgo/tokenbridge"),
            floor_binary: path("BENCH_FLOOR_BIN", "target/release/tokenbridge-floor"),
            dist: path("BENCH_DIST", "dist"),
            reference_dist: var("BENCH_REFERENCE_DIST", "bench/reference/dist").into(),
            flows: number("BENCH_FLOWS", 1000),
            reads: number("BENCH_READS", 5000),
            refreshes: number("BENCH_REFRESHES", 1000),
            rss_flows: number("BENCH_RSS_FLOWS", 10_000),
            loads: number("BENCH_LOADS", 20),
            store_sign_ins: number("BENCH_STORE_SIGNINS", 5000),
            log_filter: var("BENCH_RUST_LOG", "info"),
            log: out.with_file_name("server.log"),
            out,
            pause: Duration::from_millis(number("BENCH_PAUSE_MS", 0) as u64),
        }
    }
}

/// The release binary, running against the stub, on a database of its own.
struct Server {
    child: Child,
    base: String,
    _dir: TempDir,
}

impl Drop for Server {
    /// Asks the server to stop, as a service manager does (SIGTERM, through `kill`), and kills
    /// it if it has not stopped within a few seconds. A server that stops by itself finishes
    /// what an exiting process does: a build instrumented for profile-guided optimisation
    /// (`scripts/pgo.sh`) writes its profile then.
    fn drop(&mut self) {
        // Reaped already (it stopped by itself): its pid may be another process's by now.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let asked = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if asked {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tokenbridge-bench-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts the server and returns it with the time until it accepted its first connection.
fn start_server(
    options: &Options,
    stub: std::net::SocketAddr,
    label: &str,
) -> Result<(Server, Duration), String> {
    let dir = TempDir::new(label);
    let port = free_port().map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&options.log)
        .map_err(|e| format!("{}: {e}", options.log.display()))?;
    let started = Instant::now();
    let child = Command::new(&options.binary)
        // In its own folder, with nothing of the environment but what is set here: a server
        // started in the checkout would read the `.env` and `tokenbridge.toml` a person keeps
        // there (its real providers and their secrets) and send the benchmark's codes to them.
        .current_dir(&dir.0)
        .env_clear()
        .env("TOKENBRIDGE_PROVIDER", "custom")
        .env("TOKENBRIDGE_CLIENT_ID", "bench-client")
        .env("TOKENBRIDGE_CLIENT_SECRET", "bench-secret-not-a-real-one")
        .env("TOKENBRIDGE_AUTHORIZE_URL", format!("http://{stub}/authorize"))
        .env("TOKENBRIDGE_TOKEN_URL", format!("http://{stub}/token"))
        .env("TOKENBRIDGE_USERINFO_URL", format!("http://{stub}/info"))
        .env("TOKENBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOKENBRIDGE_PUBLIC_URL", &base)
        .env("TOKENBRIDGE_DATABASE_URL", format!("sqlite://{}", dir.0.join("tokenbridge.db").display()))
        .env("TOKENBRIDGE_STORE_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        .env("TOKENBRIDGE_COOKIE_KEY", "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==")
        .env("TOKENBRIDGE_DIST", &options.dist)
        .env("TOKENBRIDGE_API_KEY", API_KEY)
        // The benchmark is one address doing thousands of sign-ins: no flood limits.
        .env("TOKENBRIDGE_SIGNIN_RATE", "0")
        .env("TOKENBRIDGE_API_RATE", "0")
        .env("RUST_LOG", &options.log_filter)
        // Passed on when set, to compare runtime sizes.
        .envs(std::env::var("TOKIO_WORKER_THREADS").map(|n| ("TOKIO_WORKER_THREADS", n)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {} (run scripts/bench.sh, which builds it): {e}", options.binary.display()))?;
    let mut server = Server {
        child,
        base,
        _dir: dir,
    };
    wait_until_accepting(&mut server, port, started, "tokenbridge")?;
    let took = started.elapsed();
    Ok((server, took))
}

/// Waits (30 s at most) until `server` accepts connections on `port`.
fn wait_until_accepting(
    server: &mut Server,
    port: u16,
    started: Instant,
    what: &str,
) -> Result<(), String> {
    let deadline = started + Duration::from_secs(30);
    loop {
        // Another process that took the port would answer in its place.
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "{what} stopped before it accepted a connection ({status})"
            ));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{what} did not start within 30 s"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Starts the floor (`bench/src/bin/tokenbridge-floor.rs`): the same exchanges as a
/// sign-in and a token read, served by the same crates, with none of tokenbridge's work.
fn start_floor(options: &Options, stub: std::net::SocketAddr) -> Result<Server, String> {
    let dir = TempDir::new("floor");
    let port = free_port().map_err(|e| e.to_string())?;
    let child = Command::new(&options.floor_binary)
        .current_dir(&dir.0)
        .env_clear()
        .envs(std::env::var("TOKIO_WORKER_THREADS").map(|n| ("TOKIO_WORKER_THREADS", n)))
        .arg(format!("127.0.0.1:{port}"))
        .arg(stub.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} (run scripts/bench.sh, which builds it): {e}",
                options.floor_binary.display()
            )
        })?;
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    wait_until_accepting(&mut server, port, Instant::now(), "the floor server")?;
    Ok(server)
}

/// The floor's CPU per operation, measured as tokenbridge's is.
#[derive(Default)]
struct Floor {
    /// Per complete flow at concurrency 1, 8 and 64, µs.
    flow_cpu_us: Vec<Option<f64>>,
    /// Of which system time, µs.
    flow_system_us: Vec<Option<f64>>,
    /// Its callbacks' times at concurrency 1, 8 and 64: what a bare server of the same
    /// crates adds to the two provider calls, against which tokenbridge's is set.
    callback_times: Vec<Vec<Duration>>,
    /// Per session read at concurrency 8, µs.
    session_cpu_us: Option<f64>,
    /// Per token read at concurrency 1, 8 and 64, µs.
    read_cpu_us: Vec<Option<f64>>,
    /// Its token reads' times at concurrency 1, 8 and 64: the latency any server of these
    /// crates answering the same reads gets on this machine.
    read_times: Vec<Vec<Duration>>,
}

/// The floor server, warmed up; each measurement runs right after tokenbridge's of the
/// same kind and level, so that both meet the machine in the same mood.
struct FloorServer {
    server: Server,
    /// /proc counts CPU in clock ticks (10 ms): the floor's flows are cheap, so three times
    /// as many keep its per-flow figure as fine as tokenbridge's.
    flows: usize,
    reads: usize,
}

impl FloorServer {
    /// Starts the floor and warms it up, then pauses as long as the options say (for a tool
    /// to attach to it, idle).
    async fn start(
        client: &reqwest::Client,
        options: &Options,
        stub: std::net::SocketAddr,
    ) -> Result<Self, String> {
        let server = start_floor(options, stub)?;
        let _ = run_flows(client, &server.base, 500, 64).await;
        eprintln!("==> the floor warmed up (server pid {})", server.child.id());
        tokio::time::sleep(options.pause).await;
        Ok(Self {
            server,
            flows: options.flows * 3,
            reads: options.reads,
        })
    }

    fn pid(&self) -> u32 {
        self.server.child.id()
    }

    /// CPU per flow and the system time of it, µs, and the callbacks' times.
    async fn flows(
        &self,
        client: &reqwest::Client,
        concurrency: usize,
    ) -> Result<(Option<f64>, Option<f64>, Vec<Duration>), String> {
        let pid = self.pid();
        eprintln!(
            "==> the floor: flows at concurrency {concurrency} ({} flows, server pid {pid})",
            self.flows
        );
        let before = cpu_times(pid);
        let level = run_flows(client, &self.server.base, self.flows, concurrency).await;
        if level.errors > 0 {
            return Err(format!("{} of the floor's flows failed", level.errors));
        }
        let (cpu, system) = cpu_and_system_per_op_us(before, cpu_times(pid), self.flows);
        let [_, callbacks, _] = level.steps;
        Ok((cpu, system, callbacks))
    }

    async fn token_reads(
        &self,
        client: &reqwest::Client,
        concurrency: usize,
    ) -> Result<Reads, String> {
        eprintln!(
            "==> the floor: token reads at concurrency {concurrency} (server pid {})",
            self.pid()
        );
        let url = format!("{}/api/v1/connections/floor/token", self.server.base);
        let bearer = (reqwest::header::AUTHORIZATION, format!("Bearer {API_KEY}"));
        self.reads(client, &url, bearer, concurrency, "token reads")
            .await
    }

    async fn session_reads(&self, client: &reqwest::Client) -> Result<Option<f64>, String> {
        let (_, cookies, _) = flow(client, &self.server.base).await?;
        let url = format!("{}/api/session", self.server.base);
        let cookie = (reqwest::header::COOKIE, cookies);
        Ok(self
            .reads(client, &url, cookie, 8, "session reads")
            .await?
            .cpu_us)
    }

    /// GETs of `url` with `header`, timed and with the server's CPU; an error if any failed.
    async fn reads(
        &self,
        client: &reqwest::Client,
        url: &str,
        header: (reqwest::header::HeaderName, String),
        concurrency: usize,
        what: &str,
    ) -> Result<Reads, String> {
        let reads = run_reads(client, url, header, self.reads, concurrency, self.pid()).await;
        if reads.errors > 0 {
            return Err(format!("{} of the floor's {what} failed", reads.errors));
        }
        Ok(reads)
    }
}

/// The scripts API key the benchmark's server is given.
const API_KEY: &str = "bench-api-key-0123456789abcdef";

/// The server's CPU time so far (user and system, all threads), in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_times(pid).map(|(user, system)| user + system)
}

/// The server's user and system (kernel: SQLite's writes and locks, the loopback's TCP)
/// CPU time so far, all threads, in seconds, from `/proc/<pid>/stat`.
fn cpu_times(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime / clock_ticks(), stime / clock_ticks()))
}

/// The thread tokenbridge's store copies SQLite's write-ahead log on (`store/checkpoint.rs`);
/// Linux keeps the first 15 bytes of a thread's name.
const CHECKPOINT_THREAD: &str = "sqlite-checkpoint";

/// The time on a CPU so far (user and system) of the process's threads named `name`, in
/// seconds: `None` where /proc cannot be read, 0 where no thread has the name. Read from each
/// thread's `schedstat`, in nanoseconds: a thread that runs a few milliseconds in a level
/// would read as whole clock ticks (10 ms) or none in `stat`.
fn thread_cpu_seconds(pid: u32, name: &str) -> Option<f64> {
    let mut seconds = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread ended since the listing
        };
        let comm = comm.trim_end();
        if comm.is_empty() || !name.starts_with(comm) {
            continue;
        }
        let Ok(schedstat) = std::fs::read_to_string(path.join("schedstat")) else {
            continue;
        };
        let nanos: f64 = schedstat.split_whitespace().next()?.parse().ok()?;
        seconds += nanos / 1e9;
    }
    Some(seconds)
}

/// Clock ticks a second (`getconf CLK_TCK`), 100 where it cannot be asked.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Microseconds as the tables print them: whole, or "n/a" where /proc could not be read.
fn us(micros: Option<f64>) -> String {
    micros.map_or("n/a".to_owned(), |c| format!("{c:.0}"))
}

/// Microseconds of server CPU per operation between two readings.
fn cpu_per_op_us(before: Option<f64>, after: Option<f64>, ops: usize) -> Option<f64> {
    Some((after? - before?) * 1e6 / ops.max(1) as f64)
}

/// Microseconds of server CPU per operation, and of system time, between two [`cpu_times`].
fn cpu_and_system_per_op_us(
    before: Option<(f64, f64)>,
    after: Option<(f64, f64)>,
    ops: usize,
) -> (Option<f64>, Option<f64>) {
    let total = |t: Option<(f64, f64)>| t.map(|(user, system)| user + system);
    let system = |t: Option<(f64, f64)>| t.map(|(_, system)| system);
    (
        cpu_per_op_us(total(before), total(after), ops),
        cpu_per_op_us(system(before), system(after), ops),
    )
}

/// A script's token reads at one concurrency: latencies, errors and wall time.
struct Reads {
    concurrency: usize,
    reads: usize,
    seconds: f64,
    times: Vec<Duration>,
    errors: usize,
    cpu_us: Option<f64>,
}

impl Reads {
    /// "N at concurrency C: CPU each, rate, p50/p99, errors", after what they were.
    fn summary(&self) -> String {
        format!(
            "{} at concurrency {}: {} µs CPU each, {:.0}/s, p50/p99 {:.2}/{:.2} ms, {} errors",
            self.reads,
            self.concurrency,
            us(self.cpu_us),
            self.reads as f64 / self.seconds,
            percentile(&self.times, 50.0),
            percentile(&self.times, 99.0),
            self.errors
        )
    }

    /// Their entry in `results.json`, an operation being `one` and several `many` ("read",
    /// "reads").
    fn json(&self, one: &str, many: &str) -> Value {
        let mut entry = json!({
            "concurrency": self.concurrency,
            "errors": self.errors,
            "latency": stats(&self.times),
        });
        entry[many] = json!(self.reads);
        entry[format!("{many}_per_second")] = json!(self.reads as f64 / self.seconds);
        entry[format!("server_cpu_us_per_{one}")] = json!(self.cpu_us);
        entry
    }
}

async fn run_reads(
    client: &reqwest::Client,
    url: &str,
    header: (reqwest::header::HeaderName, String),
    reads: usize,
    concurrency: usize,
    pid: u32,
) -> Reads {
    let (client, url) = (client.clone(), url.to_owned());
    let ask = move || client.get(&url).header(header.0.clone(), &header.1);
    run_requests(ask, reads, concurrency, pid).await
}

/// `requests` made by `ask` and sent over `concurrency` workers, timed, with the server's CPU.
async fn run_requests(
    ask: impl Fn() -> reqwest::RequestBuilder + Clone + Send + 'static,
    requests: usize,
    concurrency: usize,
    pid: u32,
) -> Reads {
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let ask = ask.clone();
        let count = requests / concurrency + usize::from(worker < requests % concurrency);
        workers.spawn(async move {
            let mut times = Vec::with_capacity(count);
            let mut errors = 0;
            for _ in 0..count {
                let sent = Instant::now();
                match ask().send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        times.push(sent.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (times, errors)
        });
    }
    let mut result = Reads {
        concurrency,
        reads: requests,
        seconds: 0.0,
        times: Vec::with_capacity(requests),
        errors: 0,
        cpu_us: None,
    };
    while let Some(Ok((times, errors))) = workers.join_next().await {
        result.times.extend(times);
        result.errors += errors;
    }
    result.seconds = started.elapsed().as_secs_f64();
    result.cpu_us = cpu_per_op_us(cpu_before, cpu_seconds(pid), requests);
    result
}

/// A process's resident memory and, of it, its anonymous memory (heap and stacks), KiB. The
/// rest is file pages, mostly the binary's, and how many of those are mapped depends on what
/// the page cache holds (a fault maps the cached pages around the one asked for): the same
/// binary reads a megabyte or two more from a fresh copy than from a file long in the cache.
fn rss(pid: u32) -> Option<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Rss {
        total: field("VmRSS:")?,
        anonymous: field("RssAnon:"),
    })
}

#[derive(Clone, Copy)]
struct Rss {
    total: u64,
    anonymous: Option<u64>,
}

/// One browser's cookies.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let removed = value.is_empty();
            if removed {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One complete sign-in and the page's read after it, with a cookie jar of its own: the three
/// steps' times, the browser's cookies at the end, and the page's session as it read it.
async fn flow(
    client: &reqwest::Client,
    base: &str,
) -> Result<([Duration; 3], String, Value), String> {
    let mut jar = Jar::default();
    let started = Instant::now();
    let login = client
        .get(format!("{base}/auth/login"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let login_time = started.elapsed();
    jar.take(&login);
    let location = login
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("login gave no redirect")?;
    let state = reqwest::Url::parse(location)
        .map_err(|e| e.to_string())?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .ok_or("no state")?;

    let started = Instant::now();
    let callback = client
        .get(format!("{base}/auth/callback?code=1234567&state={state}"))
        .header(reqwest::header::COOKIE, jar.header())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback_time = started.elapsed();
    jar.take(&callback);

    let started = Instant::now();
    let session: Value = client
        .get(format!("{base}/api/session"))
        .header(reqwest::header::COOKIE, jar.header())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let session_time = started.elapsed();
    if session["token"]["access_token"].as_str().is_none() {
        return Err(format!(
            "the flow ended without a token: {}",
            session["outcome"]
        ));
    }
    Ok((
        [login_time, callback_time, session_time],
        jar.header(),
        session,
    ))
}

/// After a sign-in of its own, what makes a click on the page's Refresh for its connection.
async fn refresh_click(
    client: &reqwest::Client,
    base: &str,
) -> Result<impl Fn() -> reqwest::RequestBuilder + Clone + Send + 'static, String> {
    let (_, cookies, session) = flow(client, base).await?;
    let id = session["connections"][0]["id"]
        .as_str()
        .ok_or("the sign-in's connection is not on the page")?;
    let url = format!("{base}/api/connections/{id}/refresh");
    let client = client.clone();
    Ok(move || {
        client
            .post(&url)
            .header(reqwest::header::COOKIE, &cookies)
            // What the page sends with every request that changes something.
            .header("x-tokenbridge", "1")
    })
}

struct Level {
    concurrency: usize,
    flows: usize,
    /// Server CPU per complete flow (login, callback with exchange and save, session read), µs.
    cpu_us: Option<f64>,
    /// Of which system time, µs.
    system_us: Option<f64>,
    /// Of which the SQLite checkpoint thread's (user and system), µs.
    checkpoint_us: Option<f64>,
    seconds: f64,
    steps: [Vec<Duration>; 3],
    errors: usize,
}

async fn run_flows(
    client: &reqwest::Client,
    base: &str,
    flows: usize,
    concurrency: usize,
) -> Level {
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (client, base) = (client.clone(), base.to_owned());
        let count = flows / concurrency + usize::from(worker < flows % concurrency);
        workers.spawn(async move {
            let mut times = Vec::with_capacity(count);
            let mut errors = 0;
            for _ in 0..count {
                match flow(&client, &base).await {
                    Ok((steps, _, _)) => times.push(steps),
                    Err(error) => {
                        if errors == 0 {
                            eprintln!("a flow failed: {error}");
                        }
                        errors += 1;
                    }
                }
            }
            (times, errors)
        });
    }
    let mut level = Level {
        concurrency,
        flows,
        cpu_us: None,
        system_us: None,
        checkpoint_us: None,
        seconds: 0.0,
        steps: Default::default(),
        errors: 0,
    };
    while let Some(Ok((times, errors))) = workers.join_next().await {
        level.errors += errors;
        for steps in times {
            for (i, step) in steps.into_iter().enumerate() {
                level.steps[i].push(step);
            }
        }
    }
    level.seconds = started.elapsed().as_secs_f64();
    level
}

/// The provider calls the callback makes, straight to the stub: the token POST, and the user info GET.
async fn run_direct(
    client: &reqwest::Client,
    stub: std::net::SocketAddr,
    calls: usize,
    concurrency: usize,
) -> [Vec<Duration>; 2] {
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let client = client.clone();
        workers.spawn(async move {
            let mut times = Vec::new();
            for _ in 0..calls / concurrency {
                let started = Instant::now();
                let token: Value = match client
                    .post(format!("http://{stub}/token"))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("code", "1234567"),
                        ("client_id", "bench-client"),
                    ])
                    .send()
                    .await
                {
                    Ok(response) => response.json().await.unwrap_or_default(),
                    Err(_) => continue,
                };
                let token_time = started.elapsed();
                let access = token["access_token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                let _ = client
                    .get(format!("http://{stub}/info"))
                    .header("authorization", format!("OAuth {access}"))
                    .send()
                    .await;
                times.push([token_time, started.elapsed()]);
            }
            times
        });
    }
    let mut out: [Vec<Duration>; 2] = Default::default();
    while let Some(Ok(times)) = workers.join_next().await {
        for [token, both] in times {
            out[0].push(token);
            out[1].push(both);
        }
    }
    out
}

/// How much longer `times` took than `direct` at the 50th and the 99th percentile, ms.
fn beyond(times: &[Duration], direct: &[Duration]) -> [f64; 2] {
    [50.0, 99.0].map(|p| percentile(times, p) - percentile(direct, p))
}

fn percentile(times: &[Duration], p: f64) -> f64 {
    if times.is_empty() {
        return f64::NAN;
    }
    let mut sorted = times.to_vec();
    sorted.sort();
    let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn stats(times: &[Duration]) -> Value {
    json!({ "p50_ms": percentile(times, 50.0), "p95_ms": percentile(times, 95.0), "p99_ms": percentile(times, 99.0), "n": times.len() })
}

/// A run's exit code: its error, if any, printed after `what` failed.
fn exit_code(what: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {what}{error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some(ranges::ARG) => exit_code("", ranges::print(&args.collect::<Vec<_>>())),
        Some(store::ARG) => exit_code("the store alone: ", store::serve(args.next())),
        Some(stub::ARG) => exit_code(
            "the stub provider: ",
            stub::serve().map_err(|e| e.to_string()),
        ),
        _ => exit_code(
            "",
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|runtime| runtime.block_on(run(Options::from_env()))),
        ),
    }
}

async fn run(options: Options) -> Result<(), String> {
    // Each run's servers log afresh.
    std::fs::write(&options.log, "").map_err(|e| format!("{}: {e}", options.log.display()))?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut provider = stub::Stub::start()?;
    let stub = provider.addr;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;

    // Start-up: the median of five fresh starts.
    let mut startups = Vec::new();
    for n in 0..5 {
        let (_server, took) = start_server(&options, stub, &format!("start{n}"))?;
        startups.push(took);
    }
    startups.sort();
    let startup_ms = startups[2].as_secs_f64() * 1000.0;

    let (server, _) = start_server(&options, stub, "main")?;
    let pid = server.child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rss(pid);

    // Warm up: connections at the highest concurrency, caches, the database file.
    let _ = run_flows(&client, &server.base, 500, 64).await;
    eprintln!("==> warmed up (server pid {pid})");
    tokio::time::sleep(options.pause).await;
    let floor_server = FloorServer::start(&client, &options, stub).await?;
    let mut floor = Floor::default();

    let mut levels = Vec::new();
    let mut direct = Vec::new();
    let mut reuse = Vec::new();
    for concurrency in [1, 8, 64] {
        eprintln!("==> flows at concurrency {concurrency} (server pid {pid})");
        let before = provider.connections()?;
        let cpu_before = cpu_times(pid);
        let checkpoint_before = thread_cpu_seconds(pid, CHECKPOINT_THREAD);
        let mut level = run_flows(&client, &server.base, options.flows, concurrency).await;
        (level.cpu_us, level.system_us) =
            cpu_and_system_per_op_us(cpu_before, cpu_times(pid), options.flows);
        level.checkpoint_us = cpu_per_op_us(
            checkpoint_before,
            thread_cpu_seconds(pid, CHECKPOINT_THREAD),
            options.flows,
        );
        let accepted = provider.connections()? - before;
        reuse.push((concurrency, accepted as f64 * 1000.0 / options.flows as f64));
        let (floor_cpu, floor_system, floor_callbacks) =
            floor_server.flows(&client, concurrency).await?;
        floor.flow_cpu_us.push(floor_cpu);
        floor.flow_system_us.push(floor_system);
        floor.callback_times.push(floor_callbacks);
        direct.push(run_direct(&client, stub, options.flows, concurrency).await);
        levels.push(level);
    }

    // A script's token reads: one saved connection, fresh (the stub's tokens live a year).
    let listed: Value = client
        .get(format!("{}/api/v1/connections", server.base))
        .bearer_auth(API_KEY)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let login = listed[0]["login"]
        .as_str()
        .ok_or("the flows saved no connection")?
        .to_owned();
    let token_url = format!("{}/api/v1/connections/{login}/token", server.base);
    let bearer = (reqwest::header::AUTHORIZATION, format!("Bearer {API_KEY}"));
    let _ = run_reads(&client, &token_url, bearer.clone(), 500, 64, pid).await;
    eprintln!("==> token reads warmed up (server pid {pid})");
    tokio::time::sleep(options.pause).await;
    let mut reads = Vec::new();
    for concurrency in [1, 8, 64] {
        eprintln!("==> token reads at concurrency {concurrency} (server pid {pid})");
        reads.push(
            run_reads(
                &client,
                &token_url,
                bearer.clone(),
                options.reads,
                concurrency,
                pid,
            )
            .await,
        );
        let floor_reads = floor_server.token_reads(&client, concurrency).await?;
        floor.read_cpu_us.push(floor_reads.cpu_us);
        floor.read_times.push(floor_reads.times);
    }

    // Reads that miss the cache: each the first read of a login other than the one read
    // above, with nothing written since the flows. In a deployment every write (a sign-in, a
    // refresh) sends each login's next read here. At concurrency 1; not in a budget.
    eprintln!("==> token reads missing the cache, at concurrency 1 (server pid {pid})");
    let others: Arc<Vec<String>> = Arc::new(
        listed
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|connection| connection["login"].as_str())
                    .filter(|other| *other != login)
                    .take(options.reads)
                    .map(|other| format!("{}/api/v1/connections/{other}/token", server.base))
                    .collect()
            })
            .unwrap_or_default(),
    );
    let misses = {
        let (client, next) = (client.clone(), Arc::new(AtomicUsize::new(0)));
        let count = others.len();
        let ask = move || {
            let url = &others[next.fetch_add(1, Ordering::Relaxed) % others.len().max(1)];
            client.get(url).bearer_auth(API_KEY)
        };
        run_requests(ask, count, 1, pid).await
    };

    // The page's read of its session after a sign-in, alone: what a flow spends beyond
    // the sign-in itself (login + callback).
    eprintln!("==> session reads at concurrency 8 (server pid {pid})");
    let (_, cookies, _) = flow(&client, &server.base).await?;
    let session_url = format!("{}/api/session", server.base);
    let cookie = (reqwest::header::COOKIE, cookies);
    let _ = run_reads(&client, &session_url, cookie.clone(), 200, 8, pid).await;
    eprintln!("==> session reads warmed up (server pid {pid})");
    tokio::time::sleep(options.pause).await;
    eprintln!("==> session reads counted (server pid {pid})");
    let sessions = run_reads(&client, &session_url, cookie, options.reads, 8, pid).await;

    // A person's Refresh click on the page: the refresh-token grant to the provider, the new
    // token sealed and saved. At concurrency 1: clicks on one connection at once share one
    // refresh. Not in a budget, but a path the flows and reads above never take.
    eprintln!("==> refreshes at concurrency 1 (server pid {pid})");
    let refresh = refresh_click(&client, &server.base).await?;
    let _ = run_requests(refresh.clone(), 100, 1, pid).await;
    eprintln!("==> refreshes warmed up (server pid {pid})");
    tokio::time::sleep(options.pause).await;
    eprintln!("==> refreshes counted (server pid {pid})");
    let refreshes = run_requests(refresh, options.refreshes, 1, pid).await;

    floor.session_cpu_us = floor_server.session_reads(&client).await?;
    drop(floor_server);

    // The store alone, in a process of its own, while nothing else runs.
    eprintln!(
        "==> the store alone: {} sign-ins' writes",
        options.store_sign_ins
    );
    let store_alone = store::run(options.store_sign_ins)?;

    let done: usize = 500 + levels.iter().map(|l| l.flows).sum::<usize>();
    if options.rss_flows > done {
        let _ = run_flows(&client, &server.base, options.rss_flows - done, 8).await;
    }
    let rss_after = rss(pid);
    let binary_bytes = std::fs::metadata(&options.binary)
        .map(|m| m.len())
        .unwrap_or(0);

    let page = page::sizes(&options.dist, &options.reference_dist);
    let loads = page::time_to_token_card(&server.base, options.loads).await;
    drop(server);

    // The table.
    println!(
        "tokenbridge benchmark — {cores} cores, {} flows per level, {}, RUST_LOG={} (its log in {})",
        options.flows,
        options.binary.display(),
        options.log_filter,
        options.log.display()
    );
    println!();
    println!(
        "{:<12} {:>9} {:>9} {:>7} | {:>23} | {:>23} | {:>23}",
        "concurrency",
        "flows/s",
        "CPU µs",
        "errors",
        "login p50/p95/p99 ms",
        "callback p50/p95/p99",
        "session p50/p95/p99"
    );
    let mut json_levels = Vec::new();
    for level in &levels {
        let fmt = |t: &[Duration]| {
            format!(
                "{:.2}/{:.2}/{:.2}",
                percentile(t, 50.0),
                percentile(t, 95.0),
                percentile(t, 99.0)
            )
        };
        println!(
            "{:<12} {:>9.0} {:>9} {:>7} | {:>23} | {:>23} | {:>23}",
            level.concurrency,
            level.flows as f64 / level.seconds,
            us(level.cpu_us),
            level.errors,
            fmt(&level.steps[0]),
            fmt(&level.steps[1]),
            fmt(&level.steps[2])
        );
        json_levels.push(json!({
            "concurrency": level.concurrency,
            "flows": level.flows,
            "flows_per_second": level.flows as f64 / level.seconds,
            "server_cpu_us_per_flow": level.cpu_us,
            "server_system_us_per_flow": level.system_us,
            "server_checkpoint_thread_us_per_flow": level.checkpoint_us,
            "errors": level.errors,
            "login": stats(&level.steps[0]),
            "callback": stats(&level.steps[1]),
            "session": stats(&level.steps[2]),
        }));
    }
    println!(
        "(CPU µs: the server's CPU time per complete flow — login, callback with exchange and save, session read)"
    );
    let session_cpu = sessions.cpu_us;
    println!("the page's session read alone, {}", sessions.summary());
    let sign_in_cpu: Vec<Option<f64>> = levels
        .iter()
        .map(|l| l.cpu_us.zip(session_cpu).map(|(flow, read)| flow - read))
        .collect();
    println!(
        "server CPU per sign-in (login + callback = flow − session read) at 1/8/64: {} µs",
        sign_in_cpu
            .iter()
            .map(|c| us(*c))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    println!();
    println!(
        "A script's token reads (GET /api/v1/connections/{{login}}/token, token fresh), {} per level",
        options.reads
    );
    println!(
        "{:<12} {:>9} {:>9} {:>7} | {:>18}",
        "concurrency", "reads/s", "CPU µs", "errors", "p50/p99 ms"
    );
    let mut json_reads = Vec::new();
    for read in &reads {
        println!(
            "{:<12} {:>9.0} {:>9} {:>7} | {:>18}",
            read.concurrency,
            read.reads as f64 / read.seconds,
            us(read.cpu_us),
            read.errors,
            format!(
                "{:.2}/{:.2}",
                percentile(&read.times, 50.0),
                percentile(&read.times, 99.0)
            ),
        );
        json_reads.push(read.json("read", "reads"));
    }
    println!(
        "token reads missing the cache (each login's first read, nothing written since), {}",
        misses.summary()
    );
    println!(
        "a Refresh click (POST /api/connections/{{id}}/refresh: the refresh-token grant, the new token sealed and saved), {}",
        refreshes.summary()
    );
    println!();
    println!(
        "The floor: the same exchanges served by a bare server of the same crates (tokenbridge-floor: no state, PKCE, cookies sealed, store or log)"
    );
    println!(
        "{:<12} {:>26} {:>30} {:>26}",
        "concurrency",
        "CPU µs per flow: floor / tb",
        "CPU µs per sign-in: floor / tb",
        "CPU µs per read: floor / tb"
    );
    let floor_sign_in: Vec<Option<f64>> = floor
        .flow_cpu_us
        .iter()
        .map(|flow| {
            flow.zip(floor.session_cpu_us)
                .map(|(flow, read)| flow - read)
        })
        .collect();
    for (i, level) in levels.iter().enumerate() {
        println!(
            "{:<12} {:>26} {:>30} {:>26}",
            level.concurrency,
            format!("{} / {}", us(floor.flow_cpu_us[i]), us(level.cpu_us)),
            format!("{} / {}", us(floor_sign_in[i]), us(sign_in_cpu[i])),
            format!("{} / {}", us(floor.read_cpu_us[i]), us(reads[i].cpu_us)),
        );
    }
    println!(
        "token read p50/p99 ms at 1/8/64: floor {}, tokenbridge {}",
        floor
            .read_times
            .iter()
            .map(|times| format!(
                "{:.2}/{:.2}",
                percentile(times, 50.0),
                percentile(times, 99.0)
            ))
            .collect::<Vec<_>>()
            .join(" · "),
        reads
            .iter()
            .map(|r| format!(
                "{:.2}/{:.2}",
                percentile(&r.times, 50.0),
                percentile(&r.times, 99.0)
            ))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    println!(
        "(the floor's session read at concurrency 8: {} µs, tokenbridge's {} µs)",
        us(floor.session_cpu_us),
        us(session_cpu)
    );
    let store_cpu = store_alone["cpu_us_per_sign_in"].as_f64();
    println!(
        "the store alone (this checkout's store code, one sign-in after another, no HTTP): {} µs CPU per sign-in's two commits ({} of it system, {} its checkpoint thread's), spending the state {} µs, the save {} µs",
        us(store_cpu),
        us(store_alone["system_us_per_sign_in"].as_f64()),
        us(store_alone["checkpoint_thread_us_per_sign_in"].as_f64()),
        us(store_alone["cpu_us_per_spent_state"].as_f64()),
        us(store_alone["cpu_us_per_save"].as_f64()),
    );
    println!(
        "the floor's sign-in and the store's together at 1/8/64: {} µs; tokenbridge's sign-in above both: {} µs",
        floor_sign_in
            .iter()
            .map(|f| us(f.zip(store_cpu).map(|(f, s)| f + s)))
            .collect::<Vec<_>>()
            .join(" / "),
        floor_sign_in
            .iter()
            .zip(&sign_in_cpu)
            .map(|(f, t)| us(f.zip(store_cpu).zip(*t).map(|((f, s), t)| t - f - s)))
            .collect::<Vec<_>>()
            .join(" / "),
    );
    println!(
        "of the CPU per flow, system (kernel) time at 1/8/64: floor {}, tokenbridge {} µs",
        floor
            .flow_system_us
            .iter()
            .map(|c| us(*c))
            .collect::<Vec<_>>()
            .join(" / "),
        levels
            .iter()
            .map(|l| us(l.system_us))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    println!(
        "of tokenbridge's CPU per flow, its SQLite checkpoint thread's (the log's pages copied into the database file, both synced) at 1/8/64: {} µs",
        levels
            .iter()
            .map(|l| us(l.checkpoint_us))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    println!();
    println!(
        "BFF overhead: the callback step against the same provider calls made directly (from this process to the stub's own)"
    );
    println!(
        "(the floor's: its callback, which makes the same two calls and serves the same request, against them;"
    );
    println!(
        " beyond the floor: tokenbridge's callback against the floor's, which does not move with where the direct calls ran)"
    );
    println!(
        "{:<12} {:>16} {:>20} {:>16} {:>22} {:>22} {:>18}",
        "concurrency",
        "token POST p50/p99",
        "token+userinfo p50/p99",
        "callback p50/p99",
        "overhead p50 / p99 ms",
        "the floor's p50 / p99",
        "beyond the floor"
    );
    let mut json_overhead = Vec::new();
    let mut below_zero = false;
    for ((level, [token, both]), floor_callbacks) in
        levels.iter().zip(&direct).zip(&floor.callback_times)
    {
        let [over50, over99] = beyond(&level.steps[1], both);
        let [floor50, floor99] = beyond(floor_callbacks, both);
        let [own50, own99] = beyond(&level.steps[1], floor_callbacks);
        println!(
            "{:<12} {:>16} {:>22} {:>16} {:>22} {:>22} {:>18}",
            level.concurrency,
            format!(
                "{:.2}/{:.2}",
                percentile(token, 50.0),
                percentile(token, 99.0)
            ),
            format!(
                "{:.2}/{:.2}",
                percentile(both, 50.0),
                percentile(both, 99.0)
            ),
            format!(
                "{:.2}/{:.2}",
                percentile(&level.steps[1], 50.0),
                percentile(&level.steps[1], 99.0)
            ),
            format!("{over50:.2} / {over99:.2}"),
            format!("{floor50:.2} / {floor99:.2}"),
            format!("{own50:.2} / {own99:.2}")
        );
        below_zero |= [over50, over99, floor50, floor99, own50, own99]
            .iter()
            .any(|d| *d < 0.0);
        json_overhead.push(json!({
            "concurrency": level.concurrency,
            "direct_token_post": stats(token),
            "direct_token_post_and_userinfo": stats(both),
            "callback": stats(&level.steps[1]),
            "overhead_p50_ms": over50,
            "overhead_p99_ms": over99,
            "floor_callback": stats(floor_callbacks),
            "floor_overhead_p50_ms": floor50,
            "floor_overhead_p99_ms": floor99,
            "beyond_floor_callback_p50_ms": own50,
            "beyond_floor_callback_p99_ms": own99,
            "direct_calls": "from the benchmark's process to the stub provider's own process",
        }));
    }
    if below_zero {
        println!(
            "(a difference below zero: the percentile it is set against (the direct calls' or the floor's) was the longer one at that concurrency, where both queue for the same 2 cores, so it says nothing of the overhead)"
        );
    }
    println!();
    for (concurrency, per_thousand) in &reuse {
        println!(
            "connections the stub accepted per 1,000 flows at concurrency {concurrency}: {per_thousand:.1}"
        );
    }
    println!();
    println!("release binary: {:.1} MB", binary_bytes as f64 / 1e6);
    println!("start-up to first accepted connection: {startup_ms:.1} ms (median of 5)");
    let mb = |kib: u64| format!("{:.1} MB", kib as f64 / 1024.0);
    let rss_text = |rss: Option<Rss>| match rss {
        None => "n/a".to_owned(),
        Some(Rss { total, anonymous }) => match anonymous {
            Some(anonymous) => format!("{} ({} of it anonymous)", mb(total), mb(anonymous)),
            None => mb(total),
        },
    };
    println!(
        "RSS idle: {}; after {} flows: {}",
        rss_text(rss_idle),
        options.rss_flows.max(done),
        rss_text(rss_after)
    );
    println!();
    page::print(&page, &loads);

    let results = json!({
        "machine": { "cores": cores, "os": std::env::consts::OS, "arch": std::env::consts::ARCH },
        "binary": options.binary.display().to_string(),
        "server_log_filter": options.log_filter,
        "flows_per_level": options.flows,
        "levels": json_levels,
        "token_reads": json_reads,
        "session_reads": sessions.json("read", "reads"),
        "token_reads_missing_the_cache": misses.json("read", "reads"),
        "refreshes": refreshes.json("refresh", "refreshes"),
        "server_cpu_us_per_sign_in": levels.iter().zip(&sign_in_cpu).map(|(l, c)| json!({"concurrency": l.concurrency, "login_and_callback": c})).collect::<Vec<_>>(),
        "floor": {
            "what": "the same exchanges served by a bare server of the same crates (bench/src/bin/tokenbridge-floor.rs)",
            "server_cpu_us_per_flow": levels.iter().zip(floor.flow_cpu_us.iter().zip(&floor.flow_system_us)).map(|(l, (c, s))| json!({"concurrency": l.concurrency, "cpu_us": c, "system_us": s})).collect::<Vec<_>>(),
            "server_cpu_us_per_sign_in": levels.iter().zip(&floor_sign_in).map(|(l, c)| json!({"concurrency": l.concurrency, "cpu_us": c})).collect::<Vec<_>>(),
            "server_cpu_us_per_token_read": reads.iter().zip(&floor.read_cpu_us).map(|(r, c)| json!({"concurrency": r.concurrency, "cpu_us": c})).collect::<Vec<_>>(),
            "token_read_latency": reads.iter().zip(&floor.read_times).map(|(r, times)| json!({"concurrency": r.concurrency, "latency": stats(times)})).collect::<Vec<_>>(),
            "server_cpu_us_per_session_read": floor.session_cpu_us,
        },
        "store_alone": store_alone,
        "overhead": json_overhead,
        "connections_per_1000_flows": reuse.iter().map(|(c, n)| json!({"concurrency": c, "accepted": n})).collect::<Vec<_>>(),
        "binary_bytes": binary_bytes,
        "startup_ms": startup_ms,
        "rss_idle_kib": rss_idle.map(|r| r.total),
        "rss_idle_anonymous_kib": rss_idle.and_then(|r| r.anonymous),
        "rss_after_kib": rss_after.map(|r| r.total),
        "rss_after_anonymous_kib": rss_after.and_then(|r| r.anonymous),
        "rss_after_flows": options.rss_flows.max(done),
        "page": page::to_json(&page, &loads),
    });
    std::fs::write(
        &options.out,
        serde_json::to_string_pretty(&results).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", options.out.display()))?;
    println!("\nwrote {}", options.out.display());
    let logged = std::fs::read_to_string(&options.log).unwrap_or_default();
    println!(
        "the servers' log (RUST_LOG={}): {}, {} lines, {} warnings or errors",
        options.log_filter,
        options.log.display(),
        logged.lines().count(),
        logged
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .count()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread's CPU is read by its name, as Linux cuts it to 15 bytes: one named like the
    /// checkpoint thread that spins 200 ms is found with at least most of that, and a name no
    /// thread has reads as none.
    #[test]
    fn a_threads_cpu_is_read_by_its_full_name() {
        let pid = std::process::id();
        let spinner = std::thread::Builder::new()
            .name(CHECKPOINT_THREAD.to_owned())
            .spawn(|| {
                let started = Instant::now();
                let mut spins = 0_u64;
                while started.elapsed() < Duration::from_millis(200) {
                    spins = std::hint::black_box(spins + 1);
                }
                // Still alive when read: the caller reads before it lets this thread end.
                std::thread::park();
                spins
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let spun = thread_cpu_seconds(pid, CHECKPOINT_THREAD).unwrap();
        let nobody = thread_cpu_seconds(pid, "no-thread-has-this-name").unwrap();
        spinner.thread().unpark();
        spinner.join().unwrap();
        assert!(spun >= 0.1, "{spun} s read for a thread that spun 0.2 s");
        assert!(spun < 1.0, "{spun} s read for a thread that spun 0.2 s");
        assert_eq!(nobody, 0.0);
    }
}
