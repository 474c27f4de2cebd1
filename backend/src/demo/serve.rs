//! `tidemark demo` served: prepares the project and its history, then serves it like
//! `tidemark serve`, with a sign-in token printed for acting on incidents.

use std::path::Path;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::server::{self, Options};
use crate::store::Store;

/// Where the demo's dashboard listens unless told: `serve`'s default port.
const LISTEN: &str = "127.0.0.1:8321";

/// Prepares the demo in `dir` and serves it until stopped; the exit code.
pub async fn serve(dir: &Path, listen: Option<String>, options: Options) -> anyhow::Result<u8> {
    eprintln!(
        "Generating the demo warehouse and {} days of history in {} …",
        super::HISTORY_DAYS,
        dir.display()
    );
    super::prepare(dir, true)
        .await
        .with_context(|| format!("cannot prepare the demo in {}", dir.display()))?;
    let listener = listener(listen).await?;
    let mut project = crate::spec::load(dir).map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the demo project is invalid:\n{}", lines.join("\n"))
    })?;
    // Always the demo's own embedded store (the one `prepare` emptied): a TIDEMARK_STORE_URL
    // in the environment must not receive made-up history.
    project.store = None;
    // Alerts link to this dashboard, wherever it ended up listening.
    if let Ok(address) = listener.local_addr() {
        project.dashboard_url = format!("http://{address}");
    }
    let store = Store::open(None, &project.root).await?;
    let runs = super::backfill(&store, &project, chrono::Utc::now())
        .await
        .context("cannot record the demo's history")?;
    eprintln!("Recorded {runs} past runs.");
    // Acting on incidents needs a signed-in user. The demo's store is a throwaway of this
    // terminal's user, so its token is shown here, as `tidemark token create` shows one.
    let token = token(&store)
        .await
        .context("cannot create the demo's sign-in token")?;
    drop(store);
    print_placed(dir);
    println!(
        "To acknowledge, resolve or mute incidents, sign in on the dashboard with the token {token}"
    );
    let code = server::serve_on(project, listener, options, |address| {
        format!("dashboard: http://{address}/")
    })
    .await;
    Ok(code)
}

/// A new API token in the demo's store.
async fn token(store: &Store) -> anyhow::Result<String> {
    let token = crate::web::auth::new_token()?;
    let hash = crate::web::auth::token_hash(&token);
    store.create_token("demo", &hash).await?;
    Ok(token)
}

/// Binds `listen`, or [`LISTEN`] falling back to a free port when it is taken.
async fn listener(listen: Option<String>) -> anyhow::Result<TcpListener> {
    let bound = match &listen {
        Some(listen) => TcpListener::bind(listen).await,
        None => match TcpListener::bind(LISTEN).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                TcpListener::bind("127.0.0.1:0").await
            }
            other => other,
        },
    };
    let listen = listen.as_deref().unwrap_or(LISTEN);
    bound.with_context(|| format!("cannot listen on {listen}"))
}

fn print_placed(dir: &Path) {
    println!("The demo data has these problems placed on purpose:");
    for problem in super::PLACED_PROBLEMS.iter().chain(super::PLACED_HISTORY) {
        println!("  - {problem}");
    }
    println!("The project is in {}.", dir.display());
}
