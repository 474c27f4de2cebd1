//! A dataset file: one dataset, its settings and its checks.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::check::{self, SEVERITIES, kind_spec};
use super::reader::{Cx, Fields, optional, timezone_hint};
use super::user_sql::Grammar;
use super::yaml::{Node, Pos, Value};
use super::{
    Bound, Check, CheckKind, Dataset, FileFormat, FileSource, FreshBy, FreshnessSla, Grain,
    Location, Partition, Severity, Sla, TableRef, Thresholds, suggest,
};

pub(crate) const DATASET_KEYS: [&str; 13] = [
    "dataset",
    "warehouse",
    "files",
    "owner",
    "schedule",
    "timezone",
    "tags",
    "upstream",
    "filter",
    "partition",
    "sla",
    "description",
    "checks",
];
pub(crate) const PARTITION_KEYS: [&str; 4] = ["column", "grain", "backfill", "history"];
pub(crate) const SLA_KEYS: [&str; 3] = ["freshness", "checks", "severity"];
pub(crate) const FRESHNESS_SLA_KEYS: [&str; 3] = ["column", "within", "fresh_by"];

/// What dataset files may refer to in `tidemark.yml`: every declared name, valid or not, so
/// one broken warehouse does not also make each dataset using it an error.
pub(crate) struct Declared<'p> {
    pub warehouses: Vec<&'p str>,
    pub grammars: &'p BTreeMap<String, Grammar>,
    pub owners: Vec<&'p str>,
    /// Where relative `files:` paths start.
    pub project_dir: &'p Path,
}

/// What identifies a dataset across files, known even when the rest of the file is broken.
pub(crate) struct Identity {
    pub warehouse: String,
    pub table: TableRef,
    pub name: String,
    pub location: Location,
}

pub(crate) struct Loaded {
    pub identity: Option<Identity>,
    /// `None` when the file had problems (all reported).
    pub dataset: Option<Dataset>,
}

pub(crate) fn load(cx: &mut Cx<'_>, root: &Node, declared: &Declared<'_>) -> Loaded {
    let failed = Loaded {
        identity: None,
        dataset: None,
    };
    let Some(fields) = root_fields(cx, root) else {
        return failed;
    };
    // Messages name the dataset as written, even if the name itself is malformed.
    let written = fields
        .get("dataset")
        .and_then(Node::scalar)
        .map(|scalar| format!("dataset {}", scalar.text))
        .unwrap_or_default();
    let mut cx = cx.scoped(&written);
    unknown_keys(&mut cx, &fields);
    let name_node = fields.require(&mut cx, "dataset");
    let name = name_node.and_then(|node| dataset_name(&mut cx, node));
    let warehouse = warehouse(&mut cx, &fields, declared);
    let grammar = warehouse
        .as_ref()
        .and_then(|name| declared.grammars.get(name).copied());
    cx.set_grammar(grammar);
    let files = fields.read(&mut cx, "files", |cx, node, key| {
        files(cx, node, key, grammar, declared.project_dir)
    });
    let settings = settings(&mut cx, &fields, declared, &written);
    let (Some(node), Some((name, mut table)), Some(warehouse), Some(files)) =
        (name_node, name, warehouse, files)
    else {
        return failed;
    };
    table.files = files;
    let location = cx.location(node.pos);
    let identity = Identity {
        warehouse: warehouse.clone(),
        table: table.clone(),
        name: name.clone(),
        location: location.clone(),
    };
    let dataset = settings.map(|settings| Dataset {
        name,
        table,
        warehouse,
        owner: settings.owner,
        schedule: settings.schedule,
        timezone: settings.timezone,
        tags: settings.tags,
        upstream: settings.upstream,
        filter: settings.filter,
        sla: settings.sla,
        partition: settings.partition,
        checks: settings.checks,
        location,
    });
    Loaded {
        identity: Some(identity),
        dataset,
    }
}

/// The top of a dataset file, which must be a mapping.
fn root_fields<'n>(cx: &mut Cx<'_>, root: &'n Node) -> Option<Fields<'n>> {
    let Value::Map(entries) = &root.value else {
        let found = root.describe();
        cx.error(
            root.pos,
            format!(
                "a dataset file holds one mapping, starting with 'dataset: schema.table'; \
                 found {found}"
            ),
        );
        return None;
    };
    Some(Fields {
        pos: root.pos,
        entries,
    })
}

