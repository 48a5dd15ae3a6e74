//! The real binary as its operator starts it: its log, sent to a file as systemd, Docker or
//! a shell's `2>` would, at the default level; and its port, moved with one variable.

use std::process::Stdio;

use crate::durability::{command, free_port, run, sign_in, sign_in_with, start};
use crate::helpers::*;

#[tokio::test]
async fn a_log_written_to_a_file_is_plain_text_naming_each_request() {
    let dir = scratch_dir();
    let log_path = dir.join("tokenbridge.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = start(&dir, free_port(), Stdio::from(log)).await;
    sign_in(&server.base, "ada").await.unwrap();
    drop(server);

    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("sign-in completed"),
        "the sign-in was logged at the default level: {logged}"
    );
    assert!(
        logged.contains("request{method=GET path=/auth/callback}"),
        "a line says which request it came from: {logged}"
    );
    assert!(
        !logged.contains('\u{1b}'),
        "no terminal colour codes in a file: {logged:?}"
    );
}

/// Only `TOKENBRIDGE_LISTEN` moved: the Callback URI moves with the port, so a sign-in in the
/// sandbox goes through at the address the start-up line says to open.
#[tokio::test]
async fn moving_the_port_alone_keeps_the_sign_in_working() {
    let dir = scratch_dir();
    let port = free_port();
    let log_path = dir.join("tokenbridge.log");
    let mut binary = command(&dir, port);
    binary
        .env_remove("TOKENBRIDGE_PUBLIC_URL")
        .env_remove("TOKENBRIDGE_CLIENT_SECRET")
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
    let base = format!("http://localhost:{port}");
    let server = run(binary, &base).await;

    let browser = browser();
    let signed_in = sign_in_with(&browser, &base, "ada").await.unwrap();
    assert_eq!(
        signed_in.authorize.origin().ascii_serialization(),
        base,
        "the sandbox's consent page is on this server"
    );
    assert!(
        signed_in
            .callback
            .starts_with(&format!("{base}/auth/callback?")),
        "{}",
        signed_in.callback
    );
    assert_eq!(signed_in.home, "/");
    let session: tokenbridge_shared::SessionView = browser
        .get(format!("{base}/api/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session.connections.len(), 1, "the sign-in was saved");
    drop(server);

    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains(&format!("open {base}/")),
        "the start-up line names the address that works: {logged}"
    );
}

/// A `.env` the server cannot read stops the start with a message that says which line, and
/// never the line itself: it may hold a secret (dotenvy's own message quotes it whole).
#[tokio::test]
async fn a_broken_env_file_names_its_line_and_not_its_secret() {
    let dir = scratch_dir();
    std::fs::write(
        dir.join(".env"),
        "# the app\nTOKENBRIDGE_CLIENT_ID=app\nTOKENBRIDGE_CLIENT_SECRET=\"unterminated-s3cr3t\n",
    )
    .unwrap();
    let output = command(&dir, free_port())
        .env_remove("TOKENBRIDGE_CLIENT_SECRET")
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let logged = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a configuration error: {logged}"
    );
    assert!(
        logged.contains("cannot read .env: line 3 cannot be read"),
        "{logged}"
    );
    assert!(!logged.contains("s3cr3t"), "the secret is logged: {logged}");
}
