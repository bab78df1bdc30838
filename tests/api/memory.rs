//! The memory password hashing takes: at most one Argon2 buffer per hashing thread, however
//! many logins queue. The real binary with the production Argon2 parameters (19 MiB each).

use serde_json::json;

use crate::binary::{PRODUCTION_ARGON2, Server};
use crate::helpers::{GOOD_PASSWORD, scratch_database};

const MIB: u64 = 1024 * 1024;

/// The server's resident memory, from `/proc/<pid>/status`.
#[cfg(target_os = "linux")]
fn rss_bytes(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_login_storm_holds_at_most_one_argon2_buffer_per_hashing_thread() {
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
    let client = reqwest::Client::new();
    let credentials = json!({"email": "storm@example.com", "password": GOOD_PASSWORD});
    let res = client
        .post(format!("{}/users/", server.base))
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let before = rss_bytes(&server);

    // 16 clients at once, 4 logins each: 64 hashes queued for 2 threads.
    let logins = (0..16).map(|_| {
        let (client, base, body) = (client.clone(), server.base.clone(), credentials.clone());
        async move {
            for _ in 0..4 {
                let res = client
                    .post(format!("{base}/token/"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
            }
        }
    });
    futures::future::join_all(logins).await;
    let grown = rss_bytes(&server).saturating_sub(before);
    // Two 19 MiB buffers, and room for everything else a burst of requests allocates.
    assert!(
        grown <= 2 * 19 * MIB + 16 * MIB,
        "resident memory grew by {} MiB during a 64-login storm with 2 hashing threads",
        grown / MIB
    );
}

/// The nice value of each of the server's threads whose name starts with `prefix`.
#[cfg(target_os = "linux")]
fn nice_values(server: &Server, prefix: &str) -> Vec<i64> {
    let tasks = format!("/proc/{}/task", server.child.id());
    std::fs::read_dir(tasks)
        .unwrap()
        .filter_map(|task| {
            let dir = task.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            if !name.starts_with(prefix) {
                return None;
            }
            // Fields after the parenthesised name: state is the 3rd field, nice the 19th.
            let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
            let after_name = stat.rsplit_once(") ")?.1;
            after_name.split(' ').nth(16)?.parse().ok()
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn hashing_threads_run_at_a_lower_priority_than_request_handling() {
    let (url, _scratch) = scratch_database().await;
    let server = Server::start(&url, &[("KITCHEN_API_HASH_CONCURRENCY", "3")]);
    let mut hashing = nice_values(&server, "kitchen-hash-");
    // The threads lower their own priority as they start.
    for _ in 0..50 {
        if hashing.len() == 3 && hashing.iter().all(|n| *n == 10) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        hashing = nice_values(&server, "kitchen-hash-");
    }
    assert_eq!(hashing, [10, 10, 10]);
    let workers = nice_values(&server, "tokio-rt-worker");
    assert!(
        !workers.is_empty() && workers.iter().all(|n| *n == 0),
        "{workers:?}"
    );
}
