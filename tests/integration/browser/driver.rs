//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which `tests/run` installs), and what its console reported.
//!
//! Chromium is started the way this machine needs (see the flags below): without the
//! background-networking flags it keeps trying to reach Google's hosts, which a closed
//! network refuses. Each [`Browser`] has its own chromedriver on a port the OS picked and
//! its own empty profile, so tests share nothing; one browser runs at a time (see
//! [`ONE_AT_A_TIME`]).
//!
//! Console errors come from chromedriver's log endpoint (`POST /session/{id}/se/log` with
//! `{"type": "browser"}`, enabled by the `goog:loggingPrefs` capability). The pages carry a
//! CSP that forbids scripts, so nothing can be gathered from inside the page; chromedriver
//! reads Chromium's own log instead, which records what a person sees in DevTools' console:
//! failed loads (a 404 stylesheet or image, source `network`), CSP violations (source
//! `security`) and script errors. Each read returns the entries since the last one.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::support::{eventually, http};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "chromedriver";
/// The width pages are checked and photographed at.
pub const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;
/// The tallest screenshot: a long page (the inbox, a dataset with many checks) is shown
/// from its top, at a size a README can hold.
const MAX_SHOT: u32 = 2400;
/// How long chromedriver may take to answer `/status` as ready (it starts in milliseconds;
/// the margin is for a machine busy compiling).
const DRIVER_START: Duration = Duration::from_secs(60);

/// Chromium's flags on this machine: headless, no sandbox (the tests run as root), nothing
/// that reaches out to the network by itself, and no first-run UI.
const FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Held by each live [`Browser`]: tests run in parallel, and several Chromiums at once
/// beside the server, the databases and the rest of the suite would starve a 2-core
/// machine. tokio's: each test has its own runtime, and a waiting test must not block a
/// thread; it is not poisoned by a test that panicked.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One entry of Chromium's console log.
#[derive(Debug, Clone, Deserialize)]
pub struct LogEntry {
    pub level: String,
    /// `network` (a failed load), `security` (CSP), `javascript`, `console-api`, …
    #[serde(default)]
    pub source: Option<String>,
    pub message: String,
}

impl LogEntry {
    /// Errors, as DevTools counts them (warnings and info are not).
    pub fn is_error(&self) -> bool {
        self.level == "SEVERE"
    }
}

impl std::fmt::Display for LogEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.source.as_deref().unwrap_or("?");
        write!(f, "[{} {source}] {}", self.level, self.message)
    }
}

/// A chromedriver process, killed when dropped.
struct Driver {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
    /// What chromedriver printed, for failure messages.
    output: Arc<Mutex<String>>,
}

