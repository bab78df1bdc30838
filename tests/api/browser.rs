//! `Browser`: headless Chromium driven over WebDriver (chromedriver + fantoccini), for the tests
//! that must see a page as a person does — scripts run, forms submitted, screenshots taken.
//!
//! Each `Browser` starts its own chromedriver on a free loopback port (chromedriver listens on
//! 127.0.0.1 and ::1 only, unless told otherwise; the client talks to 127.0.0.1) with a profile
//! directory of its own, and kills both (chromedriver and the Chromium it started) when
//! dropped, even when a test panics half-way. The binaries are Debian's `chromium` and `chromium-driver`; when they
//! are missing the helper panics and says so: a browser test that cannot run fails, it is
//! never skipped (CI installs both, see `.ci/run`).
//!
//! The methods panic on failure, with the selector or URL in the message, as the other helpers
//! do: a console test reads as the steps a person takes.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long an element may take to appear (a page loading after a click, a script rendering).
const ELEMENT_WAIT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to answer `/status` after it starts.
const DRIVER_START: Duration = Duration::from_secs(20);

/// The window the browser renders into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewport {
    /// A 1280×900 desktop viewport; screenshots are 1280×900 pixels.
    Desktop,
    /// A 390×844 phone viewport at a pixel ratio of 2 (screenshots 780×1688), with touch and
    /// the page's `<meta name="viewport">` honoured: a page without one is laid out 980 pixels
    /// wide and scaled down, as on a phone.
    Phone,
}

/// A headless Chromium under its own chromedriver; see the module comment.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    /// The profile directory and chromedriver's log; removed on drop.
    scratch: tempfile::TempDir,
}

impl Browser {
    /// A desktop-size browser.
    pub async fn start() -> Browser {
        Browser::start_with(Viewport::Desktop).await
    }

    /// A browser with the given window.
    pub async fn start_with(viewport: Viewport) -> Browser {
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        // The port is free when picked, but another test's server may bind it before
        // chromedriver does; chromedriver then exits, and another port is tried.
        let mut attempt = 1;
        let (mut browser, base) = loop {
            let port = free_port();
            // A panic from here on drops `browser`, which kills chromedriver.
            let mut browser = Browser::spawn_driver(&chromedriver, port);
            let base = format!("http://127.0.0.1:{port}");
            match browser.wait_for_driver(&base).await {
                Ok(()) => break (browser, base),
                Err(status) => assert!(
                    attempt < 3,
                    "chromedriver exited ({status}) on start, {attempt} times:\n{}",
                    browser.driver_log()
                ),
            }
            attempt += 1;
        };
        let caps = capabilities(&chromium, &browser.scratch.path().join("profile"), viewport);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&base)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start {}: {e}\n{}",
                    chromium.display(),
                    browser.driver_log()
                )
            });
        browser.client = Some(client);
        browser
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Replaces the contents of the field at `css` with `text`, as typed.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Clicks the element at `css` (a button that submits waits for nothing: the next `find`
    /// waits for the page that follows).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// The rendered text of the element at `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("cannot read the text of {css}: {e}"))
    }

    /// The URL of the page shown, after any redirects.
    pub async fn current_url(&self) -> String {
        self.client().current_url().await.unwrap().to_string()
    }

    /// The page's DOM as HTML, scripts' changes included.
    pub async fn page_source(&self) -> String {
        self.client().source().await.unwrap()
    }

    /// Saves a PNG of the viewport to `path`, creating its directory.
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let png = self.client().screenshot().await.unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Gives the browser a virtual platform authenticator (WebDriver's WebAuthn extension,
    /// which chromedriver implements): a passkey made or asked for from now on is made or
    /// signed by it, the user verified, without a prompt.
    pub async fn add_virtual_authenticator(&self) {
        let options = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true,
        });
        let cmd = SessionCommand {
            path: "webauthn/authenticator",
            body: options,
        };
        self.client()
            .issue_cmd(cmd)
            .await
            .unwrap_or_else(|e| panic!("cannot add a virtual authenticator: {e}"));
    }

    /// Runs `script` in the page as an async function of `arguments` (its last argument is the
    /// callback that ends it) and returns what it passed to the callback.
    pub async fn run_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute_async(script, args)
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    /// Ends the session (Chromium quits), then stops chromedriver. Dropping the `Browser` also
    /// stops both, only less politely.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.unwrap();
        }
    }

    /// The element at `css`, waiting for it to appear.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client()
            .wait()
            .at_most(ELEMENT_WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} within {ELEMENT_WAIT:?}: {e}"))
    }

    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a started Browser has a session")
    }

    /// chromedriver on `127.0.0.1:port`, logging to the scratch directory.
    fn spawn_driver(chromedriver: &Path, port: u16) -> Browser {
        let scratch = tempfile::tempdir().unwrap();
        let log = scratch.path().join("chromedriver.log");
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, which Chromium joins, so that drop kills them all at once.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        Browser {
            client: None,
            driver,
            scratch,
        }
    }

    /// Polls chromedriver's `/status` until it says it is ready; its exit status if it exits
    /// first.
    async fn wait_for_driver(&mut self, base: &str) -> Result<(), std::process::ExitStatus> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(status) = self.driver.try_wait().unwrap() {
                return Err(status);
            }
            if let Ok(res) = http.get(format!("{base}/status")).send().await {
                if let Ok(body) = res.json::<Value>().await {
                    if body["value"]["ready"] == json!(true) {
                        return Ok(());
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {base} within {DRIVER_START:?}:\n{}",
                self.driver_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of chromedriver's log, for a panic message.
    fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.scratch.path().join("chromedriver.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started, whose profile
        // directory goes with `scratch` right after.
        if let Some(pid) = rustix::process::Pid::from_raw(self.driver.id() as i32) {
            rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).ok();
        }
        self.driver.wait().ok();
    }
}

/// A `POST` to `/session/{id}/{path}`: a WebDriver extension command fantoccini has no method
/// for.
#[derive(Debug)]
struct SessionCommand {
    path: &'static str,
    body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(self.body.to_string()))
    }
}

