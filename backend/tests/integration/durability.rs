//! A kill -9 of the server at any moment loses no committed connection: the
//! real binary is started, signed into over and over, killed mid-stream, and
//! started again on the same database.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use tokenbridge_shared::ConnectionSummary;

use crate::connections::API_KEY;
use crate::helpers::*;

/// The real binary, killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the real binary on `port` with its data in `dir`, its log going to `stderr`.
pub(crate) async fn start(dir: &std::path::Path, port: u16, stderr: Stdio) -> Server {
    let mut command = command(dir, port);
    command.stderr(stderr);
    run(command, &format!("http://127.0.0.1:{port}")).await
}

/// The real binary, set to listen on `port` (its public URL that address) with its data in
/// `dir`, for a test to change before [`run`]ning it.
pub(crate) fn command(dir: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tokenbridge"));
    command
        .env_clear()
        .env("TOKENBRIDGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOKENBRIDGE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env(
            "TOKENBRIDGE_DATABASE_URL",
            format!("sqlite://{}", dir.join("tokenbridge.db").display()),
        )
        .env("TOKENBRIDGE_STORE_KEY", STANDARD.encode([3u8; 32]))
        .env("TOKENBRIDGE_COOKIE_KEY", STANDARD.encode([4u8; 64]))
        .env("TOKENBRIDGE_CLIENT_SECRET", CLIENT_SECRET)
        .env("TOKENBRIDGE_API_KEY", API_KEY)
        // Hundreds of sign-ins from one address: the flood limit is not what is tested here.
        .env("TOKENBRIDGE_SIGNIN_RATE", "0")
        .env("TOKENBRIDGE_DIST", dir.join("no-dist"))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Runs `command` and waits until it answers at `base`.
pub(crate) async fn run(mut command: Command, base: &str) -> Server {
    let child = command.spawn().unwrap();
    let server = Server {
        child,
        base: base.to_owned(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(format!("{}/healthz", server.base))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "tokenbridge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server
}

/// One sign-in as `login`; `Ok` once the callback has answered (the connection is committed by then).
pub(crate) async fn sign_in(base: &str, login: &str) -> Result<(), reqwest::Error> {
    sign_in_with(&browser(), base, login).await.map(|_| ())
}

/// Where one sandbox sign-in took the browser.
pub(crate) struct SandboxSignIn {
    /// The provider's consent page the login sent the browser to.
    pub(crate) authorize: reqwest::Url,
    /// The callback the consent page sent the browser back to.
    pub(crate) callback: String,
    /// Where the callback sent the browser.
    pub(crate) home: String,
}

/// One sign-in as `login` in `browser` (which keeps its cookies), allowed on the sandbox's
/// consent page at `base`.
pub(crate) async fn sign_in_with(
    browser: &reqwest::Client,
    base: &str,
    login: &str,
) -> Result<SandboxSignIn, reqwest::Error> {
    let login_response = browser
        .get(format!("{base}/auth/login?login_hint={login}"))
        .send()
        .await?;
    let authorize = reqwest::Url::parse(&location(&login_response)).unwrap();
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.push(("decision".into(), "allow".into()));
    let decided = browser
        .post(format!("{base}/sandbox/authorize"))
        .form(&form)
        .send()
        .await?;
    let callback = location(&decided);
    let finished = browser.get(&callback).send().await?;
    assert_eq!(finished.status(), 303);
    Ok(SandboxSignIn {
        authorize,
        callback,
        home: location(&finished),
    })
}

async fn listed(base: &str) -> Vec<ConnectionSummary> {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/connections"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_at_any_moment_loses_no_committed_connection() {
    let dir = scratch_dir();
    let port = free_port();
    let mut committed = Vec::new();

    for (round, kill_after_ms) in [(0, 150u64), (1, 40), (2, 300)].into_iter() {
        let mut server = start(&dir, port, Stdio::null()).await;
        let base = server.base.clone();
        let signing_in = tokio::spawn(async move {
            let mut done = Vec::new();
            for n in 0.. {
                let login = format!("round{round}-person{n}");
                match sign_in(&base, &login).await {
                    Ok(()) => done.push(login),
                    Err(_) => break,
                }
            }
            done
        });
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        committed.extend(signing_in.await.unwrap());
    }

    let server = start(&dir, port, Stdio::null()).await;
    let saved: Vec<String> = listed(&server.base)
        .await
        .into_iter()
        .map(|c| c.login)
        .collect();
    assert!(
        committed.len() >= 3,
        "some sign-ins completed before the kills: {}",
        committed.len()
    );
    let lost: Vec<_> = committed
        .iter()
        .filter(|login| !saved.contains(login))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} committed connections lost: {lost:?}",
        lost.len(),
        committed.len()
    );
    eprintln!(
        "{} sign-ins committed across three kill -9s; all {} are back after a restart",
        committed.len(),
        saved.len()
    );
}
