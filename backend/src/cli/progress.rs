//! A one-line progress indicator on stderr for runs that take more than a moment. Silent
//! when stderr is not a terminal, so CI logs and pipes stay clean.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::runner::Progress;

/// Runs shorter than this show no indicator at all.
const QUIET_FOR: Duration = Duration::from_millis(400);
const TICK: Duration = Duration::from_millis(120);
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub struct ProgressLine {
    done: Arc<AtomicUsize>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressLine {
    pub fn start(total: usize) -> Self {
        let done = Arc::new(AtomicUsize::new(0));
        let ticker = std::io::stderr().is_terminal().then(|| {
            let done = done.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                tokio::time::sleep(QUIET_FOR).await;
                let mut interval = tokio::time::interval(TICK);
                for frame in SPINNER.iter().cycle() {
                    interval.tick().await;
                    let finished = done.load(Ordering::Relaxed);
                    let elapsed = started.elapsed().as_secs_f64();
                    eprint!("\r\x1b[2K{frame} {finished}/{total} datasets checked · {elapsed:.1}s");
                    let _ = std::io::stderr().flush();
                }
            })
        });
        Self { done, ticker }
    }

    /// Stops the indicator and clears its line.
    pub fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
            eprint!("\r\x1b[2K");
        }
    }
}

impl Progress for ProgressLine {
    fn dataset_done(&self, done: usize) {
        self.done.store(done, Ordering::Relaxed);
    }
}
