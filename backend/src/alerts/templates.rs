//! What a notification says: the [`Message`] a change is rendered from, and the handlebars
//! templates that render it for Slack and email.
//!
//! The templates ship in the binary (`templates/*.hbs`); a project may replace any of them
//! with a file of the same name in `alerts: {templates: folder}`. Each output escapes what it
//! needs, so no template can forget to: HTML for the email's HTML part, Slack's mrkdwn control
//! characters (`&`, `<`, `>`) for Slack, nothing for plain text and subjects (whose line
//! breaks are removed). Templates are compiled and test-rendered when alerting starts, so a
//! broken override is reported as `file:line:col` then, not at the first incident.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};

use crate::results::format_number;
use crate::spec::{Diagnostic, Location};
use crate::store::{ACTOR_CHECK, Incident, IncidentKind, RESOLVED_BY_API, Transition};

/// The template files, with the text shipped for each.
const BUILT_IN: [(&str, &str); 4] = [
    ("title.hbs", include_str!("templates/title.hbs")),
    ("slack.hbs", include_str!("templates/slack.hbs")),
    ("email.txt.hbs", include_str!("templates/email.txt.hbs")),
    ("email.html.hbs", include_str!("templates/email.html.hbs")),
];

/// Which outputs use which template: the title is a partial of all of them.
const TITLE: &str = "title";
const SLACK: &str = "slack";
const TEXT: &str = "email.txt";
const HTML: &str = "email.html";

/// What a notification says: the incident as it was at the change, for the templates.
/// Stored with the notification, so that a delivery days later still tells what happened
/// then; only the downstream incidents folded into it are looked up at delivery.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    pub transition: String,
    pub opened: bool,
    pub reopened: bool,
    pub reminder: bool,
    pub resolved: bool,
    /// The check could not run (rather than: the data failed it).
    pub error: bool,
    pub sla: bool,
    pub resolved_by_api: bool,
    /// Who changed the incident by hand (an API token's name); empty for the check's own
    /// changes.
    pub acted_by: String,
    pub severity: String,
    pub dataset: String,
    pub check: String,
    pub owner: String,
    pub value: String,
    pub expected: String,
    pub message: String,
    /// When the incident opened, e.g. `2026-03-10 12:00 UTC`.
    pub since: String,
    pub count: i64,
    pub incident_id: i64,
    /// The dataset's page in the dashboard.
    pub link: String,
    /// The incident's page in the dashboard, where it is acknowledged, resolved or muted;
    /// set at delivery ([`Message::at_delivery`]), once the incident has its id.
    pub incident_link: String,
    /// Active downstream incidents whose likely cause this one is.
    pub folded: Vec<Folded>,
    /// Datasets downstream of this one in the lineage graph (to any depth, nearest first):
    /// what the incident puts at risk; at most [`AT_RISK_LISTED`].
    pub downstream: Vec<AtRisk>,
    /// How many more downstream datasets there are than `downstream` lists.
    pub downstream_more: usize,
    /// The owners of every downstream dataset (listed or not), each once, by name.
    pub downstream_owners: Vec<String>,
}

/// How many downstream datasets a notification names; the rest are counted.
pub const AT_RISK_LISTED: usize = 10;

/// A dataset downstream of an incident's dataset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AtRisk {
    pub dataset: String,
    /// Its owner in the project; empty when it has none (or is not a project dataset).
    pub owner: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Folded {
    pub dataset: String,
    pub check: String,
    pub link: String,
}

impl Message {
    /// Completes a stored message for delivery: a new incident had no id when its
    /// message was stored.
    pub fn at_delivery(&mut self, incident_id: i64, dashboard_url: &str) {
        self.incident_id = incident_id;
        self.incident_link = format!(
            "{}/incidents/{incident_id}",
            dashboard_url.trim_end_matches('/')
        );
    }

