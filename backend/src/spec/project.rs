//! `tidemark.yml`: warehouses, defaults, notification channels, owners, alert routing and
//! where the dataset files are. URLs are secrets (passwords live in them): messages about them name the
//! warehouse or key, never the value.

use std::collections::BTreeMap;
use std::path::Path;

use super::check::SEVERITIES;
use super::reader::{Cx, Fields};
use super::user_sql::Grammar;
use super::yaml::{Node, Pos, Value};
use super::{
    AlertPolicy, AlertRoute, Channel, Defaults, EmitConfig, LineageConfig, Owner, Project,
    Retention, Secret, Severity, Smtp, WarehouseConfig, suggest,
};
use crate::holidays::HolidayCalendar;

pub(crate) const PROJECT_KEYS: [&str; 13] = [
    "version",
    "store",
    "retention",
    "holidays",
    "warehouses",
    "defaults",
    "channels",
    "smtp",
    "owners",
    "alerts",
    "dashboard_url",
    "lineage",
    "checks",
];
pub(crate) const LINEAGE_KEYS: [&str; 2] = ["dbt_manifest", "emit"];
pub(crate) const EMIT_KEYS: [&str; 3] = ["url", "namespace", "api_key"];
pub(crate) const WAREHOUSE_KEYS: [&str; 3] = ["url", "max_connections", "query_timeout"];
pub(crate) const DEFAULTS_KEYS: [&str; 2] = ["schedule", "timezone"];
pub(crate) const RETENTION_KEYS: [&str; 2] = ["results", "metrics"];
pub(crate) const HOLIDAYS_KEYS: [&str; 2] = ["country", "dates"];
pub(crate) const CHANNEL_KEYS: [&str; 3] = ["slack", "email", "inbox"];
pub(crate) const SMTP_KEYS: [&str; 2] = ["url", "from"];
pub(crate) const OWNER_KEYS: [&str; 1] = ["channels"];
pub(crate) const ALERTS_KEYS: [&str; 5] = [
    "renotify_after",
    "flap_window",
    "max_attempts",
    "routes",
    "templates",
];
pub(crate) const ROUTE_KEYS: [&str; 3] = ["tags", "min_severity", "channels"];
pub(crate) const WAREHOUSE_SCHEMES: [&str; 7] = [
    "postgres://",
    "postgresql://",
    "mysql://",
    "mariadb://",
    "sqlite:",
    "duckdb:",
    "sc://",
];
const STORE_SCHEMES: [&str; 3] = ["postgres://", "postgresql://", "sqlite:"];
/// Where dataset files are looked for when `checks:` is absent.
pub(crate) const DEFAULT_CHECKS: &str = "checks/";

/// The project file read, before its dataset files.
pub(crate) struct Draft {
    /// `None` when the file had problems; its names below are still usable.
    pub project: Option<Project>,
    /// Every declared warehouse and owner, including those with problems.
    pub warehouse_names: Vec<String>,
    /// The SQL grammar of each warehouse whose URL names a known engine, for the guard
    /// of the user SQL in dataset files.
    pub grammars: BTreeMap<String, Grammar>,
    pub owner_names: Vec<String>,
    pub check_paths: Vec<CheckPath>,
}

/// An entry of `checks:`, with its position (`None` for the default `checks/`).
pub(crate) struct CheckPath {
    pub path: String,
    pub pos: Option<Pos>,
}

