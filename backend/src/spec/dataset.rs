//! A dataset file: one dataset, its settings and its checks.

use super::check::{self, kind_spec};
use super::reader::{Cx, Fields, optional};
use super::yaml::{Node, Value};
use super::{Check, Dataset, FreshnessSla, Location, Sla, TableRef, suggest};

pub(crate) const DATASET_KEYS: [&str; 11] = [
    "dataset",
    "warehouse",
    "owner",
    "schedule",
    "timezone",
    "tags",
    "upstream",
    "filter",
    "sla",
    "description",
    "checks",
];
pub(crate) const SLA_KEYS: [&str; 1] = ["freshness"];
pub(crate) const FRESHNESS_SLA_KEYS: [&str; 2] = ["column", "within"];

/// What dataset files may refer to in `tidemark.yml`: every declared name, valid or not, so
/// one broken warehouse does not also make each dataset using it an error.
pub(crate) struct Declared<'p> {
    pub warehouses: Vec<&'p str>,
    pub owners: Vec<&'p str>,
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
    let settings = settings(&mut cx, &fields, declared, &written);
    let (Some(node), Some((name, table)), Some(warehouse)) = (name_node, name, warehouse) else {
        return failed;
    };
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

/// Everything in a dataset but its name and warehouse.
struct Settings {
    owner: Option<String>,
    schedule: Option<String>,
    timezone: Option<chrono_tz::Tz>,
    tags: Vec<String>,
    upstream: Vec<String>,
    filter: Option<String>,
    sla: Option<Sla>,
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
    let filter = fields.read(cx, "filter", Cx::string);
    // Validated for the user's sake; the model has no place for it yet.
    let description = fields.read(cx, "description", Cx::string);
    let sla = fields.read(cx, "sla", |cx, node, _| sla(cx, node));
    description?;
    let checks = fields.read(cx, "checks", |cx, node, key| {
        let items = cx.list(node, key)?;
        check::checks(cx, items, context)
    });
    Some(Settings {
        owner: owner?,
        schedule: schedule?,
        timezone: timezone?,
        tags: tags?.unwrap_or_default(),
        upstream: upstream?.unwrap_or_default(),
        filter: filter?,
        sla: sla?,
        checks: checks?.unwrap_or_default(),
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

fn sla(cx: &mut Cx<'_>, node: &Node) -> Option<Sla> {
    let fields = cx.fields(node, "sla", &SLA_KEYS)?;
    let freshness = optional(fields.get("freshness").map(|node| {
        let fields = cx.fields(node, "freshness", &FRESHNESS_SLA_KEYS)?;
        let column = fields
            .require(cx, "column")
            .and_then(|node| cx.string(node, "column"));
        let within = fields
            .require(cx, "within")
            .and_then(|node| cx.duration(node, "within"));
        Some(FreshnessSla {
            column: column?,
            within: within?,
        })
    }))?;
    Some(Sla { freshness })
}
