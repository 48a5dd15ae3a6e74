//! A thousand people signing in at once, each in their own browser: every one
//! must end with their own token and nobody else's. Counts, not timings, are
//! asserted; the time taken is printed for the record.

use std::collections::HashSet;

use tokenbridge_shared::FlowOutcome;

use crate::helpers::*;

const FLOWS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_flows_each_end_with_their_own_token() {
    let app = spawn_sandbox().await;
    let started = std::time::Instant::now();

    let mut flows = tokio::task::JoinSet::new();
    for person in 0..FLOWS {
        let app = app.other_browser();
        flows.spawn(async move {
            let login = format!("person-{person}");
            let authorize = app.login(&format!("?login_hint={login}")).await;
            let callback = app.decide(&authorize, "allow").await;
            app.callback(&callback).await;
            let session = app.session().await;
            let token = match (session.outcome, session.token) {
                (Some(FlowOutcome::Connected), Some(token)) => token.access_token,
                (outcome, _) => return Err(format!("{login}: {outcome:?}")),
            };
            let owner = account_of(&app, &token).await;
            Ok((login, owner, token))
        });
    }

    let mut errors = Vec::new();
    let mut mix_ups = Vec::new();
    let mut tokens = HashSet::new();
    while let Some(joined) = flows.join_next().await {
        match joined.expect("a flow task finished") {
            Ok((login, owner, token)) => {
                if owner != login {
                    mix_ups.push(format!("{login} holds {owner}'s token"));
                }
                tokens.insert(token);
            }
            Err(error) => errors.push(error),
        }
    }
    eprintln!(
        "{FLOWS} concurrent flows (six requests each, and the server's own token call) in {:.2?}",
        started.elapsed()
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    assert!(
        mix_ups.is_empty(),
        "{} mix-ups, first: {:?}",
        mix_ups.len(),
        mix_ups.first()
    );
    assert_eq!(tokens.len(), FLOWS, "every person has a different token");
}