/// Unknown keys, with a pointed message for a check written at dataset level.
fn unknown_keys(cx: &mut Cx<'_>, fields: &Fields<'_>) {
    for entry in fields.entries {
        if DATASET_KEYS.contains(&entry.key.as_str()) {
            continue;
        }
        if kind_spec(&entry.key).is_some() {
            let message = format!(
                "'{}' is a check kind, not a dataset key: write it as an item of the 'checks' \
                 list ('- {}: {{…}}')",
                entry.key, entry.key
            );
            cx.error(entry.key_pos, message);
        } else {
            cx.unknown_key(entry, &DATASET_KEYS);
        }
    }
}

fn dataset_name(cx: &mut Cx<'_>, node: &Node) -> Option<(String, TableRef)> {
    let text = cx.text(node, "dataset")?;
    match TableRef::parse(&text.value) {
        Ok(table) => Some((text.value, table)),
        Err(error) => {
            cx.error(
                node.pos,
                format!("invalid dataset name {}: {error}", text.shown()),
            );
            None
        }
    }
}

/// The named warehouse, or the only one declared.
fn warehouse(cx: &mut Cx<'_>, fields: &Fields<'_>, declared: &Declared<'_>) -> Option<String> {
    let Some(node) = fields.get("warehouse") else {
        return match declared.warehouses.as_slice() {
            [only] => Some((*only).to_owned()),
            // No warehouse at all is reported once, in tidemark.yml.
            [] => None,
            several => {
                cx.error(
                    fields.pos,
                    format!(
                        "missing 'warehouse': tidemark.yml declares several ({})",
                        several.join(", ")
                    ),
                );
                None
            }
        };
    };
    let name = cx.string(node, "warehouse")?;
    if declared.warehouses.contains(&name.as_str()) {
        return Some(name);
    }
    let hint = suggest::hint(
        &name,
        &declared.warehouses,
        "declared warehouses",
        "tidemark.yml declares none",
    );
    cx.error(node.pos, format!("unknown warehouse '{name}'{hint}"));
    None
}

/// `files: data/orders/*.parquet`: a path or glob (relative to the project directory), in
/// a format its extension names, on a warehouse that reads files. `grammar` is `None` when
/// the warehouse is unknown or broken (reported elsewhere).
fn files(
    cx: &mut Cx<'_>,
    node: &Node,
    key: &str,
    grammar: Option<Grammar>,
    project_dir: &Path,
) -> Option<FileSource> {
    let written = cx.string(node, key)?;
    if grammar.is_some_and(|grammar| !grammar.reads_files(FileFormat::Parquet)) {
        cx.error(
            node.pos,
            "'files' needs a warehouse that reads files (duckdb://, sc://); this one reads \
             tables: name the table in 'dataset' instead",
        );
        return None;
    }
    let Some(format) = FileFormat::of_path(&written) else {
        cx.error(
            node.pos,
            format!(
                "'files': cannot tell the format of '{written}': end the path or glob in \
                 .parquet, .csv or .json (.jsonl, .ndjson; .gz or .zst compressed)"
            ),
        );
        return None;
    };
    if grammar.is_some_and(|grammar| !grammar.reads_files(format)) {
        cx.error(
            node.pos,
            format!(
                "'files': this warehouse does not read {} files: convert them to Parquet, or \
                 read them through a table",
                format.name()
            ),
        );
        return None;
    }
    // A URI (`s3a://lake/orders/`) is the engine's to resolve; a path is the project's,
    // made absolute: a server (Spark) resolves relative paths against its own directory.
    let path = if written.contains("://") {
        written
    } else {
        let joined = project_dir.join(&written);
        let absolute = std::path::absolute(&joined).unwrap_or(joined);
        absolute.to_string_lossy().into_owned()
    };
    Some(FileSource { path, format })
}

/// Everything in a dataset but its name and warehouse.
struct Settings {
    owner: Option<String>,
    schedule: Option<String>,
    timezone: Option<chrono_tz::Tz>,
    tags: Vec<String>,
    upstream: Vec<String>,
    filter: Option<String>,
    sla: Option<Sla>,
    partition: Option<Partition>,
    checks: Vec<Check>,
}

