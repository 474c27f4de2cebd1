//! Actions the API asks of the scheduler: run a dataset now, reload the configuration. The
//! web layer never runs checks or reads project files itself; it sends a [`ServerCommand`]
//! and answers with the scheduler's reply.

use std::path::Path;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::oneshot;

use super::datasets::find_dataset;
use super::error::ApiError;
use super::params::ApiPath;
use super::{API_PREFIX, AppState, ServerCommand};
use crate::spec::Diagnostic;
use crate::spec::Redactor;

/// How long to wait for the scheduler to take a command and reply. It replies once a run is
/// recorded or the files are read, so only a stuck or stopping scheduler takes this long.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the command `make` builds around a reply channel and waits for the reply.
async fn ask<T>(
    state: &AppState,
    make: impl FnOnce(oneshot::Sender<T>) -> ServerCommand,
) -> Result<T, ApiError> {
    let (reply, answer) = oneshot::channel();
    let exchange = async {
        state.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
    };
    match tokio::time::timeout(REPLY_TIMEOUT, exchange).await {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => {
            tracing::warn!("the scheduler dropped an API command");
            Err(ApiError::SchedulerUnavailable)
        }
        Err(_) => {
            tracing::warn!("the scheduler did not answer an API command in {REPLY_TIMEOUT:?}");
            Err(ApiError::SchedulerUnavailable)
        }
    }
}

/// `POST /datasets/{name}/run`: 202 with the new run's id (and its URL in `Location`).
pub async fn run_dataset(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let project = state.project();
    find_dataset(&project, &name)?;
    let dataset = name.clone();
    let reply = ask(&state, |reply| ServerCommand::RunNow { dataset, reply }).await?;
    match reply {
        Ok(run_id) => {
            let location = HeaderValue::from_str(&format!("{API_PREFIX}/runs/{run_id}")).ok();
            let body = Json(json!({ "run_id": run_id, "dataset": name }));
            let mut response = (StatusCode::ACCEPTED, body).into_response();
            if let Some(location) = location {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Err(message) => Err(ApiError::RunRefused(Redactor::new(&project).text(&message))),
    }
}

/// `POST /reload`: 200 once the new configuration is in force; 422 with every problem
/// (`path:line:col: message`, paths relative to the project) when it is invalid.
pub async fn reload(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let root = state.project().root.clone();
    match ask(&state, |reply| ServerCommand::Reload { reply }).await? {
        Ok(()) => Ok(Json(json!({ "status": "reloaded" }))),
        Err(diagnostics) => Err(ApiError::InvalidConfiguration(
            diagnostics.iter().map(|d| relative(d, &root)).collect(),
        )),
    }
}

/// A diagnostic as `path:line:col: message` with the path relative to the project root, so
/// that responses do not show the server's directory layout.
fn relative(diagnostic: &Diagnostic, root: &Path) -> String {
    match &diagnostic.location {
        Some(location) => {
            let file = location.file.strip_prefix(root).unwrap_or(&location.file);
            format!(
                "{}:{}:{}: {}",
                file.display(),
                location.line,
                location.column,
                diagnostic.message
            )
        }
        None => diagnostic.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::spec::Location;

    #[test]
    fn diagnostics_show_paths_relative_to_the_project() {
        let diagnostic = Diagnostic {
            location: Some(Location {
                file: Arc::new(PathBuf::from("/srv/project/checks/orders.yml")),
                line: 3,
                column: 5,
            }),
            message: "unknown key".into(),
        };
        assert_eq!(
            relative(&diagnostic, Path::new("/srv/project")),
            "checks/orders.yml:3:5: unknown key"
        );
        assert_eq!(
            relative(&diagnostic, Path::new("/elsewhere")),
            "/srv/project/checks/orders.yml:3:5: unknown key"
        );
    }
}
