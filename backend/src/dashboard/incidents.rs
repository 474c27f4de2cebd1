//! The incident pages: `/incidents` lists them by status, each with its likely upstream
//! cause and the datasets downstream it puts at risk; `/incidents/{id}` is one incident (the
//! stable address an alert links to) with its history and, for signed-in viewers, the
//! actions. Actions run [`alerts::act`], the state machine the API's actions and the checks
//! drive, so an incident resolved here is notified like any other resolution.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::session::{Viewer, see_other};
use super::views::{IncidentRow, moment};
use super::{Dashboard, PageError};
use crate::alerts::{self, ActError, Action, Impact, dataset_link};
use crate::spec::Project;
use crate::store::{
    ACTOR_CHECK, EventKind, Incident, IncidentEvent, IncidentFilter, IncidentStatus, Notification,
    NotificationFilter, Page, StoreError,
};
use crate::web::{AppState, Health, Latest, Redactor};

/// How many incidents of each status the list shows: the newest.
const LISTED: u32 = 200;
/// How many of an incident's notifications its page lists: the newest.
const NOTIFICATIONS: u32 = 50;

/// The mute durations offered: the form's value, its label, and hours.
const MUTE_CHOICES: [(&str, &str, i64); 4] = [
    ("1h", "1 hour", 1),
    ("4h", "4 hours", 4),
    ("24h", "24 hours", 24),
    ("7d", "7 days", 7 * 24),
];

/// The tabs of the list: which incidents each shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tab {
    /// Open and acknowledged: what still needs someone (the default).
    Active,
    Open,
    Acknowledged,
    Resolved,
    /// Active and muted now.
    Muted,
}

impl Tab {
    const ALL: [Tab; 5] = [
        Tab::Active,
        Tab::Open,
        Tab::Acknowledged,
        Tab::Resolved,
        Tab::Muted,
    ];

    /// `?status=`: none (or empty) is the default tab.
    fn parse(status: Option<&str>) -> Option<Tab> {
        match status.map(str::trim).unwrap_or_default() {
            "" => Some(Tab::Active),
            "open" => Some(Tab::Open),
            "acknowledged" => Some(Tab::Acknowledged),
            "resolved" => Some(Tab::Resolved),
            "muted" => Some(Tab::Muted),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Active => "Needing attention",
            Tab::Open => "Open",
            Tab::Acknowledged => "Acknowledged",
            Tab::Resolved => "Resolved",
            Tab::Muted => "Muted",
        }
    }

    fn href(self) -> &'static str {
        match self {
            Tab::Active => "/incidents",
            Tab::Open => "/incidents?status=open",
            Tab::Acknowledged => "/incidents?status=acknowledged",
            Tab::Resolved => "/incidents?status=resolved",
            Tab::Muted => "/incidents?status=muted",
        }
    }

    /// The statuses the store is asked for.
    fn statuses(self) -> &'static [IncidentStatus] {
        use IncidentStatus::*;
        match self {
            Tab::Active | Tab::Muted => &[Open, Acknowledged],
            Tab::Open => &[Open],
            Tab::Acknowledged => &[Acknowledged],
            Tab::Resolved => &[Resolved],
        }
    }

    fn keeps(self, incident: &Incident, now: DateTime<Utc>) -> bool {
        self != Tab::Muted || is_muted(incident, now)
    }
}

fn is_muted(incident: &Incident, now: DateTime<Utc>) -> bool {
    incident.muted_until.is_some_and(|until| until > now)
}

fn incident_link(id: i64) -> String {
    format!("/incidents/{id}")
}

/// An upstream dataset that is failing now: the likely cause.
#[derive(Debug, Serialize)]
struct Upstream {
    name: String,
    link: String,
    health: &'static str,
    /// Its active incident, if it has one.
    incident: Option<String>,
}

/// A dataset downstream: put at risk.
#[derive(Debug, Serialize)]
struct Downstream {
    name: String,
    /// Its page, when the project declares it.
    link: Option<String>,
    owner: String,
}

