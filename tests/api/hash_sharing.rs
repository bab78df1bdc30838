//! Password hashing leaves the async workers the cores they are busy on: while reads keep them
//! busy, fewer hashes run at once than there are hashing threads, and every login still
//! completes. The real binary, with the production Argon2 cost so that hashes overlap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::binary::{PRODUCTION_ARGON2, Server};
use crate::helpers::{GOOD_PASSWORD, scratch_database};

/// The most hashes `/metrics` showed running at once while `logins` logins ran concurrently.
async fn most_hashes_at_once(server: &Server, client: &reqwest::Client, logins: usize) -> u64 {
    let body = json!({"email": "reader@example.com", "password": GOOD_PASSWORD});
    let running = (0..logins).map(|_| {
        let (client, url, body) = (
            client.clone(),
            format!("{}/token/", server.base),
            body.clone(),
        );
        tokio::spawn(async move { client.post(url).json(&body).send().await })
    });
    let running: Vec<_> = running.collect();
    let mut most = 0;
    while running.iter().any(|login| !login.is_finished()) {
        let text = client
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let now = text
            .lines()
            .find_map(|l| l.strip_prefix("kitchen_api_hashing_in_progress "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap();
        most = most.max(now as u64);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    for login in running {
        assert_eq!(login.await.unwrap().unwrap().status(), 200);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_readers_keep_a_core_from_hashing_and_every_login_still_completes() {
    let (url, _scratch) = scratch_database().await;
    let server = Server::start(
        &url,
        &[
            PRODUCTION_ARGON2.as_slice(),
            &[
                ("KITCHEN_API_HASH_CONCURRENCY", "2"),
                // Every login of the storm is one account's, from one address, in flight at
                // once: each counts as a guess until its password proves right.
                ("KITCHEN_API_LOGIN_ADDRESS_FREE_FAILURES", "100000"),
                ("KITCHEN_API_LOGIN_ACCOUNT_FREE_FAILURES", "100000"),
            ],
        ]
        .concat(),
    );
    let token = server.register("reader@example.com").await;
    let client = reqwest::Client::new();

    // Nothing else to do: both hashing threads hash at once.
    assert_eq!(most_hashes_at_once(&server, &client, 12).await, 2);

    // Readers that keep the async workers busy.
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..32)
        .map(|_| {
            let (client, url, token, stop) = (
                client.clone(),
                format!("{}/users/me/", server.base),
                token.clone(),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let res = client
                        .get(&url)
                        .header("Authorization", format!("Token {token}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                }
            })
        })
        .collect();
    // Long enough for the hashing threads to have measured the workers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = most_hashes_at_once(&server, &client, 12).await;
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(
        busy, 1,
        "hashes ran side by side while reads kept the workers busy"
    );
}
