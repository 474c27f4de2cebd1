//! The incident state machine: what a check's latest result, an API action or the passing
//! of time does to its incident, and which of those changes the channels hear about. Pure:
//! incidents and times in, [`Step`]s out; the caller writes them.
//!
//! - A failing result (`fail`, or `error`: a different kind with different wording) opens an
//!   incident; repeats update it (count, last seen, latest value) without a notification;
//!   a passing result (`pass` or `warn`, as the exit code counts them) resolves it, once.
//! - **Flapping.** A check failing again within the flap window after its incident resolved
//!   reopens that incident. The first reopening is announced; after it, the check's changes
//!   are not (the channels were told it flaps), until it settles: resolved for a whole
//!   window (announced by the sweep, [`review`]) or still failing at the next reminder.
//! - **Upstream.** An incident opened while an upstream dataset has an active incident
//!   links to it as its likely cause and is not announced on its own: the upstream's
//!   notifications list it. If the cause resolves first, the sweep announces it then.
//!   When the upstream incident opens second (the downstream check ran first), it adopts
//!   the downstream incidents that opened in the day before it ([`adopt`]).
//! - **Muted** incidents change as usual but announce nothing until the mute ends; the sweep
//!   then catches up with what the channels missed.
//!
//! What the channels were last told is kept in [`Incident::announced`], so every catch-up is
//! "tell what changed since", never "repeat everything".

use chrono::{DateTime, TimeDelta, Utc};

use crate::results::{CheckResult, Outcome};
use crate::spec::Severity;
use crate::store::{
    ACTOR_CHECK, EventKind, Incident, IncidentKind, IncidentStatus, NewEvent, RESOLVED_BY_API,
    RESOLVED_BY_CHECK, Transition,
};

/// A check's latest result as incidents see it.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub result: &'a CheckResult,
    /// Whether a failure of the check breaches the dataset's SLA.
    pub sla: bool,
    pub severity: Severity,
    pub at: DateTime<Utc>,
    /// The active incident of an upstream dataset, if there is one.
    pub cause: Option<i64>,
}

/// One incident write: the incident as it becomes, the version it was computed from
/// (`None` for a new incident), what to tell the channels, and what goes in its timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub incident: Incident,
    pub base: Option<i64>,
    pub notify: Option<Transition>,
    pub event: Option<NewEvent>,
}

impl Step {
    /// The step, with `kind` done by `actor` in the incident's timeline.
    fn logged(mut self, kind: EventKind, actor: &str, detail: Option<String>) -> Step {
        self.event = Some(NewEvent {
            kind,
            actor: actor.to_owned(),
            detail,
        });
        self
    }
}

/// What the API can do to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Someone is on it: no more reminders.
    Acknowledge,
    Resolve,
    /// No notifications until then.
    MuteUntil(DateTime<Utc>),
}

/// Why an action was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the incident is already resolved")]
    Resolved,
    #[error("'until' must be in the future")]
    MuteInThePast,
}

/// Timings of the policy that the state machine needs.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub flap_window: TimeDelta,
    pub renotify_after: TimeDelta,
}

impl Timing {
    pub fn of(policy: &crate::spec::AlertPolicy) -> Timing {
        let delta = |d| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        Timing {
            flap_window: delta(policy.flap_window),
            renotify_after: delta(policy.renotify_after),
        }
    }
}

/// The steps a check's latest result takes, given the check's latest incident.
pub fn observe(
    previous: Option<&Incident>,
    observation: &Observation<'_>,
    timing: Timing,
) -> Vec<Step> {
    let kind = match observation.result.outcome {
        Outcome::Fail => IncidentKind::Failure,
        Outcome::Error => IncidentKind::Error,
        Outcome::Pass | Outcome::Warn => {
            let resolved = previous
                .filter(|incident| incident.status.is_active())
                .map(|incident| resolve(incident, observation.at, RESOLVED_BY_CHECK, ACTOR_CHECK));
            return resolved.into_iter().collect();
        }
    };
    match previous {
        Some(incident) if incident.status.is_active() && incident.kind == kind => {
            vec![repeat(incident, observation)]
        }
        Some(incident) if incident.status.is_active() => vec![
            resolve(incident, observation.at, RESOLVED_BY_CHECK, ACTOR_CHECK),
            open(observation, kind),
        ],
        Some(incident) if flaps_back(incident, kind, observation.at, timing) => {
            vec![reopen(incident, observation)]
        }
        _ => vec![open(observation, kind)],
    }
}