/// What the pages know around incidents: the lineage graph, current health and the
/// active incidents, read once per page.
struct Surroundings {
    project: Arc<Project>,
    impact: Arc<Impact>,
    latest: Arc<Latest>,
    /// The active incident of each dataset that has one (the oldest, when several).
    active: HashMap<String, i64>,
    redactor: Redactor,
}

impl Surroundings {
    async fn read(state: &AppState) -> Result<Surroundings, PageError> {
        let project = state.project();
        let impact = state.impacts.current(&state.store, &project).await;
        let latest = Latest::current(state).await?;
        let names: Vec<String> = project.datasets.iter().map(|d| d.name.clone()).collect();
        let mut active = HashMap::new();
        for incident in state.store.latest_incidents(&names).await? {
            if incident.status.is_active() {
                let id = active.entry(incident.dataset).or_insert(incident.id);
                *id = (*id).min(incident.id);
            }
        }
        Ok(Surroundings {
            redactor: Redactor::new(&project),
            project,
            impact,
            latest,
            active,
        })
    }

    /// The datasets upstream of the incident's that are failing or have an active
    /// incident, nearest first.
    fn cause(&self, incident: &Incident) -> Vec<Upstream> {
        let Some(dataset) = self
            .project
            .datasets
            .iter()
            .find(|d| d.name == incident.dataset)
        else {
            return Vec::new();
        };
        let mut upstream: Vec<(usize, String)> = self
            .impact
            .upstream(dataset)
            .into_iter()
            .map(|(name, distance)| (distance, name))
            .collect();
        upstream.sort();
        upstream
            .into_iter()
            .filter_map(|(_, name)| self.failing(name))
            .collect()
    }

    fn failing(&self, name: String) -> Option<Upstream> {
        let dataset = self.project.datasets.iter().find(|d| d.name == name)?;
        let health = Health::of(self.latest.of(dataset).map(|r| r.result.outcome));
        let incident = self.active.get(&name).map(|id| incident_link(*id));
        let failing = matches!(health, Health::Fail | Health::Error);
        (failing || incident.is_some()).then(|| Upstream {
            link: dataset_link("", &name),
            name,
            health: health.as_str(),
            incident,
        })
    }

    /// Every dataset downstream of the incident's, nearest first, with its owner.
    fn impact(&self, incident: &Incident) -> Vec<Downstream> {
        self.impact
            .downstream(&incident.dataset, &self.project)
            .into_iter()
            .map(|at_risk| Downstream {
                link: self
                    .project
                    .datasets
                    .iter()
                    .any(|d| d.name == at_risk.dataset)
                    .then(|| dataset_link("", &at_risk.dataset)),
                name: at_risk.dataset,
                owner: at_risk.owner,
            })
            .collect()
    }

    fn row(&self, incident: &Incident, now: DateTime<Utc>) -> Row {
        Row {
            incident: IncidentRow::new(incident, &self.redactor),
            dataset: incident.dataset.clone(),
            dataset_link: dataset_link("", &incident.dataset),
            link: incident_link(incident.id),
            active: incident.status.is_active(),
            muted_until: incident
                .muted_until
                .filter(|_| is_muted(incident, now))
                .map(moment),
            folded_under: incident.cause.map(incident_link),
            cause: self.cause(incident),
            impact: self.impact(incident),
        }
    }
}

/// One incident as both pages show it.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    incident: IncidentRow,
    dataset: String,
    dataset_link: String,
    link: String,
    active: bool,
    muted_until: Option<String>,
    /// The incident it is folded under, when alerts judged an upstream one its cause.
    folded_under: Option<String>,
    cause: Vec<Upstream>,
    impact: Vec<Downstream>,
}

#[derive(Debug, Serialize)]
struct TabLink {
    label: &'static str,
    href: &'static str,
    current: bool,
}

/// `GET /incidents`.
#[derive(Debug, Serialize)]
struct ListPage {
    title: &'static str,
    tabs: Vec<TabLink>,
    rows: Vec<Row>,
    /// The list stopped at [`LISTED`] of a status.
    truncated: bool,
    limit: u32,
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    status: Option<String>,
}