    pub fn new(
        incident: &Incident,
        transition: Transition,
        owner: Option<&str>,
        dashboard_url: &str,
    ) -> Message {
        Message {
            transition: transition.as_str().to_owned(),
            opened: transition == Transition::Opened,
            reopened: transition == Transition::Reopened,
            reminder: transition == Transition::Reminder,
            resolved: transition == Transition::Resolved,
            error: incident.kind == IncidentKind::Error,
            sla: incident.sla,
            resolved_by_api: incident.resolved_by.as_deref() == Some(RESOLVED_BY_API),
            severity: incident.severity.as_str().to_owned(),
            dataset: incident.dataset.clone(),
            check: incident.check.clone(),
            owner: owner.unwrap_or("none").to_owned(),
            value: incident
                .value
                .map_or_else(|| "none".to_owned(), format_number),
            expected: incident
                .expected
                .as_ref()
                .map_or_else(|| "none".to_owned(), expectation),
            message: incident.message.clone(),
            since: moment(incident.opened_at),
            count: incident.count,
            incident_id: incident.id,
            link: dataset_link(dashboard_url, &incident.dataset),
            ..Message::default()
        }
    }

    /// The message naming who made the change, when a person did ([`Message::acted_by`]).
    pub fn acted_by(self, actor: Option<&str>) -> Message {
        let actor = actor
            .filter(|actor| *actor != ACTOR_CHECK)
            .unwrap_or_default();
        Message {
            acted_by: actor.to_owned(),
            ..self
        }
    }

    /// The message naming what is downstream (`at_risk`, nearest first): the first
    /// [`AT_RISK_LISTED`] and how many more, and all their owners.
    pub fn with_downstream(self, at_risk: &[AtRisk]) -> Message {
        let mut owners: Vec<String> = at_risk
            .iter()
            .filter(|d| !d.owner.is_empty())
            .map(|d| d.owner.clone())
            .collect();
        owners.sort();
        owners.dedup();
        Message {
            downstream: at_risk.iter().take(AT_RISK_LISTED).cloned().collect(),
            downstream_more: at_risk.len().saturating_sub(AT_RISK_LISTED),
            downstream_owners: owners,
            ..self
        }
    }
}

impl Folded {
    pub fn new(incident: &Incident, dashboard_url: &str) -> Folded {
        Folded {
            dataset: incident.dataset.clone(),
            check: incident.check.clone(),
            link: dataset_link(dashboard_url, &incident.dataset),
        }
    }
}

/// `<dashboard>/datasets/<name>`, the name percent-encoded as one path segment.
pub fn dataset_link(dashboard_url: &str, dataset: &str) -> String {
    let mut link = format!("{}/datasets/", dashboard_url.trim_end_matches('/'));
    push_segment(&mut link, dataset);
    link
}

/// The dashboard page of one check of a dataset: `<dataset link>/checks/<check>`, the
/// check's name encoded like the dataset's (names like `avg(amount)` or `a/b` stay one
/// segment).
pub fn check_link(dashboard_url: &str, dataset: &str, check: &str) -> String {
    let mut link = dataset_link(dashboard_url, dataset);
    link.push_str("/checks/");
    push_segment(&mut link, check);
    link
}

/// Appends `name` as one URL path segment: everything but unreserved bytes percent-encoded.
fn push_segment(link: &mut String, name: &str) {
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            link.push(char::from(byte));
        } else {
            link.push_str(&format!("%{byte:02X}"));
        }
    }
}