/// The step an API action of `actor` (an API token's name) takes; `None` when the incident
/// is already so.
pub fn act(
    incident: &Incident,
    action: Action,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<Option<Step>, Refused> {
    if !incident.status.is_active() {
        return Err(Refused::Resolved);
    }
    let step = match action {
        Action::Acknowledge if incident.status == IncidentStatus::Acknowledged => return Ok(None),
        Action::Acknowledge => {
            let mut next = advanced(incident);
            next.status = IncidentStatus::Acknowledged;
            next.acknowledged_at = Some(now);
            quiet(next, incident.version).logged(EventKind::Acknowledged, actor, None)
        }
        Action::Resolve => resolve(incident, now, RESOLVED_BY_API, actor),
        Action::MuteUntil(until) if until <= now => return Err(Refused::MuteInThePast),
        Action::MuteUntil(until) => {
            let mut next = advanced(incident);
            next.muted_until = Some(until);
            let until = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            quiet(next, incident.version).logged(EventKind::Muted, actor, Some(until))
        }
    };
    Ok(Some(step))
}

/// What the sweep does to an incident the store found unsettled: a reminder for an open
/// one nobody acknowledged (or its first announcement, if it was never announced), and the
/// announcement of a resolution the channels missed. `None` when nothing is due yet.
pub fn review(incident: &Incident, now: DateTime<Utc>, timing: Timing) -> Option<Step> {
    if muted(incident, now) {
        return None;
    }
    let transition = match incident.status {
        IncidentStatus::Open => {
            let due = incident
                .last_notified_at
                .is_none_or(|at| now - at >= timing.renotify_after);
            match incident.announced {
                _ if !due => return None,
                Some(IncidentStatus::Open) => Transition::Reminder,
                _ => Transition::Opened,
            }
        }
        IncidentStatus::Resolved => {
            let settled = incident
                .resolved_at
                .is_some_and(|at| now - at >= timing.flap_window);
            if !(settled && incident.announced == Some(IncidentStatus::Open)) {
                return None;
            }
            Transition::Resolved
        }
        IncidentStatus::Acknowledged => return None,
    };
    let mut next = advanced(incident);
    announce(&mut next, transition, now);
    Some(Step {
        incident: next,
        base: Some(incident.version),
        notify: Some(transition),
        event: None,
    })
}

/// An incident found to be the consequence of `cause`, an upstream incident that opened
/// after it: linked quietly (the channels were told of it already; the cause's
/// notifications list it from now on).
pub fn adopt(incident: &Incident, cause: i64) -> Step {
    let mut next = advanced(incident);
    next.cause = Some(cause);
    quiet(next, incident.version).logged(EventKind::Linked, ACTOR_CHECK, Some(cause.to_string()))
}

/// A failing result like the last one: the incident learns it, the channels do not.
fn repeat(incident: &Incident, observation: &Observation<'_>) -> Step {
    let mut next = advanced(incident);
    seen(&mut next, observation);
    quiet(next, incident.version)
}

fn open(observation: &Observation<'_>, kind: IncidentKind) -> Step {
    let result = observation.result;
    let mut incident = Incident {
        id: 0,
        dataset: result.dataset.clone(),
        check: result.check.clone(),
        kind,
        sla: observation.sla,
        severity: observation.severity,
        status: IncidentStatus::Open,
        opened_at: observation.at,
        last_seen_at: observation.at,
        resolved_at: None,
        resolved_by: None,
        acknowledged_at: None,
        muted_until: None,
        count: 0,
        flaps: 0,
        value: None,
        expected: None,
        message: String::new(),
        cause: observation.cause,
        version: 1,
        announced: None,
        last_notified_at: None,
    };
    seen(&mut incident, observation);
    // Folded into its likely cause's notifications.
    let notify = observation.cause.is_none().then_some(Transition::Opened);
    if let Some(transition) = notify {
        announce(&mut incident, transition, observation.at);
    }
    let message = incident.message.clone();
    Step {
        incident,
        base: None,
        notify,
        event: None,
    }
    .logged(EventKind::Opened, ACTOR_CHECK, Some(message))
}

/// Whether a failure of `kind` at `at` reopens this resolved incident: the check resolved
/// it (not a person) within the flap window, and fails the same way again.
fn flaps_back(incident: &Incident, kind: IncidentKind, at: DateTime<Utc>, timing: Timing) -> bool {
    incident.kind == kind
        && incident.resolved_by.as_deref() == Some(RESOLVED_BY_CHECK)
        && incident
            .resolved_at
            .is_some_and(|resolved| at - resolved < timing.flap_window)
}

fn reopen(incident: &Incident, observation: &Observation<'_>) -> Step {
    let mut next = advanced(incident);
    next.status = IncidentStatus::Open;
    next.resolved_at = None;
    next.resolved_by = None;
    next.acknowledged_at = None;
    next.flaps += 1;
    seen(&mut next, observation);
    // Only a reopening the channels would not expect: they were told it resolved.
    let tell = incident.announced == Some(IncidentStatus::Resolved);
    let message = next.message.clone();
    notified(
        next,
        incident.version,
        Transition::Reopened,
        tell,
        observation.at,
    )
    .logged(EventKind::Reopened, ACTOR_CHECK, Some(message))
}

/// Resolved `by` the check or through the API ([`Incident::resolved_by`]); `actor` as the
/// timeline names who.
fn resolve(incident: &Incident, at: DateTime<Utc>, by: &str, actor: &str) -> Step {
    let mut next = advanced(incident);
    next.status = IncidentStatus::Resolved;
    next.resolved_at = Some(at);
    next.resolved_by = Some(by.to_owned());
    // A flapping check's resolution waits until it has held for a window ([`review`]); a
    // person's is told at once.
    let told_open = incident.announced == Some(IncidentStatus::Open);
    let tell = told_open && (incident.flaps == 0 || by == RESOLVED_BY_API);
    notified(next, incident.version, Transition::Resolved, tell, at).logged(
        EventKind::Resolved,
        actor,
        None,
    )
}

/// A step that tells the channels `transition` when `tell` holds and the incident is not
/// muted.
fn notified(
    mut next: Incident,
    base: i64,
    transition: Transition,
    tell: bool,
    now: DateTime<Utc>,
) -> Step {
    let notify = (tell && !muted(&next, now)).then_some(transition);
    if notify.is_some() {
        announce(&mut next, transition, now);
    }
    Step {
        incident: next,
        base: Some(base),
        notify,
        event: None,
    }
}

fn quiet(incident: Incident, base: i64) -> Step {
    Step {
        incident,
        base: Some(base),
        notify: None,
        event: None,
    }
}

/// The incident at its next version.
fn advanced(incident: &Incident) -> Incident {
    Incident {
        version: incident.version + 1,
        ..incident.clone()
    }
}

/// Records a failing result on the incident.
fn seen(incident: &mut Incident, observation: &Observation<'_>) {
    let result = observation.result;
    incident.count += 1;
    incident.last_seen_at = observation.at;
    incident.value = result.value;
    incident.expected = result.expected.clone();
    incident.message = result.message.clone();
    incident.severity = observation.severity;
    incident.sla = observation.sla;
}

fn announce(incident: &mut Incident, transition: Transition, now: DateTime<Utc>) {
    incident.announced = Some(match transition {
        Transition::Resolved => IncidentStatus::Resolved,
        Transition::Opened | Transition::Reopened | Transition::Reminder => IncidentStatus::Open,
    });
    incident.last_notified_at = Some(now);
}

fn muted(incident: &Incident, now: DateTime<Utc>) -> bool {
    incident.muted_until.is_some_and(|until| until > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000) + TimeDelta::minutes(minutes)
    }

    fn timing() -> Timing {
        Timing {
            flap_window: TimeDelta::hours(1),
            renotify_after: TimeDelta::hours(4),
        }
    }

    fn result(outcome: Outcome, value: f64) -> CheckResult {
        CheckResult {
            dataset: "shop.orders".into(),
            warehouse: "main".into(),
            check: "row_count".into(),
            kind: "row_count".into(),
            column: None,
            columns: None,
            outcome,
            value: Some(value),
            expected: Some(serde_json::json!({"min": 1})),
            message: format!("{value} rows"),
            severity: None,
            band: None,
        }
    }

    /// Feeds results one by one, like runs, keeping the incident the store would hold; the
    /// transitions announced, and the timeline (kind and actor), in order.
    struct Check {
        latest: Option<Incident>,
        told: Vec<Transition>,
        timeline: Vec<(EventKind, String)>,
    }

    impl Check {
        fn new() -> Check {
            Check {
                latest: None,
                told: vec![],
                timeline: vec![],
            }
        }

        fn run(&mut self, outcome: Outcome, minute: i64, cause: Option<i64>) {
            let result = result(outcome, minute as f64);
            let observation = Observation {
                result: &result,
                sla: false,
                severity: Severity::Medium,
                at: t(minute),
                cause,
            };
            for step in observe(self.latest.as_ref(), &observation, timing()) {
                self.apply(step);
            }
        }

        fn apply(&mut self, step: Step) {
            self.told.extend(step.notify);
            self.timeline
                .extend(step.event.map(|event| (event.kind, event.actor)));
            let mut incident = step.incident;
            if step.base.is_none() {
                incident.id = self.latest.as_ref().map_or(1, |i| i.id + 1);
            }
            self.latest = Some(incident);
        }

        fn sweep(&mut self, minute: i64) {
            let step = self
                .latest
                .as_ref()
                .and_then(|i| review(i, t(minute), timing()));
            if let Some(step) = step {
                self.apply(step);
            }
        }

        fn incident(&self) -> &Incident {
            self.latest.as_ref().expect("an incident")
        }
    }

    #[test]
    fn repeats_update_the_incident_silently_and_a_pass_resolves_it_once() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, None);
        check.run(Outcome::Fail, 10, None);
        check.run(Outcome::Fail, 20, None);
        let incident = check.incident();
        assert_eq!((incident.count, incident.value), (3, Some(20.0)));
        assert_eq!((incident.opened_at, incident.last_seen_at), (t(0), t(20)));
        check.run(Outcome::Pass, 30, None);
        check.run(Outcome::Warn, 40, None);
        assert_eq!(check.told, [Transition::Opened, Transition::Resolved]);
        assert_eq!(check.incident().status, IncidentStatus::Resolved);
    }

    #[test]
    fn errors_and_failures_are_different_incidents() {
        let mut check = Check::new();
        check.run(Outcome::Error, 0, None);
        assert_eq!(check.incident().kind, IncidentKind::Error);
        let result = result(Outcome::Fail, 5.0);
        let observation = Observation {
            result: &result,
            sla: true,
            severity: Severity::High,
            at: t(5),
            cause: None,
        };
        let steps = observe(check.latest.as_ref(), &observation, timing());
        let kinds: Vec<_> = steps
            .iter()
            .map(|s| (s.incident.kind, s.incident.status, s.notify))
            .collect();
        assert_eq!(
            kinds,
            [
                (
                    IncidentKind::Error,
                    IncidentStatus::Resolved,
                    Some(Transition::Resolved)
                ),
                (
                    IncidentKind::Failure,
                    IncidentStatus::Open,
                    Some(Transition::Opened)
                ),
            ]
        );
        assert!(steps[1].incident.sla);
    }

    #[test]
    fn a_flapping_check_tells_once_that_it_flaps_then_only_how_it_settles() {
        let mut check = Check::new();
        for minute in 0..12 {
            let outcome = if minute % 2 == 0 {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            check.run(outcome, minute, None);
        }
        assert_eq!(
            check.told,
            [
                Transition::Opened,
                Transition::Resolved,
                Transition::Reopened
            ]
        );
        assert_eq!(check.incident().flaps, 5);
        assert_eq!(check.incident().id, 1, "one incident throughout");
        check.sweep(30);
        assert_eq!(check.told.len(), 3, "not settled before a whole window");
        check.sweep(71);
        assert_eq!(check.told.last(), Some(&Transition::Resolved));
        check.sweep(200);
        assert_eq!(check.told.len(), 4, "the resolution is told once");
    }

    #[test]
    fn a_failure_after_the_flap_window_opens_a_new_incident() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, None);
        check.run(Outcome::Pass, 1, None);
        check.run(Outcome::Fail, 120, None);
        assert_eq!(check.incident().id, 2);
        assert_eq!(
            check.told,
            [Transition::Opened, Transition::Resolved, Transition::Opened]
        );
    }

    #[test]
    fn open_unacknowledged_incidents_are_reminded_after_the_interval() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, None);
        check.sweep(239);
        check.sweep(240);
        check.sweep(300);
        assert_eq!(check.told, [Transition::Opened, Transition::Reminder]);
        let step = act(check.incident(), Action::Acknowledge, t(301), "ana");
        check.apply(step.ok().flatten().expect("acknowledged"));
        check.sweep(1000);
        assert_eq!(
            check.told.len(),
            2,
            "acknowledged incidents are not reminded"
        );
    }

    #[test]
    fn upstream_caused_incidents_are_folded_until_their_cause_resolves() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, Some(7));
        assert!(check.told.is_empty());
        assert_eq!(check.incident().cause, Some(7));
        // The store offers it to the sweep once the cause is no longer active.
        check.sweep(5);
        assert_eq!(check.told, [Transition::Opened]);
        let mut folded = Check::new();
        folded.run(Outcome::Fail, 0, Some(7));
        folded.run(Outcome::Pass, 1, None);
        assert!(
            folded.told.is_empty(),
            "never told, so its resolution is not news"
        );
    }

    #[test]
    fn muted_incidents_tell_nothing_until_the_mute_ends() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, None);
        let step = act(check.incident(), Action::MuteUntil(t(600)), t(1), "ana");
        check.apply(step.ok().flatten().expect("muted"));
        check.run(Outcome::Pass, 2, None);
        check.sweep(300);
        assert_eq!(check.told, [Transition::Opened]);
        check.sweep(601);
        assert_eq!(check.told, [Transition::Opened, Transition::Resolved]);
    }

    #[test]
    fn api_actions_on_resolved_incidents_and_past_mutes_are_refused() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, None);
        assert_eq!(
            act(check.incident(), Action::MuteUntil(t(0)), t(1), "ana"),
            Err(Refused::MuteInThePast)
        );
        let resolved = act(check.incident(), Action::Resolve, t(2), "ana");
        let step = resolved.ok().flatten().expect("resolved");
        assert_eq!(step.notify, Some(Transition::Resolved));
        assert_eq!(step.incident.resolved_by.as_deref(), Some(RESOLVED_BY_API));
        let event = step.event.clone().expect("a timeline entry");
        assert_eq!(
            (event.kind, event.actor.as_str()),
            (EventKind::Resolved, "ana")
        );
        check.apply(step);
        assert_eq!(
            act(check.incident(), Action::Acknowledge, t(3), "ana"),
            Err(Refused::Resolved)
        );
        // A person's resolution is final: the next failure is a new incident.
        check.run(Outcome::Fail, 4, None);
        assert_eq!(check.incident().id, 2);
    }

    #[test]
    fn the_timeline_keeps_every_change_and_who_made_it_but_not_repeats() {
        let mut check = Check::new();
        check.run(Outcome::Fail, 0, None);
        check.run(Outcome::Fail, 1, None);
        check.run(Outcome::Pass, 2, None);
        check.run(Outcome::Fail, 3, None);
        let step = act(check.incident(), Action::MuteUntil(t(600)), t(4), "ana");
        check.apply(step.ok().flatten().expect("muted"));
        let step = act(check.incident(), Action::Acknowledge, t(5), "bo");
        check.apply(step.ok().flatten().expect("acknowledged"));
        check.apply(adopt(check.incident(), 7));
        let step = act(check.incident(), Action::Resolve, t(6), "ana");
        check.apply(step.ok().flatten().expect("resolved"));
        let expected = [
            (EventKind::Opened, ACTOR_CHECK),
            (EventKind::Resolved, ACTOR_CHECK),
            (EventKind::Reopened, ACTOR_CHECK),
            (EventKind::Muted, "ana"),
            (EventKind::Acknowledged, "bo"),
            (EventKind::Linked, ACTOR_CHECK),
            (EventKind::Resolved, "ana"),
        ]
        .map(|(kind, actor)| (kind, actor.to_owned()));
        assert_eq!(check.timeline, expected);
    }
}