/// `GET /incidents?status=open|acknowledged|resolved|muted`
pub(super) async fn list(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    dashboard.respond(&viewer, list_page(&dashboard.state, query).await)
}

async fn list_page(
    state: &AppState,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<(&'static str, ListPage), PageError> {
    let Query(query) = query.map_err(|e| PageError::BadRequest(e.body_text()))?;
    let tab = Tab::parse(query.status.as_deref()).ok_or_else(|| {
        PageError::BadRequest(
            "status must be one of open, acknowledged, resolved, muted (or none).".into(),
        )
    })?;
    let now = Utc::now();
    let mut incidents = Vec::new();
    let mut truncated = false;
    for status in tab.statuses() {
        let filter = IncidentFilter {
            dataset: None,
            status: Some(*status),
        };
        let page = Page {
            limit: LISTED,
            before: None,
        };
        let paged = state.store.incidents(&filter, page).await?;
        truncated |= paged.next.is_some();
        incidents.extend(paged.items);
    }
    incidents.retain(|i| tab.keeps(i, now));
    incidents.sort_by_key(|i| std::cmp::Reverse(i.id));
    let surroundings = Surroundings::read(state).await?;
    let tabs = Tab::ALL
        .into_iter()
        .map(|t| TabLink {
            label: t.label(),
            href: t.href(),
            current: t == tab,
        })
        .collect();
    Ok((
        "incidents",
        ListPage {
            title: "Incidents",
            tabs,
            rows: incidents.iter().map(|i| surroundings.row(i, now)).collect(),
            truncated,
            limit: LISTED,
        },
    ))
}

/// A moment in an incident's life.
#[derive(Debug, Serialize)]
struct Event {
    at: String,
    what: String,
    /// `check`, or the name of the token of whoever acted.
    who: String,
    /// The incident a `linked` event points at.
    link: Option<String>,
}

#[derive(Debug, Serialize)]
struct NotificationRow {
    created_at: String,
    transition: &'static str,
    channel: String,
    status: &'static str,
    attempts: i64,
}

impl NotificationRow {
    fn new(notification: &Notification) -> NotificationRow {
        NotificationRow {
            created_at: moment(notification.created_at),
            transition: notification.transition.as_str(),
            channel: notification.channel.clone(),
            status: notification.status.as_str(),
            attempts: notification.attempts,
        }
    }
}

#[derive(Debug, Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
}

/// `GET /incidents/{id}`.
#[derive(Debug, Serialize)]
struct IncidentPage {
    title: String,
    #[serde(flatten)]
    row: Row,
    /// Only an open incident can be acknowledged.
    can_acknowledge: bool,
    history: Vec<Event>,
    notifications: Vec<NotificationRow>,
    /// Active incidents folded under this one.
    folded: Vec<Row>,
    mute_choices: Vec<Choice>,
    /// Why the action just tried was refused.
    problem: Option<String>,
}

/// The incident's timeline, oldest first, with its latest failing result (repeats are not
/// events) where it falls. Messages are masked like the incident's own.
fn history(incident: &Incident, events: &[IncidentEvent], redactor: &Redactor) -> Vec<Event> {
    let mut timeline: Vec<(DateTime<Utc>, Event)> = events
        .iter()
        .map(|event| (event.at, Event::of(event, redactor)))
        .collect();
    if incident.count > 1 {
        let failing = Event {
            at: moment(incident.last_seen_at),
            what: format!("Last failing result ({} in all)", incident.count),
            who: ACTOR_CHECK.to_owned(),
            link: None,
        };
        timeline.push((incident.last_seen_at, failing));
    }
    timeline.sort_by_key(|(at, _)| *at);
    timeline.into_iter().map(|(_, event)| event).collect()
}