pub(crate) fn load(cx: &mut Cx<'_>, root: &Node, file: &Path) -> Draft {
    let mut draft = Draft {
        project: None,
        warehouse_names: Vec::new(),
        grammars: BTreeMap::new(),
        owner_names: Vec::new(),
        check_paths: Vec::new(),
    };
    let Some(fields) = cx.fields(root, "tidemark.yml", &PROJECT_KEYS) else {
        return draft;
    };
    draft.warehouse_names = names(&fields, "warehouses");
    draft.owner_names = names(&fields, "owners");
    draft.check_paths = check_paths(cx, &fields).unwrap_or_default();
    let version = version(cx, &fields);
    let store = fields.read(cx, "store", |cx, node, _| store(cx, node));
    let warehouses = fields
        .require(cx, "warehouses")
        .and_then(|node| warehouses(cx, node));
    draft.grammars = warehouses
        .iter()
        .flatten()
        .filter_map(|(name, config)| Some((name.clone(), Grammar::of_url(config.url.expose())?)))
        .collect();
    let defaults = fields.read(cx, "defaults", |cx, node, _| defaults(cx, node));
    let retention = fields.read(cx, "retention", |cx, node, _| retention(cx, node));
    let holidays = fields.read(cx, "holidays", |cx, node, _| holidays(cx, node));
    let smtp = fields.read(cx, "smtp", |cx, node, _| smtp(cx, node));
    let has_smtp = fields.get("smtp").is_some();
    let channels = fields.read(cx, "channels", |cx, node, _| channels(cx, node, has_smtp));
    let channel_names = names(&fields, "channels");
    let owners = fields.read(cx, "owners", |cx, node, _| owners(cx, node, &channel_names));
    let root = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let alerts = fields.read(cx, "alerts", |cx, node, _| {
        alerts(cx, node, &channel_names, &root)
    });
    let dashboard_url = fields.read(cx, "dashboard_url", |cx, node, key| {
        http_url(cx, node, key).map(|url| url.trim_end_matches('/').to_owned())
    });
    let lineage = fields.read(cx, "lineage", |cx, node, _| lineage(cx, node, &root));
    draft.project = version.and_then(|()| {
        Some(Project {
            root,
            file: file.to_path_buf(),
            store: store?,
            warehouses: warehouses?,
            defaults: defaults?.unwrap_or_default(),
            retention: retention?.unwrap_or_default(),
            holidays: holidays?,
            owners: owners?.unwrap_or_default(),
            channels: channels?.unwrap_or_default(),
            smtp: smtp?,
            dashboard_url: dashboard_url?
                .unwrap_or_else(|| Project::DEFAULT_DASHBOARD_URL.to_owned()),
            alerts: alerts?.unwrap_or_default(),
            lineage: lineage?.unwrap_or_default(),
            datasets: Vec::new(),
        })
    });
    draft
}

/// The keys of a top-level mapping (`warehouses`, `owners`), whatever their values.
fn names(fields: &Fields<'_>, key: &str) -> Vec<String> {
    match fields.get(key).map(|node| &node.value) {
        Some(Value::Map(entries)) => entries.iter().map(|entry| entry.key.clone()).collect(),
        _ => Vec::new(),
    }
}

fn version(cx: &mut Cx<'_>, fields: &Fields<'_>) -> Option<()> {
    let Some(node) = fields.get("version") else {
        cx.error(
            fields.pos,
            "missing required key 'version' (add 'version: 1')",
        );
        return None;
    };
    let version = cx.number(node, "version")?;
    if version != 1.0 {
        cx.error(
            node.pos,
            format!("unsupported version {version}: this Tidemark reads version 1"),
        );
        return None;
    }
    Some(())
}

fn store(cx: &mut Cx<'_>, node: &Node) -> Option<Secret> {
    let url = cx.string(node, "store")?;
    if !STORE_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        cx.error(node.pos, "'store' must be a sqlite: or postgres:// URL");
        return None;
    }
    Some(Secret::new(url))
}

fn warehouses(cx: &mut Cx<'_>, node: &Node) -> Option<BTreeMap<String, WarehouseConfig>> {
    let fields = cx.mapping(node, "warehouses")?;
    if fields.entries.is_empty() {
        cx.error(node.pos, "'warehouses' must declare at least one warehouse");
        return None;
    }
    let configs: Vec<Option<(String, WarehouseConfig)>> = fields
        .entries
        .iter()
        .map(|entry| {
            let mut cx = cx.scoped(&format!("warehouse {}", entry.key));
            let config = warehouse(&mut cx, &entry.key, &entry.value)?;
            Some((entry.key.clone(), config))
        })
        .collect();
    configs.into_iter().collect()
}

fn warehouse(cx: &mut Cx<'_>, name: &str, node: &Node) -> Option<WarehouseConfig> {
    let fields = cx.fields(node, name, &WAREHOUSE_KEYS)?;
    let url = fields.require(cx, "url").and_then(|node| {
        let url = cx.string(node, "url")?;
        if WAREHOUSE_SCHEMES
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Some(Secret::new(url));
        }
        let (last, others) = WAREHOUSE_SCHEMES.split_last().unwrap_or((&"", &[]));
        cx.error(
            node.pos,
            format!("'url' must start with {} or {last}", others.join(", ")),
        );
        None
    });
    let max_connections = fields.read(cx, "max_connections", |cx, node, key| {
        cx.whole(node, key, 1..=WarehouseConfig::MAX_CONNECTIONS)
    });
    let query_timeout = fields.read(cx, "query_timeout", Cx::duration);
    Some(WarehouseConfig {
        name: name.to_owned(),
        url: url?,
        max_connections: max_connections?.unwrap_or(WarehouseConfig::DEFAULT_MAX_CONNECTIONS),
        query_timeout: query_timeout?.unwrap_or(WarehouseConfig::DEFAULT_QUERY_TIMEOUT),
        location: cx.location(node.pos),
    })
}

