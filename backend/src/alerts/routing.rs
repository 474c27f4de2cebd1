//! Who hears of an incident, and what each of them is sent: the owner's channels from
//! `tidemark.yml`, plus those of every route whose tags and minimum severity match. Each
//! channel gets its own notification (and idempotency key), so one failing channel never
//! holds back or repeats another.

use crate::spec::{AlertRoute, Dataset, Project, Severity};
use crate::store::{IncidentChange, NewNotification};

use super::incidents::Step;
use super::templates::{AtRisk, Message};

/// The channels of an incident of `dataset` at `severity`, each once, the owner's first.
/// A dataset no longer in the project (renamed, removed) reaches only the routes without
/// tags.
pub fn channels(project: &Project, dataset: Option<&Dataset>, severity: Severity) -> Vec<String> {
    let owner = dataset
        .and_then(|d| d.owner.as_ref())
        .and_then(|owner| project.owners.get(owner));
    let tags: &[String] = dataset.map_or(&[], |d| &d.tags);
    let routed = project
        .alerts
        .routes
        .iter()
        .filter(|route| matches(route, tags, severity))
        .flat_map(|route| &route.channels);
    let mut channels: Vec<String> = Vec::new();
    for channel in owner.into_iter().flat_map(|o| &o.channels).chain(routed) {
        if !channels.contains(channel) {
            channels.push(channel.clone());
        }
    }
    channels
}

fn matches(route: &AlertRoute, tags: &[String], severity: Severity) -> bool {
    let tagged = route.tags.is_empty() || route.tags.iter().any(|t| tags.contains(t));
    let severe = route.min_severity.is_none_or(|min| severity >= min);
    tagged && severe
}

/// The store write of a step, with a notification per channel when it tells anything;
/// the message names the downstream datasets `at_risk`.
pub fn change(
    step: Step,
    dataset: Option<&Dataset>,
    project: &Project,
    at_risk: &[AtRisk],
) -> IncidentChange {
    let notifications = match step.notify {
        Some(transition) => {
            let owner = dataset.and_then(|d| d.owner.as_deref());
            let actor = step.event.as_ref().map(|event| event.actor.as_str());
            let message = Message::new(&step.incident, transition, owner, &project.dashboard_url)
                .acted_by(actor)
                .with_downstream(at_risk);
            let payload = serde_json::to_value(message).unwrap_or_default();
            channels(project, dataset, step.incident.severity)
                .into_iter()
                .map(|channel| NewNotification {
                    transition,
                    channel,
                    payload: payload.clone(),
                })
                .collect()
        }
        None => Vec::new(),
    };
    IncidentChange {
        incident: step.incident,
        base: step.base,
        notifications,
        event: step.event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::fixtures;

    fn project(routes: Vec<AlertRoute>) -> Project {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("checks")).ok();
        std::fs::write(
            dir.path().join("tidemark.yml"),
            "version: 1\nwarehouses: { main: { url: 'sqlite://w.db' } }\n\
             channels:\n  team: { slack: { webhook_url: 'https://hooks.example/a' } }\n  \
             oncall: { slack: { webhook_url: 'https://hooks.example/b' } }\n\
             owners:\n  shop: { channels: [team] }\n",
        )
        .ok();
        let mut project =
            crate::spec::load_with_env(dir.path(), &|_| None).unwrap_or_else(|e| panic!("{e:?}"));
        project.alerts.routes = routes;
        project
    }

    fn route(tags: &[&str], min_severity: Option<Severity>) -> AlertRoute {
        AlertRoute {
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            min_severity,
            channels: vec!["oncall".into(), "team".into()],
        }
    }

    #[test]
    fn owners_channels_come_first_and_routes_add_by_tag_and_severity() {
        let mut dataset = fixtures::dataset(vec![]);
        dataset.owner = Some("shop".into());
        dataset.tags = vec!["tier-1".into()];
        let by_tag = project(vec![route(&["tier-1"], None)]);
        assert_eq!(
            channels(&by_tag, Some(&dataset), Severity::Low),
            ["team", "oncall"]
        );
        let other_tag = project(vec![route(&["tier-2"], None)]);
        assert_eq!(
            channels(&other_tag, Some(&dataset), Severity::Critical),
            ["team"]
        );
        let severe = project(vec![route(&[], Some(Severity::High))]);
        assert_eq!(
            channels(&severe, Some(&dataset), Severity::Medium),
            ["team"]
        );
        assert_eq!(
            channels(&severe, Some(&dataset), Severity::Critical),
            ["team", "oncall"]
        );
        assert_eq!(channels(&severe, None, Severity::High), ["oncall", "team"]);
    }
}
