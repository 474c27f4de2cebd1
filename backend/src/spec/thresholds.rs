//! Thresholds: the bare form (`max: 0`, the fail level), warn/fail levels, `anomaly`, and
//! freshness's `warn_after`/`fail_after`. The forms exclude each other; mixing them is
//! reported as contradictory rather than resolved by a precedence rule users would have to
//! learn.

use super::reader::{Cx, Fields, optional};
use super::yaml::{Entry, Node, Pos};
use super::{AnomalySpec, AnomalyWatch, Bound, Thresholds};

/// Keys that bound a value, bare or inside a level.
pub(crate) const BOUND_KEYS: [&str; 4] = ["min", "max", "between", "equals"];
/// Every threshold key a metric check accepts.
pub(crate) const METRIC_KEYS: [&str; 7] =
    ["min", "max", "between", "equals", "anomaly", "warn", "fail"];
/// The threshold keys of a freshness check besides `warn_after`/`fail_after`: bounds on the
/// age in seconds (`min: 0`: no timestamps in the future) or a learned threshold.
pub(crate) const FRESHNESS_KEYS: [&str; 5] = ["min", "max", "between", "equals", "anomaly"];
pub(crate) const ANOMALY_KEYS: [&str; 3] = ["sensitivity", "direction", "watch"];
pub(crate) const SENSITIVITIES: [&str; 3] = ["low", "medium", "high"];
pub(crate) const DIRECTIONS: [&str; 3] = ["up", "down", "both"];
/// What an anomaly threshold watches: the value, or how much it grew since the last run.
pub(crate) const WATCHES: [&str; 2] = ["value", "added"];

const MISSING_METRIC: &str =
    "missing threshold: add one of min, max, between, equals, anomaly, or warn/fail levels";
const MISSING_FRESHNESS: &str = "missing threshold: add warn_after, fail_after or anomaly";

/// Thresholds of a metric check, read from its parameters.
pub(crate) fn metric(cx: &mut Cx<'_>, params: &Fields<'_>, check: Pos) -> Option<Thresholds> {
    let bare: Vec<&Entry> = entries(params, &BOUND_KEYS);
    let levels: Vec<&Entry> = entries(params, &["warn", "fail"]);
    let anomaly_entry = params.entry("anomaly");
    if bare.is_empty() && levels.is_empty() && anomaly_entry.is_none() {
        cx.error(check, MISSING_METRIC);
        return None;
    }
    let mut consistent = true;
    if let (Some(anomaly), Some(fixed)) = (anomaly_entry, bare.first()) {
        contradiction(
            cx,
            anomaly,
            fixed,
            "use either a learned or a fixed threshold",
        );
        consistent = false;
    }
    let loose = bare.first().copied().or(anomaly_entry);
    if let (Some(loose), Some(level)) = (loose, levels.first()) {
        contradiction(
            cx,
            loose,
            level,
            "a bare threshold is the fail level: with warn/fail levels, write it inside 'fail:'",
        );
        consistent = false;
    }
    // Read every part before giving up, so each one's problems are reported.
    let fail_bare = level_bound(cx, &bare);
    let warn = level(cx, params, "warn");
    let fail = level(cx, params, "fail");
    let anomaly = optional(anomaly_entry.map(|entry| anomaly(cx, &entry.value)));
    let (fail_bare, warn, fail, anomaly) = (fail_bare?, warn?, fail?, anomaly?);
    consistent.then_some(Thresholds {
        warn,
        fail: fail.or(fail_bare),
        anomaly,
    })
}