fn settings(
    cx: &mut Cx<'_>,
    fields: &Fields<'_>,
    declared: &Declared<'_>,
    context: &str,
) -> Option<Settings> {
    let owner = fields.read(cx, "owner", |cx, node, _| owner(cx, node, declared));
    let schedule = fields.read(cx, "schedule", Cx::cron);
    let timezone = fields.read(cx, "timezone", Cx::timezone);
    let tags = fields.read(cx, "tags", Cx::optional_strings);
    let upstream = fields.read(cx, "upstream", Cx::optional_strings);
    let filter = fields.read(cx, "filter", Cx::user_filter);
    let partition = fields.read(cx, "partition", |cx, node, _| partition(cx, node));
    // Validated for the user's sake; the model has no place for it yet.
    let description = fields.read(cx, "description", Cx::string);
    description?;
    let checks = fields.read(cx, "checks", |cx, node, key| {
        let items = cx.list(node, key)?;
        check::checks(cx, items, context)
    });
    let names: Option<Vec<&str>> = checks
        .as_ref()
        .map(|checks| checks.iter().flatten().map(|c| c.name.as_str()).collect());
    let sla = fields.read(cx, "sla", |cx, node, _| sla(cx, node, names.as_deref()));
    let (sla, measure) = match sla? {
        Some((sla, measure)) => (Some(sla), measure),
        None => (None, None),
    };
    let mut checks = checks?.unwrap_or_default();
    let partition = partition?;
    if partition.is_none() {
        for check in checks
            .iter()
            .filter(|c| c.kind.per_bucket() && c.kind.keyword() == "duplicate_count")
        {
            let pos = Pos {
                line: check.location.line,
                column: check.location.column,
            };
            cx.error(
                pos,
                format!(
                    "check {}: 'per_partition' needs the dataset's 'partition' (a column and a grain)",
                    check.name
                ),
            );
        }
    }
    checks.extend(measure);
    Some(Settings {
        owner: owner?,
        schedule: schedule?,
        timezone: timezone?,
        tags: tags?.unwrap_or_default(),
        upstream: upstream?.unwrap_or_default(),
        filter: filter?,
        partition,
        sla,
        checks,
    })
}

/// `partition: { column, grain, backfill, history }`.
fn partition(cx: &mut Cx<'_>, node: &Node) -> Option<Partition> {
    let fields = cx.fields(node, "partition", &PARTITION_KEYS)?;
    let column = fields
        .require(cx, "column")
        .and_then(|node| cx.string(node, "column"));
    let grain = fields.require(cx, "grain").and_then(|node| {
        cx.choice(node, "grain", &Grain::KEYWORDS)
            .and_then(Grain::parse)
    });
    let backfill = fields.read(cx, "backfill", |cx, node, key| {
        cx.whole(node, key, 0..=10_000)
    });
    let history = fields.read(cx, "history", |cx, node, key| {
        cx.whole(node, key, 1..=10_000)
    });
    Some(Partition {
        column: column?,
        grain: grain?,
        backfill: backfill?.unwrap_or(Partition::DEFAULT_BACKFILL),
        history: history?.unwrap_or(Partition::DEFAULT_HISTORY),
    })
}

fn owner(cx: &mut Cx<'_>, node: &Node, declared: &Declared<'_>) -> Option<String> {
    let name = cx.string(node, "owner")?;
    if declared.owners.contains(&name.as_str()) {
        return Some(name);
    }
    let hint = suggest::hint(
        &name,
        &declared.owners,
        "declared owners",
        "tidemark.yml declares no owners",
    );
    cx.error(node.pos, format!("unknown owner '{name}'{hint}"));
    None
}