fn moment(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A result's `expected` for people: `{"max": 0}` → `max 0`, `{"between": [10, 500]}` →
/// `between 10 and 500`, levels as `warn: max 10; fail: max 100`, an anomaly threshold as
/// `within the learned band`, with its settings in parentheses when it has any. Settings
/// left unset (`null`) are left out.
pub fn expectation(expected: &serde_json::Value) -> String {
    use serde_json::Value;
    match expected {
        Value::Object(entries) => entries
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| match value {
                Value::Object(_) if key == "anomaly" => {
                    let settings = expectation(value);
                    if settings.is_empty() {
                        "within the learned band".to_owned()
                    } else {
                        format!("within the learned band ({settings})")
                    }
                }
                Value::Object(_) => format!("{key}: {}", expectation(value)),
                _ => format!("{key} {}", expectation(value)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::Array(items) => items
            .iter()
            .map(expectation)
            .collect::<Vec<_>>()
            .join(" and "),
        Value::Number(number) => number
            .as_f64()
            .map_or_else(|| number.to_string(), format_number),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A rendered email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A rendered Slack message: `text` is the notification's one-line fallback, `body` the
/// mrkdwn of its main block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slack {
    pub text: String,
    pub body: String,
}

/// The compiled templates, one registry per escaping.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    slack: Handlebars<'static>,
}

impl Templates {
    /// The built-in templates, with those found in `overrides` (a folder) in their place.
    /// Every problem is a diagnostic at the template file's line and column.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, Vec<Diagnostic>> {
        let mut problems = Vec::new();
        if let Some(folder) = overrides {
            problems.extend(unknown_files(folder));
        }
        let mut templates = Templates {
            html: registry(handlebars::html_escape),
            text: registry(handlebars::no_escape),
            slack: registry(escape_mrkdwn),
        };
        for (file, built_in) in BUILT_IN {
            let source = Source::find(overrides, file, built_in);
            if let Err(problem) = templates.register(file, &source) {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            problems.extend(templates.try_rendering(overrides));
        }
        if problems.is_empty() {
            Ok(templates)
        } else {
            Err(problems)
        }
    }

    pub fn email(&self, message: &Message) -> Result<Email, handlebars::RenderError> {
        let subject = self.text.render(TITLE, message)?;
        Ok(Email {
            subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
            text: self.text.render(TEXT, message)?,
            html: self.html.render(HTML, message)?,
        })
    }

    pub fn slack(&self, message: &Message) -> Result<Slack, handlebars::RenderError> {
        Ok(Slack {
            text: self.slack.render(TITLE, message)?.trim().to_owned(),
            body: self.slack.render(SLACK, message)?.trim().to_owned(),
        })
    }

    /// Registers one template file in the registries that use it.
    fn register(&mut self, file: &str, source: &Source) -> Result<(), Diagnostic> {
        let name = file.trim_end_matches(".hbs");
        let text = if name == TITLE {
            source.text.trim_end()
        } else {
            source.text.as_str()
        };
        let registries: Vec<&mut Handlebars<'static>> = match name {
            TITLE => vec![&mut self.html, &mut self.text, &mut self.slack],
            SLACK => vec![&mut self.slack],
            TEXT => vec![&mut self.text],
            _ => vec![&mut self.html],
        };
        for registry in registries {
            registry
                .register_template_string(name, text)
                .map_err(|e| source.diagnostic(e.pos(), &e.reason().to_string()))?;
        }
        Ok(())
    }

    /// Renders every template with an example message: a template naming a field that
    /// does not exist fails now, not at the first incident.
    fn try_rendering(&self, overrides: Option<&Path>) -> Vec<Diagnostic> {
        let example = Message::example();
        let mut problems = Vec::new();
        let renders = [
            (SLACK, self.slack.render(SLACK, &example)),
            (TEXT, self.text.render(TEXT, &example)),
            (HTML, self.html.render(HTML, &example)),
        ];
        for (name, rendered) in renders {
            if let Err(e) = rendered {
                // The error names the template it happened in (maybe the title partial).
                let file = format!("{}.hbs", e.template_name.as_deref().unwrap_or(name));
                let source = Source::find(overrides, &file, "");
                let at = e.line_no.zip(e.column_no);
                problems.push(source.diagnostic(at, &e.reason().to_string()));
            }
        }
        problems
    }
}

impl Message {
    /// Every field set, the way a real notification has them.
    fn example() -> Message {
        Message {
            transition: "opened".into(),
            opened: true,
            severity: "high".into(),
            dataset: "analytics.orders".into(),
            check: "row_count".into(),
            owner: "orders-team".into(),
            value: "0".into(),
            expected: "min 1".into(),
            message: "0 rows (expected at least 1)".into(),
            since: "2026-03-10 12:00 UTC".into(),
            count: 1,
            incident_id: 1,
            link: "http://127.0.0.1:8321/datasets/analytics.orders".into(),
            folded: vec![Folded::default()],
            downstream: vec![AtRisk {
                dataset: "analytics.revenue".into(),
                owner: "finance".into(),
            }],
            downstream_more: 2,
            downstream_owners: vec!["finance".into()],
            ..Message::default()
        }
    }
}

/// A registry that escapes with `escape` and refuses unknown fields.
fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.register_escape_fn(escape);
    registry.set_strict_mode(true);
    registry
}

/// Slack's mrkdwn reads `<…>` as links and mentions (`<!channel>`) and `&` as an entity.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A template's text and where it came from.
struct Source {
    text: String,
    /// The override file; `None` for a built-in template.
    file: Option<Arc<PathBuf>>,
    name: String,
}

impl Source {
    /// The override of `file` in `folder` if there is one (an unreadable override becomes
    /// a template that fails to parse, reported at its line 1), else the built-in text.
    fn find(folder: Option<&Path>, file: &str, built_in: &str) -> Source {
        let path = folder
            .map(|folder| folder.join(file))
            .filter(|p| p.is_file());
        match path {
            Some(path) => Source {
                text: std::fs::read_to_string(&path).unwrap_or_else(|_| "{{".to_owned()),
                file: Some(Arc::new(path)),
                name: file.to_owned(),
            },
            None => Source {
                text: built_in.to_owned(),
                file: None,
                name: file.to_owned(),
            },
        }
    }

    fn diagnostic(&self, at: Option<(usize, usize)>, message: &str) -> Diagnostic {
        let (line, column) = at.unwrap_or((1, 1));
        Diagnostic {
            location: self.file.as_ref().map(|file| Location {
                file: Arc::clone(file),
                line,
                column,
            }),
            message: format!("template {}: {message}", self.name),
        }
    }
}

/// `.hbs` files in the overrides folder that replace nothing (a misspelt name).
fn unknown_files(folder: &Path) -> Vec<Diagnostic> {
    let known: Vec<&str> = BUILT_IN.iter().map(|(file, _)| *file).collect();
    let entries = std::fs::read_dir(folder).into_iter().flatten().flatten();
    entries
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            (name.ends_with(".hbs") && !known.contains(&name.as_str())).then(|| Diagnostic {
                location: Some(Location {
                    file: Arc::new(entry.path()),
                    line: 1,
                    column: 1,
                }),
                message: format!(
                    "unknown template {name}: a project can replace {}",
                    known.join(", ")
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::load(None).unwrap_or_else(|problems| panic!("{problems:?}"))
    }

    fn hostile() -> Message {
        Message {
            dataset: "evil.<script>alert(1)</script>".into(),
            check: "row_count & <!channel>".into(),
            message: "\"quoted\" <b>bold</b> & more\nSubject: injected".into(),
            ..Message::example()
        }
    }

    #[test]
    fn the_built_in_templates_render_every_transition() {
        let templates = templates();
        for (transition, title) in [
            ("opened", "Check failed: analytics.orders · row_count"),
            ("reopened", "Failing again: analytics.orders · row_count"),
            ("reminder", "Still failing: analytics.orders · row_count"),
            ("resolved", "Resolved: analytics.orders · row_count"),
        ] {
            let message = Message {
                opened: transition == "opened",
                reopened: transition == "reopened",
                reminder: transition == "reminder",
                resolved: transition == "resolved",
                ..Message::example()
            };
            let email = templates.email(&message).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(email.subject, title);
            assert!(
                email.html.contains(&format!("<h2>{title}</h2>")),
                "{}",
                email.html
            );
            let slack = templates.slack(&message).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(slack.text, title);
            assert!(
                slack.body.starts_with(&format!("*{title}*")),
                "{}",
                slack.body
            );
        }
    }

    #[test]
    fn errors_and_sla_breaches_are_worded_apart() {
        let templates = templates();
        let error = Message {
            error: true,
            ..Message::example()
        };
        let email = templates.email(&error).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            email.subject,
            "Check cannot run: analytics.orders · row_count"
        );
        assert!(
            email
                .text
                .contains("could not run, so the data was not judged")
        );
        assert!(!email.text.contains("Expected:"));
        let sla = Message {
            sla: true,
            ..Message::example()
        };
        let slack = templates.slack(&sla).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(slack.text, "SLA breached: analytics.orders · row_count");
        assert!(
            slack.body.contains("*Severity:* high (SLA)"),
            "{}",
            slack.body
        );
    }

    #[test]
    fn hostile_names_and_messages_are_escaped_for_each_output() {
        let templates = templates();
        let email = templates
            .email(&hostile())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(
            email
                .html
                .contains("evil.&lt;script&gt;alert(1)&lt;/script&gt;")
        );
        assert!(
            email
                .html
                .contains("&quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt; &amp; more")
        );
        assert!(
            email.text.contains("\"quoted\" <b>bold</b> & more"),
            "plain text stays plain"
        );
        assert!(!email.subject.contains('\n'));
        let slack = templates
            .slack(&hostile())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            slack.body.contains("row_count &amp; &lt;!channel&gt;"),
            "{}",
            slack.body
        );
        assert!(!slack.body.contains("<!channel>"));
        assert!(!slack.text.contains("<script>"));
        // The link's own brackets stay: the dataset in it is percent-encoded.
        assert!(
            slack
                .body
                .contains("<http://127.0.0.1:8321/datasets/analytics.orders|")
        );
    }

    #[test]
    fn downstream_datasets_are_capped_and_their_owners_named_once() {
        let at_risk: Vec<AtRisk> = (0..13)
            .map(|i| AtRisk {
                dataset: format!("d{i:02}"),
                owner: if i % 2 == 0 { "even" } else { "" }.into(),
            })
            .collect();
        let message = Message::example().with_downstream(&at_risk);
        assert_eq!(
            (message.downstream.len(), message.downstream_more),
            (AT_RISK_LISTED, 3)
        );
        assert_eq!(message.downstream_owners, ["even"]);
        let templates = templates();
        let slack = templates.slack(&message).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            slack.body.contains(
                "*At risk downstream:* d00 (even), d01, d02 (even), d03, d04 (even), d05, \
                 d06 (even), d07, d08 (even), d09 and 3 more\n*Owners to tell:* even\n"
            ),
            "{}",
            slack.body
        );
        let email = templates.email(&message).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            email
                .text
                .contains("  - d09\n  - and 3 more\nOwners to tell: even\n"),
            "{}",
            email.text
        );
        let resolved = Message {
            resolved: true,
            ..message
        };
        let email = templates.email(&resolved).unwrap_or_else(|e| panic!("{e}"));
        assert!(!email.text.contains("At risk"), "{}", email.text);
        assert!(!email.html.contains("At risk"), "{}", email.html);
    }

    #[test]
    fn dataset_links_encode_the_name_as_one_segment() {
        assert_eq!(
            dataset_link("http://tm.example/", "shop.Order Items/<x>"),
            "http://tm.example/datasets/shop.Order%20Items%2F%3Cx%3E"
        );
        assert_eq!(
            check_link("", "orders", "avg(amount)/x"),
            "/datasets/orders/checks/avg%28amount%29%2Fx"
        );
    }

    #[test]
    fn expectations_read_as_words() {
        let read = |v: serde_json::Value| expectation(&v);
        assert_eq!(read(serde_json::json!({"max": 0})), "max 0");
        assert_eq!(
            read(serde_json::json!({"between": [10, 500.5]})),
            "between 10 and 500.5"
        );
        assert_eq!(
            read(serde_json::json!({"warn": {"max": 10}, "fail": {"max": 100}})),
            "fail: max 100; warn: max 10"
        );
        // An anomaly threshold's unset settings are left out.
        assert_eq!(
            read(serde_json::json!({"anomaly": {"sensitivity": null, "direction": null}})),
            "within the learned band"
        );
        assert_eq!(
            read(serde_json::json!({
                "warn": {"max": 10},
                "anomaly": {"sensitivity": "high", "direction": null}
            })),
            "within the learned band (sensitivity high); warn: max 10"
        );
    }

    #[test]
    fn overrides_replace_built_ins_and_their_mistakes_are_located() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("title.hbs"), "ALERT {{dataset}}").ok();
        let templates = Templates::load(Some(dir.path())).unwrap_or_else(|p| panic!("{p:?}"));
        let email = templates
            .email(&Message::example())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(email.subject, "ALERT analytics.orders");

        std::fs::write(dir.path().join("slack.hbs"), "ok\n{{#if opened}}unclosed").ok();
        std::fs::write(dir.path().join("email.txt.hbs"), "{{no_such_field}}").ok();
        std::fs::write(dir.path().join("sms.hbs"), "hi").ok();
        let problems = Templates::load(Some(dir.path())).err().unwrap_or_default();
        let shown: Vec<String> = problems.iter().map(|d| d.to_string()).collect();
        assert!(
            shown.iter().any(|p| p.contains("slack.hbs:2:")),
            "{shown:?}"
        );
        assert!(
            shown
                .iter()
                .any(|p| p.contains("sms.hbs:1:1: unknown template")),
            "{shown:?}"
        );
    }
}