impl Event {
    fn of(event: &IncidentEvent, redactor: &Redactor) -> Event {
        let detail = redactor.option(event.detail.as_deref()).unwrap_or_default();
        let mut link = None;
        let what = match event.kind {
            EventKind::Opened => format!("Opened: {detail}"),
            EventKind::Reopened => format!("Failing again: {detail}"),
            EventKind::Acknowledged => "Acknowledged".to_owned(),
            EventKind::Muted => {
                let until = detail.parse::<DateTime<Utc>>().map(moment);
                format!("Muted until {}", until.unwrap_or(detail))
            }
            EventKind::Resolved => "Resolved".to_owned(),
            EventKind::Linked => {
                link = detail.parse().ok().map(incident_link);
                format!("Linked to its likely cause upstream, incident {detail}")
            }
        };
        Event {
            at: moment(event.at),
            what,
            who: event.actor.clone(),
            link,
        }
    }
}

#[derive(Deserialize)]
pub(super) struct IncidentPath {
    id: String,
}

/// `GET /incidents/{id}`
pub(super) async fn page(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    path: Result<Path<IncidentPath>, PathRejection>,
) -> Response {
    let id = path
        .map_err(|_| not_found())
        .and_then(|Path(p)| incident_id(&p.id));
    let page = match id {
        Ok(id) => incident_page(&dashboard.state, id, None).await,
        Err(error) => Err(error),
    };
    dashboard.respond(&viewer, page)
}

async fn incident_page(
    state: &AppState,
    id: i64,
    problem: Option<String>,
) -> Result<(&'static str, IncidentPage), PageError> {
    let incident = match state.store.incident(id).await {
        Err(StoreError::NotFound) => return Err(not_found()),
        other => other?,
    };
    let now = Utc::now();
    let surroundings = Surroundings::read(state).await?;
    let filter = NotificationFilter {
        status: None,
        incident: Some(id),
    };
    let page = Page {
        limit: NOTIFICATIONS,
        before: None,
    };
    let notifications = state.store.notifications(&filter, page).await?.items;
    let folded = state.store.incidents_caused_by(id).await?;
    let events = state.store.incident_events(id).await?;
    Ok((
        "incident",
        IncidentPage {
            title: format!("Incident {id}"),
            row: surroundings.row(&incident, now),
            can_acknowledge: incident.status == IncidentStatus::Open,
            history: history(&incident, &events, &surroundings.redactor),
            notifications: notifications.iter().map(NotificationRow::new).collect(),
            folded: folded.iter().map(|i| surroundings.row(i, now)).collect(),
            mute_choices: MUTE_CHOICES
                .iter()
                .map(|(value, label, _)| Choice { value, label })
                .collect(),
            problem,
        },
    ))
}

/// An action form: the csrf value, and for muting either a duration (`until`, one of
/// [`MUTE_CHOICES`]) or a moment (`until_at`, as `<input type="datetime-local">` sends
/// it, in UTC), the moment winning when both are given.
#[derive(Default, Deserialize)]
pub(super) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    until_at: String,
}

#[derive(Deserialize)]
pub(super) struct ActionPath {
    id: String,
    action: String,
}

/// `POST /incidents/{id}/acknowledge|resolve|mute`: acts, then back to the incident's page
/// (a 303, so reloading it does not post again); a refused action shows the page with why.
pub(super) async fn act(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    path: Result<Path<ActionPath>, PathRejection>,
    form: Result<Form<ActionForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let actor = match viewer.check(&form.csrf) {
        Ok(actor) => actor.to_owned(),
        Err(error) => return dashboard.fail(&viewer, error),
    };
    let now = Utc::now();
    let parsed = path
        .map_err(|_| not_found())
        .and_then(|Path(p)| Ok((incident_id(&p.id)?, action(&p.action, &form, now)?)));
    let (id, action) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return dashboard.fail(&viewer, error),
    };
    let state = &dashboard.state;
    let acted = alerts::act(
        state.alerting.as_deref(),
        &state.store,
        &state.project(),
        id,
        action,
        now,
        &actor,
    )
    .await;
    let refused = match acted {
        Ok(_) => return see_other(&incident_link(id)),
        Err(ActError::NotFound(_)) => return dashboard.fail(&viewer, not_found()),
        Err(ActError::Refused(refused)) => format!("Not done: {refused}."),
        Err(ActError::Store(StoreError::Conflict(_))) => {
            "Not done: the incident was changing at the same moment. Try again.".to_owned()
        }
        Err(ActError::Store(error)) => return dashboard.fail(&viewer, error.into()),
    };
    let mut response = dashboard.respond(&viewer, incident_page(state, id, Some(refused)).await);
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::CONFLICT;
    }
    response
}

