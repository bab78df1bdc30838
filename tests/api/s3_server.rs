//! A real S3-protocol server for the S3 picture tests: moto's server mode (`moto_server`, from
//! PyPI), one process per test on 127.0.0.1 and a port it picks itself, killed when dropped.
//! Decision 0020 says why moto and how CI installs it.
//!
//! The binary is `KITCHEN_TEST_MOTO_SERVER`, else `target/ci-venv/bin/moto_server` (what
//! `.ci/run` installs), else the first `moto_server` on `PATH`. A test that finds none fails,
//! saying how to install it: the S3 tests are `#[ignore]`d for `cargo test` on a developer's
//! machine, and CI runs them, so they never pass without having run.
//!
//! moto runs under a small `sh` that holds the read end of a pipe whose write end only this
//! process has: when the test ends, or panics, or the whole test binary is killed, the pipe
//! closes and the shell kills moto, so no server outlives its test.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::json;

/// How to get `moto_server`, for the message of a test that finds none.
const INSTALL_HINT: &str = "python3 -m venv target/ci-venv && \
     target/ci-venv/bin/pip install 'moto[server]>=5,<6' \
     (or set KITCHEN_TEST_MOTO_SERVER to a moto_server binary)";

/// Runs moto in the background and kills it once stdin reaches its end (see the module doc).
const WATCHDOG: &str = r#""$@" & pid=$!
echo "moto pid $pid"
read -r _ || true
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0"#;

/// The last lines moto wrote, kept for the message of a failing test.
const LOG_LINES: usize = 200;

/// The region the tests sign for (moto accepts any).
pub const REGION: &str = "us-east-1";

pub struct MotoServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub endpoint: String,
    /// moto's own process (the watchdog shell's child), to pause it.
    pid: Option<rustix::process::Pid>,
    watchdog: Child,
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<Vec<String>>>,
    client: Client,
}

/// A bucket of one test: its name, and how to reach the server it lives on.
pub struct Bucket {
    pub name: String,
    endpoint: String,
    client: Client,
}

/// Where `moto_server` is: the explicit setting, the CI venv, then `PATH`; the error says how
/// to install it. A setting that names no file is an error, not a reason to look elsewhere.
pub fn find_moto_server(
    setting: Option<OsString>,
    ci_venv: &Path,
    path: Option<OsString>,
) -> Result<PathBuf, String> {
    if let Some(setting) = setting.filter(|s| !s.is_empty()) {
        let binary = PathBuf::from(setting);
        return if binary.is_file() {
            Ok(binary)
        } else {
            Err(format!(
                "KITCHEN_TEST_MOTO_SERVER={} is not a file; install moto with: {INSTALL_HINT}",
                binary.display()
            ))
        };
    }
    let in_venv = ci_venv.join("bin").join("moto_server");
    if in_venv.is_file() {
        return Ok(in_venv);
    }
    path.iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "moto_server not found (KITCHEN_TEST_MOTO_SERVER, {}, PATH); \
                 these tests need a real S3 server: {INSTALL_HINT}",
                in_venv.display()
            )
        })
}