impl Driver {
    /// Starts `chromedriver --port=0` and reads the port it chose from its output: no race
    /// with another process for a port picked beforehand.
    fn start() -> Driver {
        let mut child = Command::new(CHROMEDRIVER)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {CHROMEDRIVER} ({e}): install Debian's chromium and \
                     chromium-driver (tests/run does)"
                )
            });
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (port_tx, port) = std::sync::mpsc::channel();
        let collected = Arc::clone(&output);
        std::thread::spawn(move || {
            // Reads on to the end, so chromedriver never blocks on a full pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let _ = port_tx.send(rest.trim_end_matches('.').trim().to_owned());
                }
                if let Ok(mut text) = collected.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        let collected = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            if let Ok(mut all) = collected.lock() {
                all.push_str(&text);
            }
        });
        let mut driver = Driver {
            child,
            base: String::new(),
            output,
        };
        match port.recv_timeout(DRIVER_START) {
            Ok(port) => driver.base = format!("http://127.0.0.1:{port}"),
            Err(_) => panic!(
                "chromedriver did not say which port it listens on within {DRIVER_START:?}; \
                 exit status {:?}; output:\n{}",
                driver.child.try_wait(),
                driver.output()
            ),
        }
        driver
    }

    fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Polls `GET /status` until chromedriver says it is ready for sessions.
    async fn wait_ready(&self) {
        let client = http();
        let url = format!("{}/status", self.base);
        eventually("chromedriver /status to say ready", DRIVER_START, || {
            let request = client.get(&url).send();
            async move {
                let status: Value = request.await.ok()?.json().await.ok()?;
                (status["value"]["ready"] == true).then_some(())
            }
        })
        .await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session. Call [`Browser::close`] at the end of a test; if a test
/// panics first, dropping it kills Chromium and chromedriver.
pub struct Browser {
    pub client: Client,
    session: String,
    /// Chromium's own process, as chromedriver reported it.
    chromium_pid: Option<u64>,
    driver: Driver,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and opens a session on a fresh profile, the window `WIDTH` wide.
    pub async fn start() -> Browser {
        let turn = ONE_AT_A_TIME.lock().await;
        let driver = Driver::start();
        driver.wait_ready().await;
        let profile = tempfile::Builder::new()
            .prefix("tidemark-chromium-")
            .tempdir()
            .expect("a temporary Chromium profile");
        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--window-size={WIDTH},{HEIGHT}"));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.base)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver did not open a Chromium session ({e}); its output:\n{}",
                    driver.output()
                )
            });
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session id");
        let chromium_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(Value::as_u64);
        Browser {
            client,
            session,
            chromium_pid,
            driver,
            _profile: profile,
            _turn: turn,
        }
    }

    /// Opens `url` and waits for its load event (stylesheets and images included).
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// Every console entry since the last call (chromedriver hands each one out once).
    pub async fn console(&self) -> Vec<LogEntry> {
        let url = format!("{}/session/{}/se/log", self.driver.base, self.session);
        let reply = http()
            .post(&url)
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = reply.status();
        let body: Value = reply.json().await.expect("chromedriver answers JSON");
        assert!(
            status.is_success(),
            "chromedriver refused the log command ({status}): {body}"
        );
        serde_json::from_value(body["value"].clone())
            .unwrap_or_else(|e| panic!("unexpected log entries ({e}): {body}"))
    }

    /// The console errors since the last read.
    pub async fn console_errors(&self) -> Vec<LogEntry> {
        self.console()
            .await
            .into_iter()
            .filter(LogEntry::is_error)
            .collect()
    }

    /// Opens `url` and asserts that the console shows no error for it.
    pub async fn open_cleanly(&self, url: &str) {
        // Whatever came before is not this page's.
        let earlier = self.console_errors().await;
        assert!(
            earlier.is_empty(),
            "console errors before opening {url}:\n{}",
            lines(&earlier)
        );
        self.open(url).await;
        let errors = self.console_errors().await;
        assert!(
            errors.is_empty(),
            "{url} logged console errors:\n{}",
            lines(&errors)
        );
    }

    /// The text of the first element `css` matches.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
            .text()
            .await
            .unwrap_or_else(|e| panic!("the text of {css}: {e}"))
    }

    /// How many elements `css` matches.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"))
            .len()
    }

    /// The current address.
    pub async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("the current URL")
            .to_string()
    }

    /// A PNG of the page, `WIDTH` wide and as tall as the document up to `MAX_SHOT`: the
    /// window is resized first (a WebDriver screenshot shows the viewport only).
    pub async fn screenshot(&self) -> Vec<u8> {
        let height = self
            .client
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight)",
                Vec::new(),
            )
            .await
            .expect("the document's height")
            .as_u64()
            .unwrap_or(u64::from(HEIGHT));
        let height = u32::try_from(height).unwrap_or(HEIGHT).clamp(400, MAX_SHOT);
        self.client
            .set_window_size(WIDTH, height)
            .await
            .expect("resize the window");
        // The window's size is its outer size: grow it by what the viewport lacks, or a
        // scrollbar shows and the page's foot is cut.
        let inner = self
            .client
            .execute("return window.innerHeight", Vec::new())
            .await
            .expect("the viewport's height")
            .as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .unwrap_or(height);
        if inner < height {
            self.client
                .set_window_size(WIDTH, height + (height - inner))
                .await
                .expect("resize the window");
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        self.client
            .set_window_size(WIDTH, HEIGHT)
            .await
            .expect("resize the window back");
        png
    }

    /// Ends the session (Chromium quits), then chromedriver.
    pub async fn close(mut self) {
        let client = self.client.clone();
        if client.close().await.is_ok() {
            // Chromium is gone: nothing left for Drop to kill.
            self.chromium_pid = None;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed before close(): chromedriver alone would leave Chromium behind.
        if let Some(pid) = self.chromium_pid {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// Entries one per line, for assertion messages.
pub fn lines(entries: &[LogEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("  {e}\n"))
        .collect::<String>()
}
