//! JSON Schema (draft 2020-12) of a dataset file, for editors (yaml-language-server gives
//! completion, hovers and squiggles from it). Kinds and their parameters come from
//! [`KINDS`], the table validation uses; this module only says what type each parameter has.
//! The schema is a guide: `tidemark validate` remains the authority (cross-file rules,
//! contradictory thresholds and `${VAR}` values are beyond what a schema can say).

use serde_json::{Map, Value, json};

use super::TypeFamily;
use super::check::{DRIFT_KEYS, KINDS, KindSpec, LEVELS, SEVERITIES, ThresholdStyle};
use super::drift::{METHODS, REFERENCES, SNAPSHOT};
use super::thresholds::{BOUND_KEYS, DIRECTIONS, METRIC_KEYS, SENSITIVITIES, WATCHES};

/// JSON Schema (draft 2020-12) of a dataset file, for yaml-language-server.
pub fn dataset_json_schema() -> Value {
    let mut defs = Map::new();
    for spec in &KINDS {
        defs.insert(spec.keyword.to_owned(), check_item(spec));
    }
    defs.insert("level".to_owned(), level());
    defs.insert("anomaly".to_owned(), anomaly());
    defs.insert("duration".to_owned(), duration());
    defs.insert("literals".to_owned(), literals());
    let kinds: Vec<Value> = KINDS
        .iter()
        .map(|spec| json!({ "$ref": format!("#/$defs/{}", spec.keyword) }))
        .collect();
    defs.insert(
        "check".to_owned(),
        json!({
            "description": "A check: a mapping with one key, its kind, holding its parameters.",
            "oneOf": kinds,
        }),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tidemark dataset file",
        "description": "One dataset of the warehouse and the checks run against it.",
        "type": "object",
        "required": ["dataset"],
        "additionalProperties": false,
        "properties": dataset_properties(),
        "$defs": defs,
    })
}

fn dataset_properties() -> Value {
    json!({
        "dataset": text("The table, as `schema.table` or `table`, spelt as the warehouse spells it. Quote a part with double quotes when it contains a dot: `\"my.schema\".orders`."),
        "warehouse": text("Warehouse from tidemark.yml; optional when there is only one."),
        "files": text("On a duckdb: warehouse, read these files instead of a table: a path or glob relative to tidemark.yml's folder (or absolute), ending in .parquet, .csv or .json. Hive partition folders (dt=2026-12-01/) become columns."),
        "owner": text("Owner from tidemark.yml, alerted when a check fails or an SLA is breached."),
        "schedule": cron(),
        "timezone": text("IANA timezone of the schedule, e.g. Europe/Berlin. Default: the project's timezone."),
        "tags": strings("Free-form labels for selecting and grouping datasets.", 0),
        "upstream": strings("Datasets this one is built from (declared lineage).", 0),
        "filter": text("SQL predicate applied to every check of the dataset."),
        "partition": {
            "description": "Compute the metric checks per time bucket of a column, scanning only new buckets: each bucket is a point of the check's series.",
            "type": "object",
            "additionalProperties": false,
            "required": ["column", "grain"],
            "properties": {
                "column": text("The timestamp or date column the buckets are of."),
                "grain": { "enum": ["hour", "day"], "description": "The bucket size." },
                "backfill": { "type": "integer", "minimum": 0, "description": "Stored buckets measured again on each run (late data). Default 1." },
                "history": { "type": "integer", "minimum": 1, "description": "Buckets a first run measures. Default 30." }
            }
        },
        "sla": {
            "description": "Service levels; a breach opens an incident and alerts the owner.",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "freshness": {
                    "description": "The column's latest value must be at most `within` old, \
                        and/or from the current day once `fresh_by` has passed. Measured by a \
                        check named `sla:freshness`.",
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["column"],
                    "anyOf": [{ "required": ["within"] }, { "required": ["fresh_by"] }],
                    "properties": {
                        "column": text("Timestamp or date column."),
                        "within": reference("duration"),
                        "fresh_by": {
                            "description": "Time of day and IANA timezone (default UTC) by \
                                which each day's data must have landed, e.g. \"09:00 Europe/Berlin\".",
                            "type": "string",
                            "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]( [A-Za-z0-9_+/-]+)?$",
                        },
                    },
                },
                "checks": strings(
                    "Checks of this dataset that must pass: a failure of one breaches the SLA.",
                    1,
                ),
                "severity": choice("How urgent a breach is (default high).", &SEVERITIES),
            },
        },
        "description": text("What the dataset holds, for the dashboard."),
        "checks": {
            "description": "Checks run against the dataset.",
            "type": "array",
            "items": reference("check"),
        },
    })
}