/// The SLA, and the check that measures its freshness when it has one. `names` are the
/// dataset's check names (`None` when its checks had problems: nothing to compare with).
fn sla(cx: &mut Cx<'_>, node: &Node, names: Option<&[&str]>) -> Option<(Sla, Option<Check>)> {
    let fields = cx.fields(node, "sla", &SLA_KEYS)?;
    let severity = fields.read(cx, "severity", |cx, node, key| {
        cx.choice(node, key, &SEVERITIES).and_then(Severity::parse)
    });
    let checks = fields.read(cx, "checks", |cx, node, key| {
        sla_checks(cx, node, key, names)
    });
    let freshness = optional(
        fields
            .get("freshness")
            .map(|node| freshness_sla(cx, node, names)),
    )?;
    let severity = severity?.unwrap_or(Sla::DEFAULT_SEVERITY);
    let sla = Sla {
        freshness: freshness.as_ref().map(|(sla, _)| sla.clone()),
        checks: checks?.unwrap_or_default(),
        severity,
    };
    let measure = freshness.map(|(freshness, pos)| Check {
        name: Sla::FRESHNESS_CHECK.to_owned(),
        kind: CheckKind::Freshness {
            column: freshness.column.clone(),
        },
        thresholds: Thresholds {
            fail: freshness
                .within
                .map(|within| Bound::Max(within.as_secs_f64())),
            ..Thresholds::default()
        },
        filter: None,
        severity: Some(severity),
        description: Some("The dataset's freshness SLA.".to_owned()),
        location: cx.location(pos),
    });
    Some((sla, measure))
}

/// `freshness: {column, within, fresh_by}`, with the position the measuring check points at.
fn freshness_sla(
    cx: &mut Cx<'_>,
    node: &Node,
    names: Option<&[&str]>,
) -> Option<(FreshnessSla, Pos)> {
    let fields = cx.fields(node, "freshness", &FRESHNESS_SLA_KEYS)?;
    let column = fields
        .require(cx, "column")
        .and_then(|node| cx.string(node, "column"));
    let within = fields.read(cx, "within", Cx::duration);
    let fresh_by = fields.read(cx, "fresh_by", fresh_by);
    let (within, fresh_by): (Option<Duration>, Option<FreshBy>) = (within?, fresh_by?);
    if within.is_none() && fresh_by.is_none() {
        cx.error(
            node.pos,
            "a freshness SLA needs 'within' (a duration), 'fresh_by' (a time of day), or both",
        );
        return None;
    }
    if names.is_some_and(|names| names.contains(&Sla::FRESHNESS_CHECK)) {
        cx.error(
            node.pos,
            format!(
                "a check is named '{}', the name of the check measuring this SLA: rename it",
                Sla::FRESHNESS_CHECK
            ),
        );
        return None;
    }
    let sla = FreshnessSla {
        column: column?,
        within,
        fresh_by,
    };
    Some((sla, node.pos))
}

/// `fresh_by: "09:00 Europe/Berlin"` (the timezone defaults to UTC).
fn fresh_by(cx: &mut Cx<'_>, node: &Node, key: &str) -> Option<FreshBy> {
    let text = cx.text(node, key)?;
    let (time, zone) = match text.value.trim().split_once(' ') {
        Some((time, zone)) => (time, zone.trim()),
        None => (text.value.trim(), "UTC"),
    };
    let Ok(time) = chrono::NaiveTime::parse_from_str(time, "%H:%M") else {
        let shown = text.shown();
        cx.error(
            node.pos,
            format!(
                "invalid value {shown} for '{key}': expected a time of day HH:MM and a \
                 timezone, e.g. \"09:00 Europe/Berlin\""
            ),
        );
        return None;
    };
    let Ok(timezone) = zone.parse::<chrono_tz::Tz>() else {
        let hint = timezone_hint(zone);
        cx.error(
            node.pos,
            format!("unknown timezone '{zone}' in '{key}'{hint}"),
        );
        return None;
    };
    Some(FreshBy { time, timezone })
}

/// `checks: [name, …]`: checks of the dataset whose failures breach the SLA.
fn sla_checks(
    cx: &mut Cx<'_>,
    node: &Node,
    key: &str,
    names: Option<&[&str]>,
) -> Option<Vec<String>> {
    let items = cx.list(node, key)?;
    let checks: Vec<Option<String>> = items
        .iter()
        .map(|item| {
            let name = cx.string(item, key)?;
            match names {
                Some(names) if !names.contains(&name.as_str()) => {
                    let hint = suggest::hint(
                        &name,
                        names,
                        "checks of the dataset",
                        "the dataset has no checks",
                    );
                    cx.error(
                        item.pos,
                        format!("unknown check '{name}' in 'checks'{hint}"),
                    );
                    None
                }
                _ => Some(name),
            }
        })
        .collect();
    checks.into_iter().collect()
}
