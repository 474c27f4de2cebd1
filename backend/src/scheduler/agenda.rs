//! Which datasets are due, and for which slot. Pure: the scheduler asks it at every tick.
//!
//! Each scheduled dataset waits in a queue ordered by its next slot. At a tick, every dataset
//! whose next slot has come is due for its *latest* slot at or before the tick: if ticks were
//! missed (a stalled process, a suspended VM), the slots in between are not run one by one,
//! only the newest, as after downtime.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::slots::Schedule;

#[derive(Debug, Default)]
pub struct Agenda {
    schedules: HashMap<String, Schedule>,
    /// (next slot, dataset), earliest first.
    queue: BTreeSet<(DateTime<Utc>, String)>,
}

impl Agenda {
    /// Queues each dataset at its first slot after `now`. Slots at or before `now` are not
    /// this agenda's business: catch-up decides about them with the store.
    pub fn new(
        schedules: impl IntoIterator<Item = (String, Schedule)>,
        now: DateTime<Utc>,
    ) -> Self {
        let mut agenda = Agenda::default();
        for (dataset, schedule) in schedules {
            if let Some(next) = schedule.next_after(now) {
                agenda.queue.insert((next, dataset.clone()));
            }
            agenda.schedules.insert(dataset, schedule);
        }
        agenda
    }

    /// The datasets due at `now`, each with the slot to run (the latest at or before `now`),
    /// in slot order. Each is queued again at its first slot after `now`.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let mut due = Vec::new();
        while let Some(first) = self.queue.first() {
            if first.0 > now {
                break;
            }
            let Some((queued, dataset)) = self.queue.pop_first() else {
                break;
            };
            let Some(schedule) = self.schedules.get(&dataset) else {
                continue;
            };
            let slot = schedule
                .latest_at_or_before(now)
                .map_or(queued, |latest| latest.max(queued));
            if let Some(next) = schedule.next_after(now) {
                self.queue.insert((next, dataset.clone()));
            }
            due.push((dataset, slot));
        }
        due.sort();
        due
    }

    pub fn schedule(&self, dataset: &str) -> Option<&Schedule> {
        self.schedules.get(dataset)
    }

    /// Every scheduled dataset with its schedule.
    pub fn schedules(&self) -> impl Iterator<Item = (&str, &Schedule)> {
        self.schedules.iter().map(|(name, s)| (name.as_str(), s))
    }

    pub fn len(&self) -> usize {
        self.schedules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.schedules.is_empty()
    }

    /// When the next slot of any dataset comes.
    pub fn next_slot(&self) -> Option<DateTime<Utc>> {
        self.queue.first().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::utc;

    fn agenda(now: &str) -> Agenda {
        let every_minute = Schedule::parse("* * * * *", chrono_tz::UTC).expect("valid");
        let quarterly = Schedule::parse("*/15 * * * *", chrono_tz::UTC).expect("valid");
        let never = Schedule::parse("0 0 31 2 *", chrono_tz::UTC).expect("valid");
        Agenda::new(
            [
                ("a".to_string(), every_minute),
                ("b".to_string(), quarterly),
                ("c".to_string(), never),
            ],
            utc(now),
        )
    }

    #[test]
    fn nothing_is_due_before_its_first_slot_after_the_start() {
        let mut agenda = agenda("2026-05-04T10:14:30Z");
        assert_eq!(agenda.len(), 3);
        assert_eq!(agenda.next_slot(), Some(utc("2026-05-04T10:15:00Z")));
        assert_eq!(agenda.due(utc("2026-05-04T10:14:59Z")), []);
    }

    #[test]
    fn a_tick_returns_each_due_dataset_once_with_its_slot() {
        let mut agenda = agenda("2026-05-04T10:14:30Z");
        assert_eq!(
            agenda.due(utc("2026-05-04T10:15:00.300Z")),
            [
                ("a".to_string(), utc("2026-05-04T10:15:00Z")),
                ("b".to_string(), utc("2026-05-04T10:15:00Z")),
            ]
        );
        assert_eq!(agenda.due(utc("2026-05-04T10:15:00.800Z")), []);
        assert_eq!(
            agenda.due(utc("2026-05-04T10:16:00.100Z")),
            [("a".to_string(), utc("2026-05-04T10:16:00Z"))]
        );
        assert_eq!(agenda.next_slot(), Some(utc("2026-05-04T10:17:00Z")));
    }

    /// Not a benchmark, a guard: a tick that finds 10,000 datasets due must not take long
    /// enough to delay their runs noticeably (debug build: generous bound).
    #[test]
    fn ten_thousand_due_datasets_are_found_quickly() {
        let start = utc("2026-05-04T10:14:30Z");
        let berlin = Schedule::parse("*/15 * * * *", chrono_tz::Europe::Berlin).expect("valid");
        let mut agenda = Agenda::new(
            (0..10_000).map(|i| (format!("dataset_{i}"), berlin.clone())),
            start,
        );
        let timer = std::time::Instant::now();
        let due = agenda.due(utc("2026-05-04T10:15:00.200Z"));
        let took = timer.elapsed();
        assert_eq!(due.len(), 10_000);
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
        eprintln!("10,000 due datasets in {took:?}");
    }

    #[test]
    fn after_missed_ticks_only_the_latest_slot_is_due() {
        let mut agenda = agenda("2026-05-04T10:14:30Z");
        assert_eq!(
            agenda.due(utc("2026-05-04T10:47:10Z")),
            [
                ("a".to_string(), utc("2026-05-04T10:47:00Z")),
                ("b".to_string(), utc("2026-05-04T10:45:00Z")),
            ]
        );
        assert_eq!(
            agenda.due(utc("2026-05-04T10:48:00Z")),
            [("a".to_string(), utc("2026-05-04T10:48:00Z"))]
        );
    }
}
