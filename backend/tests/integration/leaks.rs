//! No secret in any log line: the full flow at trace level, then a search of
//! everything logged for the client secret, the code, the verifier and both tokens.

use tokenbridge::config::{ClientAuth, Settings};

use crate::helpers::*;

#[tokio::test]
async fn no_log_line_at_trace_level_carries_a_secret() {
    for auth in [ClientAuth::Post, ClientAuth::Basic] {
        let app = spawn_app(
            Settings {
                client_auth: Some(auth),
                ..Settings::default()
            },
            |_| {},
        )
        .await;

        let SignInSecrets { code, verifier, .. } = app.sign_in_keeping_secrets("").await;
        let first = app.session().await.connections.remove(0);
        // A refresh and a disconnect run too, so their paths are searched as well.
        let refreshed: tokenbridge_shared::ConnectionView =
            app.refresh(&first.id).await.json().await.unwrap();
        let stored = app
            .state
            .connections
            .find(&first.id)
            .await
            .unwrap()
            .unwrap();
        let refresh_token = stored.refresh_token.unwrap().secret().clone();
        let access_token = refreshed.token.access_token.clone();
        assert_ne!(
            access_token, first.token.access_token,
            "the refresh gave a new token"
        );
        let gone = app.disconnect(&first.id).await;
        assert!(gone.status().is_success());

        let logs = logs();
        assert!(
            logs.contains("sign-in completed"),
            "the flow was logged at all"
        );
        assert!(logs.contains("TRACE"), "trace level was on");
        for (name, secret) in [
            ("client secret", CLIENT_SECRET),
            ("code", code.as_str()),
            ("verifier", verifier.as_str()),
            ("access token", access_token.as_str()),
            ("first access token", first.token.access_token.as_str()),
            ("refresh token", refresh_token.as_str()),
        ] {
            assert!(!logs.contains(secret), "the {name} appears in the log");
        }
    }
}

#[test]
fn secrets_debug_as_redacted() {
    let secret = oauth2::ClientSecret::new("hunter2".into());
    let token = oauth2::AccessToken::new("y0_abc".into());
    let text = format!("{secret:?} {token:?}");
    assert!(
        !text.contains("hunter2") && !text.contains("y0_abc"),
        "{text}"
    );
}