fn defaults(cx: &mut Cx<'_>, node: &Node) -> Option<Defaults> {
    let fields = cx.fields(node, "defaults", &DEFAULTS_KEYS)?;
    let schedule = fields.read(cx, "schedule", Cx::cron);
    let timezone = fields.read(cx, "timezone", Cx::timezone);
    Some(Defaults {
        schedule: schedule?,
        timezone: timezone?.unwrap_or(chrono_tz::UTC),
    })
}

/// `retention: { results: 90d, metrics: 400d }`; either may be left to its default.
fn retention(cx: &mut Cx<'_>, node: &Node) -> Option<Retention> {
    let fields = cx.fields(node, "retention", &RETENTION_KEYS)?;
    let results = fields.read(cx, "results", Cx::duration);
    let metrics = fields.read(cx, "metrics", Cx::duration);
    let defaults = Retention::default();
    Some(Retention {
        results: results?.unwrap_or(defaults.results),
        metrics: metrics?.unwrap_or(defaults.metrics),
    })
}

/// `holidays: {country: DE, dates: [2026-12-24]}`: days anomaly thresholds judge like a
/// Sunday.
fn holidays(cx: &mut Cx<'_>, node: &Node) -> Option<HolidayCalendar> {
    let fields = cx.fields(node, "holidays", &HOLIDAYS_KEYS)?;
    let country = fields.read(cx, "country", |cx, node, key| {
        let code = cx.string(node, key)?;
        HolidayCalendar::country(&code)
            .map_err(|e| cx.error(node.pos, e))
            .ok()
    });
    let dates = fields.read(cx, "dates", |cx, node, key| {
        let mut dates = Vec::new();
        for item in cx.list(node, key)? {
            let text = cx.string(item, key)?;
            match chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(date) => dates.push(date),
                Err(_) => cx.error(
                    item.pos,
                    format!("invalid date {text:?} in 'dates' (expected YYYY-MM-DD)"),
                ),
            }
        }
        Some(dates)
    });
    let calendar = country?.unwrap_or_default();
    Some(calendar.with_dates(dates?.unwrap_or_default()))
}

fn smtp(cx: &mut Cx<'_>, node: &Node) -> Option<Smtp> {
    let fields = cx.fields(node, "smtp", &SMTP_KEYS)?;
    let url = fields.require(cx, "url").and_then(|node| {
        let url = cx.string(node, "url")?;
        if url.starts_with("smtp://") || url.starts_with("smtps://") {
            return Some(Secret::new(url));
        }
        cx.error(node.pos, "'url' must start with smtp:// or smtps://");
        None
    });
    let from = fields
        .require(cx, "from")
        .and_then(|node| email(cx, node, "from"));
    Some(Smtp {
        url: url?,
        from: from?,
    })
}

fn channels(cx: &mut Cx<'_>, node: &Node, has_smtp: bool) -> Option<BTreeMap<String, Channel>> {
    let fields = cx.mapping(node, "channels")?;
    let channels: Vec<Option<(String, Channel)>> = fields
        .entries
        .iter()
        .map(|entry| {
            let mut cx = cx.scoped(&format!("channel {}", entry.key));
            let channel = channel(&mut cx, &entry.value, &entry.key, has_smtp)?;
            Some((entry.key.clone(), channel))
        })
        .collect();
    channels.into_iter().collect()
}

