//! `GET /inbox`: the alerts the project's `inbox` channels received, newest first, each as
//! Slack and email would have shown it ([`crate::alerts::inbox`]). The email's plain-text
//! part is shown, not its HTML part: the page escapes everything it prints and never embeds
//! markup made elsewhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::views::moment;
use super::{Dashboard, PageError, Viewer};
use crate::alerts::inbox::{self, InboxError, InboxMessage};
use crate::web::AppState;

/// How many alerts the page lists.
const LISTED: usize = 100;

#[derive(Serialize)]
pub struct InboxPage {
    title: &'static str,
    messages: Vec<Row>,
    /// The project has at least one inbox channel.
    has_inbox: bool,
}

#[derive(Serialize)]
struct Row {
    id: i64,
    subject: String,
    channel: String,
    transition: &'static str,
    at: String,
    incident_link: String,
    slack: String,
    email: String,
}

impl From<InboxMessage> for Row {
    fn from(message: InboxMessage) -> Row {
        Row {
            id: message.id,
            subject: message.subject,
            channel: message.channel,
            transition: message.transition,
            at: moment(message.at),
            // Relative: this server is the dashboard, whatever `dashboard_url` says.
            incident_link: format!("/incidents/{}", message.incident_id),
            slack: message.slack,
            email: message.email,
        }
    }
}

pub(super) async fn page(State(dashboard): State<Dashboard>, viewer: Viewer) -> Response {
    dashboard.respond(&viewer, inbox_page(&dashboard.state).await)
}

async fn inbox_page(state: &AppState) -> Result<(&'static str, InboxPage), PageError> {
    let project = state.project();
    let messages = inbox::messages(&state.store, &project, LISTED)
        .await
        .map_err(|error| match error {
            InboxError::Store(e) => PageError::from(e),
            InboxError::Templates(e) => {
                tracing::error!("dashboard: the inbox cannot render alerts: {e}");
                PageError::Failed(StatusCode::INTERNAL_SERVER_ERROR)
            }
        })?;
    let has_inbox = project
        .channels
        .values()
        .any(|c| matches!(c, crate::spec::Channel::Inbox));
    Ok((
        "inbox",
        InboxPage {
            title: "Inbox",
            messages: messages.into_iter().map(Row::from).collect(),
            has_inbox,
        },
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dashboard::render::Pages;

    #[test]
    fn alerts_are_shown_as_escaped_text_never_as_markup() {
        let pages = Pages::new().expect("the built-in templates compile");
        let row = Row {
            id: 1,
            subject: "Failing: <b>orders</b>".into(),
            channel: "inbox".into(),
            transition: "opened",
            at: "2026-11-26 12:00 UTC".into(),
            incident_link: "/incidents/1".into(),
            slack: "*Dataset:* <script>alert(1)</script>".into(),
            email: "<img src=x onerror=alert(1)>".into(),
        };
        let mut data = json!(InboxPage {
            title: "Inbox",
            messages: vec![row],
            has_inbox: true,
        });
        data["viewer"] = json!({ "signed_in": false });
        let page = pages.render("inbox", &data).expect("the inbox renders");
        assert!(
            page.contains("Failing: &lt;b&gt;orders&lt;/b&gt;"),
            "{page}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(
            !page.contains("<script") && !page.contains("<img"),
            "{page}"
        );
        assert!(
            page.contains(r#"href="/inbox""#),
            "the layout links the inbox"
        );
    }
}