/// `{kind: {params}}` for one kind.
fn check_item(spec: &KindSpec) -> Value {
    let mut properties = Map::new();
    for key in spec.allowed() {
        properties.insert(key.to_owned(), param(spec.keyword, key));
    }
    let mut params = json!({
        "description": spec.summary,
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
        "required": required(spec.keyword),
    });
    if let (Some(object), Some(rules)) = (params.as_object_mut(), at_least_one(spec)) {
        object.insert("anyOf".to_owned(), rules);
    }
    json!({
        "description": spec.summary,
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "maxProperties": 1,
        "required": [spec.keyword],
        "properties": { spec.keyword: params },
    })
}

/// The schema of one parameter of a kind.
fn param(kind: &str, key: &str) -> Value {
    match key {
        "name" => text("Unique name in the dataset. Default: kind(column), e.g. avg(amount)."),
        "severity" => choice("How urgent a failure is.", &SEVERITIES),
        "filter" => text("SQL predicate ANDed with the dataset's filter for this check."),
        "description" => text("What the check guards, for alerts and the dashboard."),
        "column" => text("The column the check measures."),
        "columns" if kind == "schema" => declared_columns(),
        "columns" => strings(
            "Key columns; rows with a NULL in any of them are not counted.",
            1,
        ),
        "per_partition" => json!({
            "type": "boolean",
            "description": "On a partitioned dataset: count duplicates within each bucket instead of over the whole table."
        }),
        "missing_values" => with_description(
            literals(),
            "Values that count as missing besides NULL, e.g. ['', 'N/A'].",
        ),
        "valid_values" => with_description(literals(), "The only values that are valid."),
        "valid_regex" => text("Regular expression every valid value matches."),
        "valid_min" => number("Smallest valid value."),
        "valid_max" => number("Largest valid value."),
        "warn_after" => with_description(duration(), "Warn when the latest value is older."),
        "fail_after" => with_description(duration(), "Fail when the latest value is older."),
        "query" => text("SQL returning one row with one number, run read-only."),
        "method" => choice(
            "Drift test: ks (numeric columns), psi, or chi_square (value frequencies). \
             Default: ks for a numeric column, chi_square for any other.",
            &METHODS,
        ),
        "reference" => drift_reference(),
        "threshold" => drift_threshold(),
        key if DRIFT_KEYS.contains(&key) => choice("Outcome when this drift is seen.", &LEVELS),
        key if LEVELS.contains(&key) => with_description(
            reference("level"),
            "Thresholds of this level; a bare threshold is the fail level.",
        ),
        "anomaly" => reference("anomaly"),
        key if BOUND_KEYS.contains(&key) => bound(key),
        // Unreachable while every key in KINDS has an arm; a unit test keeps it that way.
        _ => json!({}),
    }
}

/// A bare threshold, or one inside a warn/fail level.
fn bound(key: &str) -> Value {
    match key {
        "min" => number("Lowest allowed value (inclusive)."),
        "max" => number("Highest allowed value (inclusive)."),
        "equals" => number("The only allowed value."),
        _ => json!({
            "description": "Allowed range [low, high], inclusive.",
            "type": "array",
            "prefixItems": [{ "type": "number" }, { "type": "number" }],
            "minItems": 2,
            "maxItems": 2,
        }),
    }
}

/// Required parameters of a kind.
fn required(kind: &str) -> Vec<&'static str> {
    match kind {
        "row_count" | "duplicate_count" | "schema" => vec![],
        "sql_metric" => vec!["name", "query"],
        _ => vec!["column"],
    }
}