/// Exactly one of `slack: {webhook_url}`, `email: {to: [...]}` or `inbox: {}`.
fn channel(cx: &mut Cx<'_>, node: &Node, name: &str, has_smtp: bool) -> Option<Channel> {
    let fields = cx.fields(node, name, &CHANNEL_KEYS)?;
    match (
        fields.get("slack"),
        fields.get("email"),
        fields.get("inbox"),
    ) {
        (None, None, Some(inbox)) => cx.fields(inbox, "inbox", &[]).map(|_| Channel::Inbox),
        (Some(slack), None, None) => {
            let fields = cx.fields(slack, "slack", &["webhook_url"])?;
            let node = fields.require(cx, "webhook_url")?;
            let url = http_url(cx, node, "webhook_url")?;
            Some(Channel::Slack {
                webhook_url: Secret::new(url),
            })
        }
        (None, Some(node), None) => {
            if !has_smtp {
                cx.error(
                    node.pos,
                    "email channels need an 'smtp' section in tidemark.yml",
                );
            }
            let fields = cx.fields(node, "email", &["to"])?;
            let to = fields.require(cx, "to")?;
            let items = cx.list(to, "to")?;
            if items.is_empty() {
                cx.error(to.pos, "'to' must not be empty");
                return None;
            }
            let to: Option<Vec<String>> = items
                .iter()
                .map(|item| email(cx, item, "to"))
                .collect::<Vec<_>>()
                .into_iter()
                .collect();
            Some(Channel::Email { to: to? }).filter(|_| has_smtp)
        }
        _ => {
            cx.error(
                fields.pos,
                "a channel needs exactly one of 'slack', 'email' or 'inbox'",
            );
            None
        }
    }
}

/// An `http://` or `https://` URL.
fn http_url(cx: &mut Cx<'_>, node: &Node, key: &str) -> Option<String> {
    let url = cx.string(node, key)?;
    if url.starts_with("https://") || url.starts_with("http://") {
        return Some(url);
    }
    cx.error(
        node.pos,
        format!("'{key}' must be an http:// or https:// URL"),
    );
    None
}

fn email(cx: &mut Cx<'_>, node: &Node, key: &str) -> Option<String> {
    let text = cx.text(node, key)?;
    if text.value.contains('@') {
        return Some(text.value);
    }
    let shown = text.shown();
    cx.error(
        node.pos,
        format!("'{key}' needs an email address, found {shown}"),
    );
    None
}

fn owners(cx: &mut Cx<'_>, node: &Node, channels: &[String]) -> Option<BTreeMap<String, Owner>> {
    let fields = cx.mapping(node, "owners")?;
    let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
    let owners: Vec<Option<(String, Owner)>> = fields
        .entries
        .iter()
        .map(|entry| {
            let mut cx = cx.scoped(&format!("owner {}", entry.key));
            let owner = owner(&mut cx, &entry.value, &entry.key, &channels)?;
            Some((entry.key.clone(), owner))
        })
        .collect();
    owners.into_iter().collect()
}

fn owner(cx: &mut Cx<'_>, node: &Node, name: &str, declared: &[&str]) -> Option<Owner> {
    let fields = cx.fields(node, name, &OWNER_KEYS)?;
    let Some(list) = fields.get("channels") else {
        return Some(Owner::default());
    };
    Some(Owner {
        channels: channel_list(cx, list, declared)?,
    })
}

/// A list of declared channel names.
fn channel_list(cx: &mut Cx<'_>, list: &Node, declared: &[&str]) -> Option<Vec<String>> {
    let items = cx.list(list, "channels")?;
    let channels: Vec<Option<String>> = items
        .iter()
        .map(|item| {
            let channel = cx.string(item, "channels")?;
            if declared.contains(&channel.as_str()) {
                return Some(channel);
            }
            let hint = suggest::hint(
                &channel,
                declared,
                "declared channels",
                "tidemark.yml declares no channels",
            );
            cx.error(item.pos, format!("unknown channel '{channel}'{hint}"));
            None
        })
        .collect();
    channels.into_iter().collect()
}

/// `alerts: {renotify_after, flap_window, max_attempts, routes, templates}`.
fn alerts(cx: &mut Cx<'_>, node: &Node, channels: &[String], root: &Path) -> Option<AlertPolicy> {
    let fields = cx.fields(node, "alerts", &ALERTS_KEYS)?;
    let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
    let renotify_after = fields.read(cx, "renotify_after", Cx::duration);
    let flap_window = fields.read(cx, "flap_window", Cx::duration);
    let max_attempts = fields.read(cx, "max_attempts", |cx, node, key| {
        cx.whole(node, key, 1..=u32::MAX)
    });
    let routes = fields.read(cx, "routes", |cx, node, key| {
        let items = cx.list(node, key)?;
        let routes: Vec<Option<AlertRoute>> = items
            .iter()
            .map(|item| route(cx, item, &channels))
            .collect();
        routes.into_iter().collect::<Option<Vec<_>>>()
    });
    let templates = fields.read(cx, "templates", |cx, node, key| {
        let folder = root.join(cx.string(node, key)?);
        if folder.is_dir() {
            return Some(folder);
        }
        cx.error(
            node.pos,
            format!("'{key}' must be a folder (relative to the folder of tidemark.yml)"),
        );
        None
    });
    let defaults = AlertPolicy::default();
    Some(AlertPolicy {
        renotify_after: renotify_after?.unwrap_or(defaults.renotify_after),
        flap_window: flap_window?.unwrap_or(defaults.flap_window),
        max_attempts: max_attempts?.unwrap_or(defaults.max_attempts),
        routes: routes?.unwrap_or_default(),
        templates: templates?,
    })
}

