//! Real receivers for the alert tests: an SMTP server (Python's aiosmtpd, the package
//! `tests/run` installs) and an HTTP server standing in for a Slack incoming webhook (axum,
//! in the test's runtime), which can be told to fail: 500, 429 with `Retry-After`, or to
//! hang past the sender's timeout.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use crate::support::eventually;

// ---------------------------------------------------------------------------------------
// SMTP

/// An email as the SMTP server received it.
#[derive(Clone, Debug, Deserialize)]
pub struct Mail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// `tests/integration/smtp_sink.py` running on a free port; killed when dropped.
pub struct SmtpSink {
    pub port: u16,
    child: Child,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/integration/smtp_sink.py"
        );
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the SMTP sink (/usr/bin/python3 with python3-aiosmtpd: run tests/run)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let collected = Arc::clone(&mails);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if let Some(port) = value["listening"].as_u64() {
                    let _ = ready_tx.send(port);
                } else if let Ok(mail) = serde_json::from_value::<Mail>(value) {
                    collected.lock().expect("lock").push(mail);
                }
            }
        });
        let port = ready
            .recv_timeout(Duration::from_secs(30))
            .expect("the SMTP sink did not start (is python3-aiosmtpd installed? run tests/run)");
        SmtpSink {
            port: u16::try_from(port).expect("a port"),
            child,
            mails,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("lock").clone()
    }

    /// Waits until `n` mails have arrived; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        eventually(
            &format!("{n} email(s)"),
            Duration::from_secs(60),
            || async {
                let mails = self.mails();
                (mails.len() >= n).then_some(mails)
            },
        )
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Slack

/// How the webhook answers one request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Ok,
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    RetryAfter(u64),
    /// Never answers (the sender's timeout, or its death, ends the request).
    Hang,
}

/// A request the webhook received.
#[derive(Clone, Debug)]
pub struct Post {
    pub at: Instant,
    pub body: Value,
    pub idempotency_key: Option<String>,
    /// The `Authorization` header (OpenLineage endpoints take an API key).
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Log {
    /// Answers still to give, in order; then `Ok` for good.
    script: VecDeque<Answer>,
    /// Every request, answered or not.
    requests: Vec<Post>,
    /// The requests answered 2xx: the deliveries.
    delivered: Vec<Post>,
}

/// The secret part of the webhook's URL, as Slack issues them (team, channel, token).
pub const HOOK_PATH: &str = "T0TEST1234/B0TEST5678/tmtestsecrettoken0123456";

/// An HTTP server on a free port standing in for a Slack incoming webhook.
pub struct SlackHook {
    pub url: String,
    log: Arc<Mutex<Log>>,
}

impl SlackHook {
    /// Starts the server in the current runtime, answering as `script` says, then `Ok`.
    pub async fn start(script: &[Answer]) -> SlackHook {
        let log = Arc::new(Mutex::new(Log {
            script: script.iter().copied().collect(),
            ..Log::default()
        }));
        let app = axum::Router::new()
            .route("/services/{*path}", axum::routing::post(receive))
            .with_state(Arc::clone(&log));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the webhook");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SlackHook {
            // Shaped like Slack's: the path tokens are the secret.
            url: format!("http://{address}/services/{HOOK_PATH}"),
            log,
        }
    }

    pub fn requests(&self) -> Vec<Post> {
        self.log.lock().expect("lock").requests.clone()
    }

    pub fn delivered(&self) -> Vec<Post> {
        self.log.lock().expect("lock").delivered.clone()
    }

    /// Waits until `n` messages were delivered; all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Post> {
        eventually(
            &format!("{n} Slack message(s)"),
            Duration::from_secs(60),
            || async {
                let delivered = self.delivered();
                (delivered.len() >= n).then_some(delivered)
            },
        )
        .await
    }

    /// Waits until `n` requests came in, answered or not.
    pub async fn wait_for_requests(&self, n: usize) -> Vec<Post> {
        eventually(
            &format!("{n} webhook request(s)"),
            Duration::from_secs(60),
            || async {
                let requests = self.requests();
                (requests.len() >= n).then_some(requests)
            },
        )
        .await
    }

    /// The mrkdwn text of each delivered message, in order.
    pub fn texts(&self) -> Vec<String> {
        self.delivered()
            .iter()
            .map(|post| post.body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let post = Post {
        at: Instant::now(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        idempotency_key: header_text(&headers, "idempotency-key"),
        authorization: header_text(&headers, "authorization"),
    };
    let answer = {
        let mut log = log.lock().expect("lock");
        log.requests.push(post.clone());
        let answer = log.script.pop_front().unwrap_or(Answer::Ok);
        if let Answer::Ok = answer {
            log.delivered.push(post);
        }
        answer
    };
    match answer {
        Answer::Ok => (StatusCode::OK, "ok").into_response(),
        Answer::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            // Receivers' error pages echo what they were asked for, the secret path included.
            let page = format!("failing on purpose for {}", uri.path());
            (status, page).into_response()
        }
        Answer::RetryAfter(seconds) => {
            let mut response = (StatusCode::TOO_MANY_REQUESTS, "rate_limited").into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}