/// "At least one of" rules: a threshold, a validity rule, a drift setting, one key column;
/// `None` for kinds whose other parameters all have defaults.
fn at_least_one(spec: &KindSpec) -> Option<Value> {
    let keys: &[&str] = match (spec.keyword, spec.thresholds) {
        ("duplicate_count", _) => &["columns", "column"],
        ("invalid_count", _) => &["valid_values", "valid_regex", "valid_min", "valid_max"],
        (_, ThresholdStyle::Metric) => &METRIC_KEYS,
        (_, ThresholdStyle::Freshness) => &[
            "warn_after",
            "fail_after",
            "min",
            "max",
            "between",
            "equals",
            "anomaly",
        ],
        (_, ThresholdStyle::Drift) => &["columns", "on_added", "on_removed", "on_type_changed"],
        (_, ThresholdStyle::Distribution) => return None,
    };
    let rules: Vec<Value> = keys
        .iter()
        .map(|key| json!({ "required": [key] }))
        .collect();
    Some(Value::Array(rules))
}

/// `previous`, `last_7d` or `{snapshot: <time>}`.
fn drift_reference() -> Value {
    json!({
        "description": "What the column is compared with: previous (the last run's profile, \
            default), last_7d (the profiles of the last 7 days, pooled), or {snapshot: <RFC \
            3339 time>} (the last profile recorded at or before that time).",
        "anyOf": [
            { "enum": REFERENCES },
            {
                "type": "object",
                "additionalProperties": false,
                "required": [SNAPSHOT],
                "properties": {
                    SNAPSHOT: { "type": "string", "format": "date-time" },
                },
            },
        ],
    })
}

/// A fail level, or warn/fail levels.
fn drift_threshold() -> Value {
    let level = json!({ "type": "number", "exclusiveMinimum": 0 });
    json!({
        "description": "Alert level of the test's result: a p-value below it (ks, chi_square; \
            default 0.01) or a PSI above it (psi; default warn 0.1, fail 0.25). A number is \
            the fail level.",
        "anyOf": [
            level,
            {
                "type": "object",
                "additionalProperties": false,
                "minProperties": 1,
                "properties": { "warn": level, "fail": level },
            },
        ],
    })
}

fn level() -> Value {
    let properties: Map<String, Value> = BOUND_KEYS
        .iter()
        .map(|key| ((*key).to_owned(), bound(key)))
        .collect();
    json!({
        "description": "min, max (together: a range), between or equals.",
        "type": "object",
        "additionalProperties": false,
        "minProperties": 1,
        "properties": properties,
    })
}

fn anomaly() -> Value {
    json!({
        "description": "Learned threshold: the value must stay within what its history predicts.",
        "type": ["object", "null"],
        "additionalProperties": false,
        "properties": {
            "sensitivity": {
                "description": "low, medium, high, or a positive number (lower flags more).",
                "anyOf": [
                    { "enum": SENSITIVITIES },
                    { "type": "number", "exclusiveMinimum": 0 },
                ],
            },
            "direction": choice("Which deviations count.", &DIRECTIONS),
            "watch": choice(
                "value (default), or added: how much the value grew since the previous run \
                 (for row_count, the rows added).",
                &WATCHES,
            ),
        },
    })
}

fn declared_columns() -> Value {
    let families: Vec<&str> = TypeFamily::ALL.iter().map(|family| family.name()).collect();
    json!({
        "description": "Expected columns and their types.",
        "type": "object",
        "minProperties": 1,
        "additionalProperties": {
            "description": "A type family, or an exact warehouse type name.",
            "type": "string",
            "anyOf": [{ "enum": families }, { "type": "string" }],
        },
    })
}

fn duration() -> Value {
    json!({
        "description": "A duration: whole numbers with units w, d, h, m, s, largest first (30s, 15m, 1h30m, 1d).",
        "type": "string",
        "pattern": "^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$",
        "minLength": 2,
    })
}

fn literals() -> Value {
    json!({
        "type": "array",
        "minItems": 1,
        "items": { "type": ["string", "number", "boolean"] },
    })
}

fn cron() -> Value {
    text(
        "Standard 5-field cron (minute hour day-of-month month day-of-week), e.g. \"*/15 * * * *\".",
    )
}