/// Thresholds of a freshness check: durations become `Max` bounds in seconds; bare bounds
/// (`min: 0`) are the fail level on the age in seconds, and a bare `min` joins `fail_after`
/// into one range.
pub(crate) fn freshness(cx: &mut Cx<'_>, params: &Fields<'_>, check: Pos) -> Option<Thresholds> {
    let warn_entry = params.entry("warn_after");
    let fail_entry = params.entry("fail_after");
    let anomaly_entry = params.entry("anomaly");
    let bare: Vec<&Entry> = entries(params, &BOUND_KEYS);
    let fixed = warn_entry.or(fail_entry).or(bare.first().copied());
    if fixed.is_none() && anomaly_entry.is_none() {
        cx.error(check, MISSING_FRESHNESS);
        return None;
    }
    let mut consistent = true;
    if let (Some(anomaly), Some(fixed)) = (anomaly_entry, fixed) {
        contradiction(
            cx,
            anomaly,
            fixed,
            "use either a learned or a fixed threshold",
        );
        consistent = false;
    }
    let upper_bare = bare.iter().find(|entry| entry.key != "min");
    if let (Some(fail_entry), Some(upper)) = (fail_entry, upper_bare) {
        contradiction(
            cx,
            fail_entry,
            upper,
            "both bound the age from above: keep one",
        );
        consistent = false;
    }
    let warn = optional(warn_entry.map(|entry| cx.duration(&entry.value, "warn_after")));
    let fail = optional(fail_entry.map(|entry| cx.duration(&entry.value, "fail_after")));
    let bare_bound = level_bound(cx, &bare);
    let anomaly = optional(anomaly_entry.map(|entry| anomaly(cx, &entry.value)));
    let (warn, fail, bare_bound, anomaly) = (warn?, fail?, bare_bound?, anomaly?);
    if let (Some(warn), Some(fail), Some(warn_entry), Some(fail_entry)) =
        (warn, fail, warn_entry, fail_entry)
        && warn > fail
    {
        let [warn_text, fail_text] = [warn_entry, fail_entry].map(|entry| {
            entry
                .value
                .scalar()
                .map(|scalar| scalar.text.clone())
                .unwrap_or_default()
        });
        cx.error(
            later(warn_entry, fail_entry).key_pos,
            format!("inverted range: warn_after {warn_text} is later than fail_after {fail_text}"),
        );
        consistent = false;
    }
    let seconds = |duration: std::time::Duration| duration.as_secs_f64();
    let fail = match (fail.map(seconds), bare_bound) {
        (Some(max), Some(Bound::Min(min))) if min > max => {
            let min_entry = bare.first()?;
            cx.error(
                min_entry.key_pos,
                format!("inverted range: min {min} is greater than fail_after ({max} seconds)"),
            );
            return None;
        }
        (Some(max), Some(Bound::Min(min))) => Some(Bound::Between(min, max)),
        (Some(max), _) => Some(Bound::Max(max)),
        (None, bound) => bound,
    };
    consistent.then_some(Thresholds {
        warn: warn.map(|warn| Bound::Max(seconds(warn))),
        fail,
        anomaly,
    })
}

/// The bound of a `warn:` or `fail:` level, if the level is there.
fn level(cx: &mut Cx<'_>, params: &Fields<'_>, key: &str) -> Option<Option<Bound>> {
    let Some(node) = params.get(key) else {
        return Some(None);
    };
    let fields = cx.fields(node, key, &BOUND_KEYS)?;
    let bounds = entries(&fields, &BOUND_KEYS);
    if bounds.is_empty() {
        // Unknown keys in the level were reported already.
        if fields.entries.is_empty() {
            cx.error(
                node.pos,
                format!("'{key}' is empty: add min, max, between or equals"),
            );
        }
        return None;
    }
    level_bound(cx, &bounds)
}

/// Reads one level's bound keys into a single bound. `None` means a problem was reported;
/// `Some(None)` that there were no keys.
fn level_bound(cx: &mut Cx<'_>, keys: &[&Entry]) -> Option<Option<Bound>> {
    if let Some((first, second, why)) = clash(keys) {
        contradiction(cx, first, second, why);
        return None;
    }
    let value = |cx: &mut Cx<'_>, key: &str| {
        keys.iter()
            .find(|entry| entry.key == key)
            .map(|entry| cx.number(&entry.value, key))
    };
    let between = keys
        .iter()
        .find(|entry| entry.key == "between")
        .map(|entry| between(cx, &entry.value));
    let bound = match (
        value(cx, "equals"),
        between,
        value(cx, "min"),
        value(cx, "max"),
    ) {
        (Some(equals), ..) => Bound::Equals(equals?),
        (_, Some(range), ..) => {
            let (lo, hi) = range?;
            Bound::Between(lo, hi)
        }
        (_, _, Some(min), Some(max)) => {
            let (min, max) = (min?, max?);
            if min > max {
                let max_entry = keys.iter().find(|entry| entry.key == "max")?;
                let min_entry = keys.iter().find(|entry| entry.key == "min")?;
                cx.error(
                    later(min_entry, max_entry).key_pos,
                    format!("inverted range: min {min} is greater than max {max}"),
                );
                return None;
            }
            Bound::Between(min, max)
        }
        (_, _, Some(min), None) => Bound::Min(min?),
        (_, _, None, Some(max)) => Bound::Max(max?),
        (_, _, None, None) => return Some(None),
    };
    Some(Some(bound))
}