impl MotoServer {
    /// Starts moto on a free loopback port and waits until it answers. Panics (the test fails)
    /// when there is no moto or it does not come up.
    pub async fn start() -> MotoServer {
        let ci_venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv");
        let binary = find_moto_server(
            std::env::var_os("KITCHEN_TEST_MOTO_SERVER"),
            &ci_venv,
            std::env::var_os("PATH"),
        )
        .unwrap_or_else(|message| panic!("{message}"));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("moto-watchdog")
            .arg(&binary)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut watchdog = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let stdin = watchdog.stdin.take();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        // The watchdog tells moto's pid on stdout, Werkzeug the port on stderr; both are
        // drained to the end so that moto never blocks on a full pipe.
        for output in [
            Box::new(watchdog.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(watchdog.stderr.take().unwrap()),
        ] {
            let (log, port_tx, pid_tx) = (Arc::clone(&log), port_tx.clone(), pid_tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("Running on http://127.0.0.1:").nth(1) {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        port_tx.send(digits).ok();
                    }
                    if let Some(pid) = line.strip_prefix("moto pid ") {
                        pid_tx.send(pid.parse::<i32>().ok()).ok();
                    }
                    let mut log = log.lock().unwrap();
                    if log.len() == LOG_LINES {
                        log.remove(0);
                    }
                    log.push(line);
                }
            });
        }
        let mut server = MotoServer {
            endpoint: String::new(),
            pid: None,
            watchdog,
            stdin,
            log,
            client: Client::new(),
        };
        let port = port_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("moto did not start: {}", server.log_text()));
        server.endpoint = format!("http://127.0.0.1:{port}");
        server.pid = pid_rx
            .recv_timeout(Duration::from_secs(5))
            .ok()
            .flatten()
            .and_then(rustix::process::Pid::from_raw);
        server.wait_until_answering().await;
        server
    }

    async fn wait_until_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.client.get(&self.endpoint).send().await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not answer at {}: {}",
                self.endpoint,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new bucket with a unique name whose `profile-pictures/` objects anyone may read, as a
    /// deployment that shows their URLs to the world sets it up.
    pub async fn create_bucket(&self) -> Bucket {
        let name = format!("kitchen-test-{:016x}", rand::random::<u64>());
        let res = self
            .client
            .put(format!("{}/{name}", self.endpoint))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "create bucket: {res:?}");
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "PublicProfilePictures",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": format!("arn:aws:s3:::{name}/profile-pictures/*"),
            }],
        });
        let res = self
            .client
            .put(format!("{}/{name}?policy", self.endpoint))
            .json(&policy)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "bucket policy: {res:?}");
        Bucket {
            name,
            endpoint: self.endpoint.clone(),
            client: self.client.clone(),
        }
    }

    /// A user with an access key allowed everything on S3; then every request must be signed by
    /// a key moto knows. Returns (access key id, secret access key).
    pub async fn require_credentials(&self) -> (String, String) {
        // Before authentication is on, moto takes any signature; the credential scope of the
        // Authorization header is what routes these calls to its IAM.
        let iam = |action: &str, extra: &[(&str, &str)]| {
            let mut form = vec![("Action", action), ("Version", "2010-05-08")];
            form.extend_from_slice(extra);
            self.client
                .post(format!("{}/", self.endpoint))
                .header(
                    "Authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/{REGION}/iam/\
                         aws4_request, SignedHeaders=host, Signature=00"
                    ),
                )
                .form(&form)
                .send()
        };
        let user = [("UserName", "kitchen-api")];
        assert!(
            iam("CreateUser", &user)
                .await
                .unwrap()
                .status()
                .is_success()
        );
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        })
        .to_string();
        let put_policy = [
            ("UserName", "kitchen-api"),
            ("PolicyName", "pictures"),
            ("PolicyDocument", policy.as_str()),
        ];
        let res = iam("PutUserPolicy", &put_policy).await.unwrap();
        assert!(res.status().is_success());
        let key = iam("CreateAccessKey", &user).await.unwrap();
        assert!(key.status().is_success());
        let xml = key.text().await.unwrap();
        let credentials = (
            xml_values(&xml, "AccessKeyId").remove(0),
            xml_values(&xml, "SecretAccessKey").remove(0),
        );
        self.set_authentication(true).await;
        credentials
    }

    /// Turns moto's signature and policy checks on or off (off: what a test's own look at the
    /// bucket needs, since it does not sign).
    pub async fn set_authentication(&self, on: bool) {
        let res = self
            .client
            .post(format!("{}/moto-api/reset-auth", self.endpoint))
            .body(if on { "0" } else { "inf" })
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "reset-auth: {res:?}");
    }

    /// Kills moto now (SIGKILL, as a crashed server) and waits until it is gone.
    pub fn kill(&mut self) {
        drop(self.stdin.take());
        self.watchdog.wait().ok();
    }

    /// Stops moto where it is (SIGSTOP), as a hung server: connections are still accepted by
    /// the kernel, and nothing answers them until [`MotoServer::resume`].
    pub fn pause(&self) {
        self.signal(rustix::process::Signal::STOP);
    }

    pub fn resume(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = self.pid.expect("moto's pid was announced at start");
        rustix::process::kill_process(pid, signal).unwrap();
    }

    /// What moto wrote last (one line a request), for assertion messages.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Bucket {
    /// The keys under `prefix`, in key order (read without signing: a plain HTTP listing).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let res = self
            .client
            .get(format!("{}/{}", self.endpoint, self.name))
            .query(&[("list-type", "2"), ("prefix", prefix)])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "list {}: {res:?}", self.name);
        let xml = res.text().await.unwrap();
        assert!(xml.contains("<IsTruncated>false</IsTruncated>"), "{xml}");
        xml_values(&xml, "Key")
    }

    /// Puts an object as someone other than the service would (a test's own file).
    pub async fn put(&self, key: &str, body: Vec<u8>) {
        let res = self
            .client
            .put(format!("{}/{}/{key}", self.endpoint, self.name))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "put {key}: {res:?}");
    }
}

/// The text of every `<tag>…</tag>` in an S3 or IAM answer (they escape nothing these tests
/// put in keys or get as keys).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_owned()))
        .collect()
}

#[test]
fn moto_server_is_looked_up_in_the_setting_then_the_ci_venv_then_path() {
    let dir = tempfile::tempdir().unwrap();
    let make = |relative: &str| {
        let path = dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(b"#!/bin/sh\n")
            .unwrap();
        path
    };
    let explicit = make("explicit/moto_server");
    let venv = dir.path().join("venv");
    let in_venv = make("venv/bin/moto_server");
    let on_path = make("on-path/moto_server");
    let path = std::env::join_paths([dir.path().join("empty"), dir.path().join("on-path")]).ok();

    let found = |setting: Option<&Path>, venv: &Path, path: Option<OsString>| {
        find_moto_server(setting.map(|s| s.as_os_str().to_owned()), venv, path)
    };
    assert_eq!(
        found(Some(&explicit), &venv, path.clone()).unwrap(),
        explicit
    );
    assert_eq!(found(None, &venv, path.clone()).unwrap(), in_venv);
    let no_venv = dir.path().join("no-venv");
    assert_eq!(found(None, &no_venv, path.clone()).unwrap(), on_path);

    // Nothing anywhere: an error that says how to install it, never a quiet pass.
    let error = found(None, &no_venv, None).unwrap_err();
    assert!(
        error.contains("pip install 'moto[server]>=5,<6'"),
        "{error}"
    );
    // A setting that names nothing is a mistake to report, not to paper over with PATH.
    let error = found(Some(&dir.path().join("missing")), &venv, path).unwrap_err();
    assert!(error.contains("KITCHEN_TEST_MOTO_SERVER"), "{error}");
    assert!(error.contains("pip install"), "{error}");
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn moto_keeps_objects_per_bucket_holds_requests_when_paused_and_is_gone_once_killed() {
    let mut moto = MotoServer::start().await;
    let (first, second) = (moto.create_bucket().await, moto.create_bucket().await);
    assert_ne!(first.name, second.name);
    first.put("profile-pictures/a.jpg", b"a".to_vec()).await;
    first.put("elsewhere/b.jpg", b"b".to_vec()).await;
    assert_eq!(
        first.keys("profile-pictures/").await,
        ["profile-pictures/a.jpg"]
    );
    assert!(second.keys("").await.is_empty());
    // The bucket policy makes pictures public, and only them.
    let public = reqwest::get(format!(
        "{}/{}/profile-pictures/a.jpg",
        moto.endpoint, first.name
    ))
    .await
    .unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(public.bytes().await.unwrap().as_ref(), b"a");
    let private = reqwest::get(format!("{}/{}/elsewhere/b.jpg", moto.endpoint, first.name))
        .await
        .unwrap();
    assert_eq!(private.status(), 403);

    // Paused, it holds requests without an answer; resumed, it answers them.
    moto.pause();
    let held = reqwest::Client::new()
        .get(&moto.endpoint)
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(held.unwrap_err().is_timeout());
    moto.resume();
    assert!(first.keys("").await.len() == 2);

    let endpoint = moto.endpoint.clone();
    drop((first, second));
    moto.kill();
    let gone = reqwest::get(&endpoint).await;
    assert!(gone.is_err(), "moto still answers after kill: {gone:?}");
}

#[tokio::test]
#[ignore = "needs moto_server (CI installs it)"]
async fn with_credentials_required_moto_refuses_an_unknown_key_and_a_wrong_signature() {
    let moto = MotoServer::start().await;
    let bucket = moto.create_bucket().await;
    let (key_id, secret) = moto.require_credentials().await;
    assert!(key_id.starts_with("AKIA") && secret.len() >= 30, "{key_id}");
    // A key moto does not know, and the right key with a wrong signature.
    for (key, expected) in [
        ("AKIAIOSFODNN7EXAMPLE", "InvalidAccessKeyId"),
        (key_id.as_str(), "SignatureDoesNotMatch"),
    ] {
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={key}/20260101/{REGION}/s3/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={}",
            "0".repeat(64)
        );
        let res = reqwest::Client::new()
            .put(format!(
                "{}/{}/profile-pictures/x.jpg",
                moto.endpoint, bucket.name
            ))
            .header("Authorization", authorization)
            .header("x-amz-date", "20260101T000000Z")
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{}", moto.log_text());
        let body = res.text().await.unwrap();
        assert!(body.contains(expected), "{body}");
    }
    moto.set_authentication(false).await;
    assert!(bucket.keys("").await.is_empty());
}