/// The action a form asks for.
fn action(name: &str, form: &ActionForm, now: DateTime<Utc>) -> Result<Action, PageError> {
    match name {
        "acknowledge" => Ok(Action::Acknowledge),
        "resolve" => Ok(Action::Resolve),
        "mute" => mute_until(form, now).map(Action::MuteUntil),
        _ => Err(PageError::NotFound("There is no such action.".into())),
    }
}

/// When a mute asked for by the form ends.
fn mute_until(form: &ActionForm, now: DateTime<Utc>) -> Result<DateTime<Utc>, PageError> {
    let at = form.until_at.trim();
    if !at.is_empty() {
        return ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(at, format).ok())
            .map(|at| at.and_utc())
            .ok_or_else(|| {
                PageError::BadRequest(
                    "The end of the mute must be a date and time like 2026-01-31T18:00 (UTC)."
                        .into(),
                )
            });
    }
    MUTE_CHOICES
        .iter()
        .find(|(value, _, _)| *value == form.until.trim())
        .map(|(_, _, hours)| now + TimeDelta::hours(*hours))
        .ok_or_else(|| PageError::BadRequest("Choose how long to mute the incident for.".into()))
}

fn incident_id(text: &str) -> Result<i64, PageError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(not_found)
}

fn not_found() -> PageError {
    PageError::NotFound("There is no such incident.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(until: &str, until_at: &str) -> ActionForm {
        ActionForm {
            csrf: String::new(),
            until: until.into(),
            until_at: until_at.into(),
        }
    }

    #[test]
    fn tabs_parse_and_default_to_the_active_incidents() {
        assert_eq!(Tab::parse(None), Some(Tab::Active));
        assert_eq!(Tab::parse(Some("")), Some(Tab::Active));
        assert_eq!(Tab::parse(Some("muted")), Some(Tab::Muted));
        assert_eq!(Tab::parse(Some("closed")), None);
        for tab in Tab::ALL {
            let status = tab.href().split_once("status=").map(|(_, s)| s);
            assert_eq!(Tab::parse(status), Some(tab));
        }
    }

    #[test]
    fn mutes_end_after_a_choice_or_at_a_moment() {
        let now = Utc::now();
        let until = mute_until(&form("4h", ""), now).ok();
        assert_eq!(until, Some(now + TimeDelta::hours(4)));
        let until = mute_until(&form("1h", "2030-01-31T18:00"), now).ok();
        assert_eq!(
            until.map(|u| u.to_rfc3339()).as_deref(),
            Some("2030-01-31T18:00:00+00:00")
        );
        assert!(mute_until(&form("", ""), now).is_err());
        assert!(mute_until(&form("5y", ""), now).is_err());
        assert!(mute_until(&form("", "tomorrow"), now).is_err());
    }

    #[test]
    fn actions_are_named() {
        let now = Utc::now();
        assert!(matches!(
            action("acknowledge", &form("", ""), now),
            Ok(Action::Acknowledge)
        ));
        assert!(matches!(
            action("resolve", &form("", ""), now),
            Ok(Action::Resolve)
        ));
        assert!(matches!(
            action("mute", &form("7d", ""), now),
            Ok(Action::MuteUntil(_))
        ));
        assert!(matches!(
            action("delete", &form("", ""), now),
            Err(PageError::NotFound(_))
        ));
        assert!(incident_id("0").is_err());
        assert!(incident_id("x").is_err());
        assert_eq!(incident_id("12").ok(), Some(12));
    }
}
