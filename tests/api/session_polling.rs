//! Session changes by polling the `session_changes` table, the path a server takes on SQLite
//! and where the database refuses `LISTEN` (forced here, so PostgreSQL runs it too).

use reqwest::Method;

use crate::helpers::spawn_app_with;
use crate::session_cache::assert_refused_soon;

fn poll(c: &mut kitchen_api::config::Config) {
    c.poll_session_changes = true;
}

#[tokio::test]
async fn servers_that_poll_hear_each_other_s_logouts() {
    let first = spawn_app_with(poll).await;
    let second = first.spawn_peer(poll).await;
    let mut tokens = Vec::new();
    for i in 0..3 {
        let (_, token) = first.register(&format!("cook{i}@example.com")).await;
        assert_eq!(
            second.get_me(&token).await.status(),
            200,
            "cached on the second"
        );
        tokens.push(token);
    }
    let logouts = tokens.iter().map(|token| {
        first
            .request(Method::POST, "/logout/")
            .header("Authorization", format!("Token {token}"))
            .send()
    });
    for res in futures::future::join_all(logouts).await {
        assert_eq!(res.unwrap().status(), 200);
    }
    for token in &tokens {
        assert_refused_soon(&second, token).await;
    }
}