/// Where the browser tests save their screenshots: `KITCHEN_SCREENSHOTS_DIR`, when set (the
/// console's go to `docs/console/`).
pub fn screenshots_dir() -> Option<PathBuf> {
    std::env::var_os("KITCHEN_SCREENSHOTS_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// `env`'s path, else `default`; panics naming the Debian packages when it is not there.
fn binary(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from);
    assert!(
        path.is_file(),
        "{} not found: the browser tests need Debian's chromium and chromium-driver \
         (apt-get install chromium chromium-driver), or {env} set to the binary",
        path.display()
    );
    path
}

/// A port nobody listens on right now (chromedriver binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The W3C capabilities for headless Chromium at `chromium` with the profile in `profile`.
fn capabilities(
    chromium: &Path,
    profile: &Path,
    viewport: Viewport,
) -> serde_json::Map<String, Value> {
    let mut args = vec![
        "--headless=new".to_owned(),
        // Containers give /dev/shm 64 MB, too little for Chromium's renderer.
        "--disable-dev-shm-usage".to_owned(),
        format!("--user-data-dir={}", profile.display()),
        "--no-first-run".to_owned(),
        "--hide-scrollbars".to_owned(),
    ];
    // Chromium refuses its sandbox to root (CI's containers run as root).
    if rustix::process::geteuid().is_root() {
        args.push("--no-sandbox".to_owned());
    }
    // The viewport is set exactly (a headless window's is smaller than the window by a
    // toolbar that is not drawn), so screenshots are always the same size.
    let (width, height, phone) = match viewport {
        Viewport::Desktop => (1280, 900, false),
        Viewport::Phone => (390, 844, true),
    };
    args.push(format!("--window-size={width},{height}"));
    let options = json!({
        "binary": chromium,
        "args": args,
        "mobileEmulation": { "deviceMetrics": {
            "width": width, "height": height, "pixelRatio": if phone { 2 } else { 1 },
            "mobile": phone, "touch": phone,
        }},
    });
    let caps = json!({ "browserName": "chrome", "goog:chromeOptions": options });
    caps.as_object().unwrap().clone()
}