/// The first pair of keys that cannot share a level, with the reason.
fn clash<'e>(keys: &[&'e Entry]) -> Option<(&'e Entry, &'e Entry, &'static str)> {
    keys.iter().enumerate().find_map(|(index, second)| {
        keys[..index].iter().find_map(|first| {
            let pair = [first.key.as_str(), second.key.as_str()];
            let why = if pair.contains(&"equals") {
                "'equals' stands alone"
            } else if pair.contains(&"between") {
                "use 'between', or 'min' and 'max'"
            } else {
                return None;
            };
            Some((*first, *second, why))
        })
    })
}

/// `between: [lo, hi]`, inclusive, low bound first.
fn between(cx: &mut Cx<'_>, node: &Node) -> Option<(f64, f64)> {
    let items = cx.list(node, "between")?;
    let [lo, hi] = items else {
        cx.error(
            node.pos,
            format!(
                "'between' needs two numbers, like [10, 500]; found {}",
                items.len()
            ),
        );
        return None;
    };
    let (lo, hi) = (cx.number(lo, "between"), cx.number(hi, "between"));
    let (lo, hi) = (lo?, hi?);
    if lo > hi {
        cx.error(
            node.pos,
            format!("inverted range: between [{lo}, {hi}] (write the low bound first)"),
        );
        return None;
    }
    Some((lo, hi))
}

/// `anomaly: {sensitivity, direction, watch}`; all optional (`anomaly: {}` takes the
/// defaults).
fn anomaly(cx: &mut Cx<'_>, node: &Node) -> Option<AnomalySpec> {
    let fields = cx.fields(node, "anomaly", &ANOMALY_KEYS)?;
    let sensitivity = fields.read(cx, "sensitivity", |cx, node, _| sensitivity(cx, node));
    let direction = fields.read(cx, "direction", |cx, node, key| {
        cx.choice(node, key, &DIRECTIONS)
    });
    let watch = fields.read(cx, "watch", |cx, node, key| cx.choice(node, key, &WATCHES));
    Some(AnomalySpec {
        sensitivity: sensitivity?,
        direction: direction?.map(str::to_owned),
        watch: match watch? {
            Some("added") => AnomalyWatch::Added,
            _ => AnomalyWatch::Value,
        },
    })
}

/// `low`, `medium`, `high`, or a positive number (a z-score-like multiplier).
fn sensitivity(cx: &mut Cx<'_>, node: &Node) -> Option<String> {
    let text = cx.text(node, "sensitivity")?;
    let valid = SENSITIVITIES.contains(&text.value.as_str())
        || text.number().is_some_and(|number| number > 0.0);
    if !valid {
        cx.error(
            node.pos,
            format!(
                "invalid value {} for 'sensitivity' (expected low, medium, high or a positive number)",
                text.shown()
            ),
        );
        return None;
    }
    Some(text.value)
}

fn contradiction(cx: &mut Cx<'_>, a: &Entry, b: &Entry, why: &str) {
    let (first, second) = if a.key_pos <= b.key_pos {
        (a, b)
    } else {
        (b, a)
    };
    cx.error(
        second.key_pos,
        format!(
            "contradictory thresholds: '{}' and '{}' ({why})",
            first.key, second.key
        ),
    );
}

fn later<'e>(a: &'e Entry, b: &'e Entry) -> &'e Entry {
    if a.key_pos >= b.key_pos { a } else { b }
}

/// The entries whose key is one of `keys`, in file order.
fn entries<'n>(fields: &Fields<'n>, keys: &[&str]) -> Vec<&'n Entry> {
    fields
        .entries
        .iter()
        .filter(|entry| keys.contains(&entry.key.as_str()))
        .collect()
}
