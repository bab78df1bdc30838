//! A real SMTP server for the mail tests, on 127.0.0.1 and a free port, keeping each message it
//! accepts for the test to read. It speaks just enough SMTP for a client such as lettre (EHLO,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT), in plain text, and like many mail servers it does not
//! offer SMTPUTF8. It runs on the test's own runtime and stops when dropped.

use std::sync::{Arc, Mutex};

use kitchen_api::config::Config;
use kitchen_api::mail::{MailBackend, SmtpTls};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct SmtpSink {
    pub port: u16,
    state: Arc<State>,
    server: JoinHandle<()>,
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

#[derive(Default)]
struct State {
    delivered: Mutex<Vec<Delivered>>,
    failures_left: Mutex<usize>,
}

impl SmtpSink {
    /// Starts the sink; with `fail_first` > 0 it answers that many messages with a 451 first,
    /// as a mail server under load would.
    pub fn start(fail_first: usize) -> SmtpSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let listener = TcpListener::from_std(listener).unwrap();
        let state = Arc::new(State {
            failures_left: Mutex::new(fail_first),
            ..State::default()
        });
        let server = tokio::spawn(accept(listener, Arc::clone(&state)));
        SmtpSink {
            port,
            state,
            server,
        }
    }

    /// Settings that send mail to this sink, in plain text, retrying at once.
    pub fn configure(&self, config: &mut Config) {
        config.mail.backend = MailBackend::Smtp;
        config.mail.smtp_host = "127.0.0.1".to_owned();
        config.mail.smtp_port = Some(self.port);
        config.mail.smtp_tls = SmtpTls::None;
        config.mail.retry_base_ms = 1;
    }

    /// Every message accepted so far, oldest first.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.state.delivered.lock().unwrap().clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which ends every open session too.
        self.server.abort();
    }
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut sessions = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        sessions.spawn(session(stream, Arc::clone(&state)));
        while sessions.try_join_next().is_some() {}
    }
}

/// One client connection, until QUIT or until the client hangs up.
async fn session(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut recipients: Vec<String> = Vec::new();
    write.write_all(b"220 localhost test SMTP sink\r\n").await?;
    loop {
        let mut line = Vec::new();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end();
        let verb = line.split_whitespace().next().unwrap_or("");
        let reply: &[u8] = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => b"250-localhost\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250 HELP\r\n",
            "HELO" => b"250 localhost\r\n",
            "MAIL" | "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => match address_in(line) {
                Some(address) => {
                    recipients.push(address);
                    b"250 OK\r\n"
                }
                None => b"501 Syntax: RCPT TO: <address>\r\n",
            },
            "DATA" if recipients.is_empty() => b"503 Error: need RCPT command\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(raw) = read_data(&mut lines).await? else {
                    return Ok(());
                };
                let envelope_to = std::mem::take(&mut recipients).join(", ");
                let mut failures_left = state.failures_left.lock().unwrap();
                if *failures_left > 0 {
                    *failures_left -= 1;
                    b"451 4.3.0 Try again later\r\n"
                } else {
                    let delivered = Delivered { envelope_to, raw };
                    state.delivered.lock().unwrap().push(delivered);
                    b"250 2.0.0 OK\r\n"
                }
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"500 Error: command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// The address in `RCPT TO:<address> [parameters]`.
fn address_in(line: &str) -> Option<String> {
    let (_, rest) = line.split_once(':')?;
    let rest = rest.trim_start();
    let address = match rest.strip_prefix('<') {
        Some(inner) => inner.split_once('>')?.0,
        None => rest.split_whitespace().next()?,
    };
    Some(address.to_owned())
}

/// The message after DATA, up to the line with a lone dot, with dot-stuffing undone; `None`
/// when the client hangs up first.
async fn read_data(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<String>> {
    let mut message = Vec::new();
    loop {
        let mut line = Vec::new();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(String::from_utf8_lossy(&message).into_owned()));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        message.extend_from_slice(unstuffed);
    }
}

#[tokio::test]
async fn the_sink_keeps_every_recipient_and_undoes_dot_stuffing() {
    let sink = SmtpSink::start(1);
    let stream = TcpStream::connect(("127.0.0.1", sink.port)).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut replies = BufReader::new(read);
    let mut read_reply = async || loop {
        let mut line = String::new();
        replies.read_line(&mut line).await.unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            return line[..3].to_owned();
        }
    };
    assert_eq!(read_reply().await, "220");
    let message = "Subject: dots\r\n\r\n..leading dot\r\nlast\r\n.\r\n";
    for (command, expected) in [
        ("EHLO client\r\n", "250"),
        ("MAIL FROM:<a@example.com>\r\n", "250"),
        ("RCPT TO:<b@example.com>\r\n", "250"),
        ("DATA\r\n", "354"),
        (message, "451"),
        ("MAIL FROM:<a@example.com>\r\n", "250"),
        ("RCPT TO:<b@example.com>\r\n", "250"),
        ("RCPT TO:<c@example.com> NOTIFY=NEVER\r\n", "250"),
        ("DATA\r\n", "354"),
        (message, "250"),
        ("QUIT\r\n", "221"),
    ] {
        write.write_all(command.as_bytes()).await.unwrap();
        assert_eq!(read_reply().await, expected, "after {command:?}");
    }
    let delivered = sink.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].envelope_to, "b@example.com, c@example.com");
    assert_eq!(delivered[0].body(), ".leading dot\r\nlast\r\n");
    assert_eq!(delivered[0].header("subject").as_deref(), Some("dots"));
}