/// `lineage: {dbt_manifest: target/manifest.json, emit: {…}}`: the manifest must exist and
/// read as one now, so that a wrong path is reported where it is written.
fn lineage(cx: &mut Cx<'_>, node: &Node, root: &Path) -> Option<LineageConfig> {
    let fields = cx.fields(node, "lineage", &LINEAGE_KEYS)?;
    let dbt_manifest = fields.read(cx, "dbt_manifest", |cx, node, key| {
        let path = root.join(cx.string(node, key)?);
        match crate::formats::dbt::read_manifest(&path, chrono::Utc::now()) {
            Ok(_) => Some(path),
            Err(problem) => {
                cx.error(node.pos, problem);
                None
            }
        }
    });
    let emit = fields.read(cx, "emit", |cx, node, _| emit(cx, node));
    Some(LineageConfig {
        dbt_manifest: dbt_manifest?,
        emit: emit?,
    })
}

/// `emit: {url, namespace, api_key}`: `url` is required and must be an absolute http(s)
/// URL; neither it nor the key is ever shown in a message.
fn emit(cx: &mut Cx<'_>, node: &Node) -> Option<EmitConfig> {
    let fields = cx.fields(node, "emit", &EMIT_KEYS)?;
    let url = fields.require(cx, "url").and_then(|node| {
        let url = http_url(cx, node, "url")?;
        if reqwest::Url::parse(&url).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty())) {
            return Some(Secret::new(url));
        }
        cx.error(
            node.pos,
            "'url' is not a valid URL (expected e.g. http://marquez:5000/api/v1/lineage)",
        );
        None
    });
    let namespace = fields.read(cx, "namespace", |cx, node, key| {
        let namespace = cx.string(node, key)?;
        if namespace.trim().is_empty() {
            cx.error(node.pos, "'namespace' must not be empty");
            return None;
        }
        Some(namespace)
    });
    let api_key = fields.read(cx, "api_key", |cx, node, key| cx.string(node, key));
    Some(EmitConfig {
        url: url?,
        namespace: namespace?.unwrap_or_else(|| EmitConfig::DEFAULT_NAMESPACE.to_owned()),
        api_key: api_key?.map(Secret::new),
    })
}

/// One entry of `routes:`; `channels` is required.
fn route(cx: &mut Cx<'_>, node: &Node, declared: &[&str]) -> Option<AlertRoute> {
    let fields = cx.fields(node, "route", &ROUTE_KEYS)?;
    let tags = fields.read(cx, "tags", Cx::optional_strings);
    let min_severity = fields.read(cx, "min_severity", |cx, node, key| {
        cx.choice(node, key, &SEVERITIES).and_then(Severity::parse)
    });
    let channels = fields
        .require(cx, "channels")
        .and_then(|list| channel_list(cx, list, declared));
    Some(AlertRoute {
        tags: tags?.unwrap_or_default(),
        min_severity: min_severity?,
        channels: channels?,
    })
}

/// `checks:` entries, or the default `checks/` folder when the key is absent.
fn check_paths(cx: &mut Cx<'_>, fields: &Fields<'_>) -> Option<Vec<CheckPath>> {
    let Some(node) = fields.get("checks") else {
        return Some(vec![CheckPath {
            path: DEFAULT_CHECKS.to_owned(),
            pos: None,
        }]);
    };
    let items = cx.list(node, "checks")?;
    let paths: Vec<Option<CheckPath>> = items
        .iter()
        .map(|item| {
            let path = cx.string(item, "checks")?;
            Some(CheckPath {
                path,
                pos: Some(item.pos),
            })
        })
        .collect();
    Some(paths.into_iter().flatten().collect())
}