fn text(description: &str) -> Value {
    json!({ "description": description, "type": "string" })
}

fn number(description: &str) -> Value {
    json!({ "description": description, "type": "number" })
}

fn strings(description: &str, min_items: usize) -> Value {
    json!({
        "description": description,
        "type": "array",
        "items": { "type": "string" },
        "minItems": min_items,
    })
}

fn choice(description: &str, options: &[&str]) -> Value {
    json!({ "description": description, "enum": options })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

fn with_description(mut schema: Value, description: &str) -> Value {
    if let Some(object) = schema.as_object_mut() {
        object.insert("description".to_owned(), json!(description));
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        dataset_json_schema()
    }

    #[test]
    fn is_a_draft_2020_12_object_schema_that_round_trips_as_json() {
        let schema = schema();
        let text = serde_json::to_string(&schema).expect("serialises");
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(parsed, schema);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["dataset"]));
    }

    #[test]
    fn lists_every_dataset_key() {
        let schema = schema();
        let properties = schema["properties"].as_object().expect("properties");
        let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
        let mut expected = crate::spec::dataset::DATASET_KEYS.to_vec();
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn sla_keys_are_the_languages() {
        let schema = schema();
        let keys = |value: &Value| {
            let mut keys: Vec<String> = value
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone())
                .collect();
            keys.sort_unstable();
            keys
        };
        let sorted = |keys: &[&str]| {
            let mut keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            keys.sort_unstable();
            keys
        };
        let sla = &schema["properties"]["sla"]["properties"];
        assert_eq!(keys(sla), sorted(&crate::spec::dataset::SLA_KEYS));
        assert_eq!(
            keys(&sla["freshness"]["properties"]),
            sorted(&crate::spec::dataset::FRESHNESS_SLA_KEYS)
        );
    }

    #[test]
    fn lists_every_check_kind_with_its_parameters() {
        let schema = schema();
        let kinds: Vec<String> = schema["$defs"]["check"]["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .map(|kind| {
                kind["$ref"]
                    .as_str()
                    .unwrap_or_default()
                    .replace("#/$defs/", "")
            })
            .collect();
        assert_eq!(kinds, crate::spec::check::kind_names());
        for spec in &KINDS {
            let item = &schema["$defs"][spec.keyword];
            assert_eq!(item["maxProperties"], 1);
            let params = &item["properties"][spec.keyword];
            assert_eq!(params["additionalProperties"], false, "{}", spec.keyword);
            let properties = params["properties"].as_object().expect("params");
            assert_eq!(properties.len(), spec.allowed().len(), "{}", spec.keyword);
            for (key, param) in properties {
                assert!(
                    param.get("description").is_some() || param.get("$ref").is_some(),
                    "{}.{key} has neither a description nor a reference",
                    spec.keyword
                );
            }
        }
    }

    #[test]
    fn enums_come_from_the_language() {
        let schema = schema();
        let row_count = &schema["$defs"]["row_count"]["properties"]["row_count"]["properties"];
        assert_eq!(
            row_count["severity"]["enum"],
            json!(["low", "medium", "high", "critical"])
        );
        let drift = &schema["$defs"]["schema"]["properties"]["schema"]["properties"];
        assert_eq!(drift["on_added"]["enum"], json!(["warn", "fail"]));
        let families = &drift["columns"]["additionalProperties"]["anyOf"][0]["enum"];
        assert_eq!(
            families.as_array().map(Vec::len),
            Some(TypeFamily::ALL.len())
        );
        assert_eq!(
            schema["$defs"]["anomaly"]["properties"]["direction"]["enum"],
            json!(DIRECTIONS)
        );
    }

    #[test]
    fn every_reference_resolves() {
        fn references(value: &Value, found: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        found.push(target.clone());
                    }
                    map.values().for_each(|value| references(value, found));
                }
                Value::Array(items) => items.iter().for_each(|value| references(value, found)),
                _ => {}
            }
        }
        let schema = schema();
        let mut found = Vec::new();
        references(&schema, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let name = target.trim_start_matches("#/$defs/");
            assert!(schema["$defs"].get(name).is_some(), "dangling {target}");
        }
    }
}
