//! The store alone: a sign-in's two SQLite commits made by tokenbridge's own store code
//! (this checkout's `tokenbridge` library), with no HTTP, no provider and no cookie, one
//! sign-in at a time. It runs in a process of its own (the benchmark started again with
//! `--store`), so that the CPU it reads from /proc is the store's alone: the statements,
//! SQLite's system calls and its checkpoint thread.
//!
//! Each sign-in spends a fresh state (the callback's first commit), then saves a
//! connection of its own account with a new session that sees it (the second), as each of
//! the benchmark's flows does through the server. This is the least any sign-in through
//! tokenbridge costs on the machine, with the floor's exchanges (`tokenbridge-floor`)
//! beside it: what is left of a sign-in's CPU above the two is cookies, the exchange log,
//! the provider's client, logging and layers.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use oauth2::{AccessToken, RefreshToken};
use serde_json::{Value, json};
use tokenbridge::{
    sessions::{Lifetimes, SessionId, Sessions},
    store::{NewConnection, Store, StoreKey, random_hex},
};

use crate::{
    CHECKPOINT_THREAD, TempDir, cpu_and_system_per_op_us, cpu_per_op_us, cpu_times,
    thread_cpu_seconds,
};

/// The argument that makes the benchmark's binary the store's process.
pub const ARG: &str = "--store";

/// Sign-ins made before counting: the file, its pages and SQLite's caches warm, as the
/// server's are after the benchmark's warm-up.
const WARM_UP: usize = 500;

/// The store's side, run by `tokenbridge-bench --store N`: makes N sign-ins' writes, then N
/// spent states alone, and prints one line of JSON with the CPU time per operation.
pub fn serve(sign_ins: Option<String>) -> Result<(), String> {
    let sign_ins: usize = sign_ins
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .ok_or("--store takes the number of sign-ins to make (more than 0)")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let measured = runtime.block_on(measure(sign_ins))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{measured}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

async fn measure(sign_ins: usize) -> Result<Value, String> {
    let dir = TempDir::new("store");
    let url = format!("sqlite://{}", dir.0.join("tokenbridge.db").display());
    let store = Store::open(&url, &StoreKey::random())
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    let sessions = Sessions::new(
        store.clone(),
        Lifetimes {
            idle_secs: 86_400,
            absolute_secs: 86_400,
        },
        Default::default(),
        true,
    );
    let mut n = 0;
    for _ in 0..WARM_UP {
        n += 1;
        sign_in(&store, &sessions, n, Writes::Both).await?;
    }
    let pid = std::process::id();
    let before = cpu_times(pid);
    let checkpoint_before = thread_cpu_seconds(pid, CHECKPOINT_THREAD);
    for _ in 0..sign_ins {
        n += 1;
        sign_in(&store, &sessions, n, Writes::Both).await?;
    }
    let between = cpu_times(pid);
    let checkpoint = cpu_per_op_us(
        checkpoint_before,
        thread_cpu_seconds(pid, CHECKPOINT_THREAD),
        sign_ins,
    );
    for _ in 0..sign_ins {
        n += 1;
        sign_in(&store, &sessions, n, Writes::SpentStateOnly).await?;
    }
    let after = cpu_times(pid);
    let (cpu, system) = cpu_and_system_per_op_us(before, between, sign_ins);
    let (spend, _) = cpu_and_system_per_op_us(between, after, sign_ins);
    Ok(json!({
        "what": "a sign-in's two commits (the spent state; the connection, the session and its sight) made by this checkout's store code, one after another, in a process of its own (bench/src/store.rs)",
        "sign_ins": sign_ins,
        "cpu_us_per_sign_in": cpu,
        "system_us_per_sign_in": system,
        "checkpoint_thread_us_per_sign_in": checkpoint,
        "cpu_us_per_spent_state": spend,
        "cpu_us_per_save": cpu.zip(spend).map(|(whole, spend)| whole - spend),
    }))
}

enum Writes {
    Both,
    SpentStateOnly,
}

/// Sign-in `n`'s writes: its state spent, then (unless only that) its connection and
/// session saved.
async fn sign_in(
    store: &Store,
    sessions: &Sessions,
    n: usize,
    writes: Writes,
) -> Result<(), String> {
    // Made as the server makes a sign-in's state: beginning with the time.
    let state = tokenbridge::clock::stamped(&format!("bench-state-{n}-{}", random_hex::<16>()));
    let expires_at = 4_000_000_000;
    if !sessions
        .spend_state(&state, expires_at)
        .await
        .map_err(|e| format!("cannot spend a state: {e}"))?
    {
        return Err("a fresh state read as spent".to_owned());
    }
    if let Writes::SpentStateOnly = writes {
        return Ok(());
    }
    let session = sessions.successor(&SessionId::random(), None);
    store
        .save_sign_in(
            NewConnection {
                provider: "custom".into(),
                account_id: n.to_string(),
                login: format!("user-{n}"),
                access_token: AccessToken::new(format!("bench-token-{n}")),
                refresh_token: Some(RefreshToken::new(format!("bench-refresh-{n}"))),
                token_type: "bearer".into(),
                expires_at: Some(4_000_000_000),
                scope: None,
                device_id: None,
                device_name: None,
            },
            &session,
        )
        .await
        .map_err(|e| format!("cannot save a sign-in: {e}"))?;
    Ok(())
}

/// Runs the store's process and reads what it measured.
pub fn run(sign_ins: usize) -> Result<Value, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the benchmark's own binary: {e}"))?;
    let output = Command::new(exe)
        .args([ARG, &sign_ins.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the store's process: {e}"))?;
    if !output.status.success() {
        return Err(format!("the store's process failed ({})", output.status));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the store's process wrote no result: {e}"))
}
