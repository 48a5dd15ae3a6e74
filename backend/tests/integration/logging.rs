//! The log as an operator reads it: the real binary, its stderr sent to a file as systemd,
//! Docker or a shell's `2>` would, at the default level.

use std::process::Stdio;

use crate::durability::{free_port, sign_in, start};
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
