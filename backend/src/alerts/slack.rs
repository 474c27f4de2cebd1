//! Slack incoming webhooks: a Block Kit message (what broke, value against expected, since
//! when, owner, and a button to the dataset in the dashboard) POSTed as JSON. Slack answers
//! `429` with `Retry-After` when a webhook is sent too much; that wait is honoured.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};

use super::outbox::Attempt;
use super::templates::Slack;

/// Slack cuts a section's text at 3,000 characters; cutting it ourselves keeps the message
/// valid.
const MAX_SECTION: usize = 3_000;
/// The longest `Retry-After` taken at its word: a longer one is the backoff's business.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// How much of an error body is kept with a failed attempt.
const MAX_ERROR_BODY: usize = 200;

/// The Block Kit payload of a rendered message; `link` is the dataset's dashboard page.
pub fn payload(message: &Slack, link: &str) -> Value {
    json!({
        "text": message.text,
        "blocks": [
            {
                "type": "section",
                "text": { "type": "mrkdwn", "text": truncated(&message.body, MAX_SECTION) },
            },
            {
                "type": "actions",
                "elements": [{
                    "type": "button",
                    "text": { "type": "plain_text", "text": "Open in Tidemark" },
                    "url": link,
                }],
            },
        ],
    })
}

/// Posts `payload` to the webhook. `key` goes along as `Idempotency-Key`, for receivers that
/// deduplicate. Errors never contain the webhook URL (it is a secret).
pub async fn post(client: &reqwest::Client, webhook: &str, payload: &Value, key: &str) -> Attempt {
    let sent = client
        .post(webhook)
        .header(CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", key)
        .json(payload)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            return Attempt::Retry {
                after: None,
                error: format!("Slack webhook: {}", e.without_url()),
            };
        }
    };
    let status = response.status();
    let retry_after = retry_after(response.headers());
    if status.is_success() {
        return Attempt::Delivered;
    }
    let body = response.text().await.unwrap_or_default();
    let error = format!(
        "Slack webhook answered {status}: {}",
        truncated(body.trim(), MAX_ERROR_BODY)
    );
    classify(status, retry_after, error)
}

/// Rate limits and server trouble are worth another try; any other refusal (a removed
/// webhook, an invalid payload) is not.
fn classify(status: StatusCode, retry_after: Option<Duration>, error: String) -> Attempt {
    if status == StatusCode::TOO_MANY_REQUESTS {
        Attempt::Retry {
            after: retry_after,
            error,
        }
    } else if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        Attempt::Retry { after: None, error }
    } else {
        Attempt::Refused(error)
    }
}

/// `Retry-After: <seconds>`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn payloads_are_block_kit_with_a_link_button() {
        let slack = Slack {
            text: "Check failed: a · b".into(),
            body: "*Check failed: a · b*".into(),
        };
        let payload = payload(&slack, "http://tm/datasets/a");
        assert_eq!(payload["text"], "Check failed: a · b");
        assert_eq!(payload["blocks"][0]["text"]["type"], "mrkdwn");
        assert_eq!(
            payload["blocks"][1]["elements"][0]["url"],
            "http://tm/datasets/a"
        );
    }

    #[test]
    fn long_sections_are_cut_within_slacks_limit() {
        let long = "é".repeat(5_000);
        assert_eq!(truncated(&long, MAX_SECTION).chars().count(), MAX_SECTION);
        assert_eq!(truncated("short", 10), "short");
    }

    #[test]
    fn statuses_are_classified() {
        let retry = |a: &Attempt| matches!(a, Attempt::Retry { .. });
        assert!(retry(&classify(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            String::new()
        )));
        assert!(retry(&classify(
            StatusCode::BAD_GATEWAY,
            None,
            String::new()
        )));
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None, "gone".into()),
            Attempt::Refused(e) if e == "gone"
        ));
        let limited = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(3)),
            String::new(),
        );
        assert!(matches!(limited, Attempt::Retry { after: Some(d), .. } if d.as_secs() == 3));
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_static(value));
            retry_after(&headers)
        };
        assert_eq!(with("7"), Some(Duration::from_secs(7)));
        assert_eq!(with("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(with("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
