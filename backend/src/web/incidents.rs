//! Incidents and their notifications: listing them, and acknowledging, resolving and muting
//! an incident. Actions go through `alerts::act`, the same state machine the checks drive,
//! so a resolution through the API is notified like one by a passing check.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::Utc;
use serde::Serialize;

use super::auth::Actor;
use super::error::ApiError;
use super::params::{ApiPath, Params};
use super::{AppState, PageBody};
use crate::alerts::{self, ActError, Action};
use crate::spec::Redactor;
use crate::store::{
    Incident, IncidentEvent, IncidentFilter, IncidentStatus, Notification, NotificationFilter,
    NotificationStatus, StoreError,
};

/// `GET /incidents?dataset=&status=&limit=&before=`
pub async fn list(
    State(state): State<AppState>,
    mut params: Params,
) -> Result<Json<PageBody<Incident>>, ApiError> {
    let filter = IncidentFilter {
        dataset: params.text("dataset")?,
        status: params.parsed(
            "status",
            "one of open, acknowledged, resolved",
            IncidentStatus::parse,
        )?,
    };
    let page = params.page()?;
    params.finish()?;
    let paged = state.store.incidents(&filter, page).await?;
    Ok(PageBody::redacted(paged, &state, redacted))
}

/// `GET /incidents/{id}`
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> Result<Json<Incident>, ApiError> {
    params.finish()?;
    let incident = existing(&state, &id).await?;
    Ok(Json(redacted(incident, &Redactor::new(&state.project()))))
}

/// The incident of a path's `{id}`, or the API's 400 or 404.
async fn existing(state: &AppState, id: &str) -> Result<Incident, ApiError> {
    let id = incident_id(id)?;
    match state.store.incident(id).await {
        Err(StoreError::NotFound) => Err(not_found(id)),
        other => Ok(other?),
    }
}

/// The body of `GET /incidents/{id}/events`.
#[derive(Serialize)]
pub struct Events {
    items: Vec<IncidentEvent>,
}

/// `GET /incidents/{id}/events`: the incident's timeline, oldest first.
pub async fn events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> Result<Json<Events>, ApiError> {
    params.finish()?;
    let incident = existing(&state, &id).await?;
    let redactor = Redactor::new(&state.project());
    let items = state.store.incident_events(incident.id).await?;
    let items = items
        .into_iter()
        .map(|mut event| {
            event.detail = redactor.option(event.detail.as_deref());
            event
        })
        .collect();
    Ok(Json(Events { items }))
}

/// `POST /incidents/{id}/acknowledge`: someone is on it; no more reminders.
pub async fn acknowledge(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> Result<Json<Incident>, ApiError> {
    params.finish()?;
    perform(&state, &actor, &id, Action::Acknowledge).await
}

/// `POST /incidents/{id}/resolve`: resolved by hand (notified like any resolution).
pub async fn resolve(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    params: Params,
) -> Result<Json<Incident>, ApiError> {
    params.finish()?;
    perform(&state, &actor, &id, Action::Resolve).await
}

/// `POST /incidents/{id}/mute?until=`: no notifications until then.
pub async fn mute(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiPath(id): ApiPath<String>,
    mut params: Params,
) -> Result<Json<Incident>, ApiError> {
    let until = params
        .time("until")?
        .ok_or_else(|| ApiError::bad_parameter("until", "required: when the mute ends"))?;
    params.finish()?;
    perform(&state, &actor, &id, Action::MuteUntil(until)).await
}

/// `GET /notifications?status=&incident=&limit=&before=`: `status=dead` lists dead letters.
pub async fn notifications(
    State(state): State<AppState>,
    mut params: Params,
) -> Result<Json<PageBody<Notification>>, ApiError> {
    let filter = NotificationFilter {
        status: params.parsed(
            "status",
            "one of pending, delivered, dead",
            NotificationStatus::parse,
        )?,
        incident: params.parsed("incident", "an incident id", |s| {
            s.parse::<i64>().ok().filter(|id| *id > 0)
        })?,
    };
    let page = params.page()?;
    params.finish()?;
    let paged = state.store.notifications(&filter, page).await?;
    Ok(PageBody::redacted(
        paged,
        &state,
        |mut notification, redactor| {
            notification.last_error = redactor.option(notification.last_error.as_deref());
            notification
        },
    ))
}

async fn perform(
    state: &AppState,
    Actor(actor): &Actor,
    id: &str,
    action: Action,
) -> Result<Json<Incident>, ApiError> {
    let id = incident_id(id)?;
    let project = state.project();
    match alerts::act(
        state.alerting.as_deref(),
        &state.store,
        &project,
        id,
        action,
        Utc::now(),
        actor,
    )
    .await
    {
        Ok(incident) => Ok(Json(redacted(incident, &Redactor::new(&project)))),
        Err(ActError::NotFound(id)) => Err(not_found(id)),
        Err(ActError::Refused(refused)) => Err(ApiError::Conflict(refused.to_string())),
        Err(ActError::Store(StoreError::Conflict(_))) => Err(ApiError::Conflict(
            "the incident is changing right now; try again".into(),
        )),
        Err(ActError::Store(error)) => Err(error.into()),
    }
}

fn incident_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_parameter("id", "expected an incident id (a positive number)"))
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no incident with id {id}"))
}

/// The incident with the project's secrets masked in its message.
fn redacted(mut incident: Incident, redactor: &Redactor) -> Incident {
    incident.message = redactor.text(&incident.message);
    incident
}
