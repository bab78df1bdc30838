//! A real SMTP server for the mail tests: `smtp_sink.py` (aiosmtpd, from PyPI) on 127.0.0.1 and
//! a free port, saving each message it accepts as a file the test reads. A machine without
//! aiosmtpd gets it with pip, once per test run, so that `cargo test` works on a fresh clone.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use kitchen_api::config::Config;
use kitchen_api::mail::{MailBackend, SmtpTls};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/smtp_sink.py");

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

/// One delivered message.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The envelope recipients, as the server received them.
    pub envelope_to: String,
    /// The message as sent: headers, blank line, body.
    pub raw: String,
}

impl Delivered {
    /// The value of the first header called `name`.
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }

    /// Everything after the headers.
    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

/// Installs aiosmtpd for this user if python3 cannot import it (once per test binary).
fn ensure_aiosmtpd() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| {
        let importable = |py: &mut Command| {
            py.args(["-c", "import aiosmtpd"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if importable(&mut Command::new("python3")) {
            return;
        }
        let installed = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--user",
                "aiosmtpd",
            ])
            .output();
        if !installed.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("could not install aiosmtpd with pip: {installed:?}");
        }
    });
}

impl SmtpSink {
    /// Starts the sink; with `fail_first` > 0 it answers that many messages with a 451 first.
    pub fn start(fail_first: usize) -> SmtpSink {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .arg(dir.path())
            .arg(format!("--fail-first={fail_first}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 is needed for the SMTP sink");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Ok(port) = line.trim().parse() else {
            let output = child.wait_with_output().unwrap();
            panic!(
                "the SMTP sink did not start (CI installs it: python3 -m pip install aiosmtpd): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        SmtpSink { child, port, dir }
    }

    /// Settings that send mail to this sink, in plain text, retrying at once.
    pub fn configure(&self, config: &mut Config) {
        config.mail.backend = MailBackend::Smtp;
        config.mail.smtp_host = "127.0.0.1".to_owned();
        config.mail.smtp_port = Some(self.port);
        config.mail.smtp_tls = SmtpTls::None;
        config.mail.retry_base_ms = 1;
    }

    /// Every message saved so far, oldest first.
    pub fn delivered(&self) -> Vec<Delivered> {
        let mut paths: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let (first, raw) = text.split_once("\r\n").unwrap();
                Delivered {
                    envelope_to: first.trim_start_matches("X-Envelope-To: ").to_owned(),
                    raw: raw.to_owned(),
                }
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // The sink also exits by itself when its stdin closes, should this never run.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}
