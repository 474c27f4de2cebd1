//! The validated, normalised form of a project: what `spec::load` returns and every other
//! module consumes. Nothing here refers to YAML; locations are kept only so that later
//! stages (the engine, the server) can point users back at the line that defined a thing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

/// A position in a source file, 1-based, as editors and compilers print it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A string that must never be printed: warehouse URLs carry passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The only way to read the value; call sites are easy to audit with grep.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `tidemark.yml` plus every dataset file it names.
#[derive(Clone, Debug)]
pub struct Project {
    /// The directory holding `tidemark.yml`; relative paths (checks, SQLite files) resolve here.
    pub root: PathBuf,
    pub file: PathBuf,
    /// Store URL for later issues (runs, history); `None` means the embedded default.
    pub store: Option<Secret>,
    pub warehouses: BTreeMap<String, WarehouseConfig>,
    pub defaults: Defaults,
    pub retention: Retention,
    /// Days anomaly thresholds judge like a Sunday (`holidays:`).
    pub holidays: Option<crate::holidays::HolidayCalendar>,
    pub owners: BTreeMap<String, Owner>,
    pub channels: BTreeMap<String, Channel>,
    /// Mail server for email channels; required when any channel sends email.
    pub smtp: Option<Smtp>,
    /// Where the dashboard is served; alerts link to `<dashboard_url>/datasets/<name>`.
    /// No trailing slash.
    pub dashboard_url: String,
    pub alerts: AlertPolicy,
    pub lineage: LineageConfig,
    pub datasets: Vec<Dataset>,
}

/// Where lineage comes from besides the dataset files (`lineage:` in `tidemark.yml`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineageConfig {
    /// A dbt `manifest.json`, read each time the graph is built (so a new `dbt compile` is
    /// seen without a reload).
    pub dbt_manifest: Option<PathBuf>,
    /// Where Tidemark posts OpenLineage events of its own runs (`emit:`).
    pub emit: Option<EmitConfig>,
}

/// `lineage: {emit: {url, namespace, api_key}}`: an OpenLineage endpoint (Marquez's
/// `/api/v1/lineage`, another Tidemark's) that hears of every run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitConfig {
    /// The endpoint events are POSTed to; a secret, as it may carry credentials.
    pub url: Secret,
    /// The namespace of the jobs (`tidemark` unless given).
    pub namespace: String,
    /// Sent as `Authorization: Bearer <api_key>` when given.
    pub api_key: Option<Secret>,
}

impl EmitConfig {
    pub const DEFAULT_NAMESPACE: &str = "tidemark";
}

impl Project {
    pub const DEFAULT_DASHBOARD_URL: &str = "http://127.0.0.1:8321";
}

/// How incidents notify (`alerts:` in `tidemark.yml`).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertPolicy {
    /// An open incident nobody acknowledged is notified again after this long.
    pub renotify_after: Duration,
    /// A check that fails again this soon after its incident resolved reopens it, and its
    /// further changes within the window are not notified (a flapping check does not spam).
    pub flap_window: Duration,
    /// Delivery attempts of a notification before it is dead-lettered.
    pub max_attempts: u32,
    /// Extra channels by tag and severity, besides the owner's.
    pub routes: Vec<AlertRoute>,
    /// A folder whose template files replace the built-in ones of the same name.
    pub templates: Option<PathBuf>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertPolicy {
            renotify_after: Duration::from_secs(4 * 3_600),
            flap_window: Duration::from_secs(3_600),
            max_attempts: 8,
            routes: Vec::new(),
            templates: None,
        }
    }
}

/// `routes: [{tags: [tier-1], min_severity: high, channels: [oncall]}]`: incidents of
/// datasets with any of the tags (any dataset when none are given), at least this severe
/// (any when not given), also go to these channels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRoute {
    pub tags: Vec<String>,
    pub min_severity: Option<Severity>,
    pub channels: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct WarehouseConfig {
    pub name: String,
    pub url: Secret,
    pub max_connections: u32,
    pub query_timeout: Duration,
    pub location: Location,
}

impl WarehouseConfig {
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 4;
    /// More than any warehouse serves one client (Postgres allows 100 by default); a bound
    /// so that a typo cannot ask for billions of connection slots.
    pub const MAX_CONNECTIONS: u32 = 1000;
    pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(300);
}

/// How long the store keeps history (`retention:` in `tidemark.yml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Runs, check results and schema snapshots older than this are pruned.
    pub results: Duration,
    /// Metric series feed anomaly detection and charts, so they are kept longer.
    pub metrics: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            results: Duration::from_secs(90 * 86_400),
            metrics: Duration::from_secs(400 * 86_400),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Defaults {
    /// Validated 5-field cron expression.
    pub schedule: Option<String>,
    pub timezone: chrono_tz::Tz,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            schedule: None,
            timezone: chrono_tz::UTC,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Owner {
    pub channels: Vec<String>,
}

/// Where alerts go. `Inbox` (`inbox: {}`) sends nothing: its alerts are listed, as Slack and
/// email would have shown them, on the dashboard's inbox page (`/inbox`), so the demo shows
/// alerts without any setup.
#[derive(Clone, Debug)]
pub enum Channel {
    Slack { webhook_url: Secret },
    Email { to: Vec<String> },
    Inbox,
}

#[derive(Clone, Debug)]
pub struct Smtp {
    /// `smtp://` or `smtps://`, possibly with credentials.
    pub url: Secret,
    pub from: String,
}

/// A table reference as the user wrote it: `schema.table` or `table`. Each part is an
/// identifier to be quoted by the dialect, never pasted into SQL. A dataset over files
/// (`files:`) reads them instead; its name is then only its name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TableRef {
    pub schema: Option<String>,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<FileSource>,
}

/// The files a dataset reads (`files: data/orders/*.parquet`): a path or glob, absolute
/// once loaded, in one format. Hive partition folders (`dt=2026-12-01/`) become columns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FileSource {
    pub path: String,
    pub format: FileFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    Parquet,
    Csv,
    Json,
}

impl FileFormat {
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "Parquet",
            FileFormat::Csv => "CSV",
            FileFormat::Json => "JSON",
        }
    }

    /// The format a path's extension names (compressed CSV and JSON included).
    pub fn of_path(path: &str) -> Option<FileFormat> {
        let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        let name = [".gz", ".zst"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        let format = match name.rsplit_once('.')?.1 {
            "parquet" | "parq" => FileFormat::Parquet,
            "csv" | "tsv" => FileFormat::Csv,
            "json" | "jsonl" | "ndjson" => FileFormat::Json,
            _ => return None,
        };
        Some(format)
    }
}

#[derive(Clone, Debug)]
pub struct Dataset {
    /// The name as written in the file (`analytics.orders`); the key users select by.
    pub name: String,
    pub table: TableRef,
    pub warehouse: String,
    pub owner: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<chrono_tz::Tz>,
    pub tags: Vec<String>,
    pub upstream: Vec<String>,
    /// SQL predicate written by the user: runs only inside read-only transactions.
    pub filter: Option<String>,
    pub sla: Option<Sla>,
    /// Metric checks computed per time bucket, over new buckets only (`partition:`).
    pub partition: Option<Partition>,
    pub checks: Vec<Check>,
    pub location: Location,
}

/// `partition: { column, grain, backfill, history }`: the dataset's metric checks are
/// computed per `grain` bucket of `column`, each run scanning only the buckets from the
/// stored watermark minus `backfill` on (late data lands in them), a first run the last
/// `history` buckets. Each bucket's value is a point of the check's series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub column: String,
    pub grain: Grain,
    pub backfill: u32,
    pub history: u32,
}

impl Partition {
    pub const DEFAULT_BACKFILL: u32 = 1;
    pub const DEFAULT_HISTORY: u32 = 30;

    /// The buckets a run measures, `[from, until)`: from the watermark (the newest stored
    /// bucket) less `backfill` — a first run, with none, the last `history` buckets — to
    /// the bucket still filling at `now`; always the newest complete bucket, the one the
    /// run judges.
    pub fn window(
        &self,
        watermark: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
        let step = self.grain.duration();
        let until = self.grain.floor(now);
        let from = match watermark {
            Some(watermark) => watermark + step - step * self.backfill as i32,
            None => until - step * self.history as i32,
        };
        (from.min(self.newest_complete(now)), until)
    }

    /// The start of the newest complete bucket at `now`: the one a run judges.
    pub fn newest_complete(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        self.grain.floor(now) - self.grain.duration()
    }
}

/// The size of a partition bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    pub const KEYWORDS: [&'static str; 2] = ["hour", "day"];

    pub fn parse(keyword: &str) -> Option<Grain> {
        match keyword {
            "hour" => Some(Grain::Hour),
            "day" => Some(Grain::Day),
            _ => None,
        }
    }

    pub fn keyword(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
        }
    }

    pub fn duration(self) -> chrono::TimeDelta {
        match self {
            Grain::Hour => chrono::TimeDelta::hours(1),
            Grain::Day => chrono::TimeDelta::days(1),
        }
    }

    /// The start of the bucket holding `at` (UTC).
    pub fn floor(self, at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        let step = self.duration().num_seconds();
        let secs = at.timestamp().div_euclid(step) * step;
        chrono::DateTime::from_timestamp(secs, 0).unwrap_or(at)
    }
}

/// A dataset's service levels (`sla:`). A breach opens an incident with the SLA's severity.
#[derive(Clone, Debug, PartialEq)]
pub struct Sla {
    /// Measured by a check named [`Sla::FRESHNESS_CHECK`] added to the dataset's checks, so
    /// it is computed in the dataset's one aggregate query like any freshness check.
    pub freshness: Option<FreshnessSla>,
    /// Checks of the dataset that must pass: a failure of one breaches the SLA.
    pub checks: Vec<String>,
    pub severity: Severity,
}

impl Sla {
    /// The name of the check that measures the freshness SLA.
    pub const FRESHNESS_CHECK: &str = "sla:freshness";
    pub const DEFAULT_SEVERITY: Severity = Severity::High;

    /// Whether a failure of `check` breaches this SLA.
    pub fn covers(&self, check: &str) -> bool {
        (check == Sla::FRESHNESS_CHECK && self.freshness.is_some())
            || self.checks.iter().any(|c| c == check)
    }
}

/// The newest value of `column` must be at most `within` old, and/or from the current day
/// once `fresh_by` has passed. At least one of the two is set.
#[derive(Clone, Debug, PartialEq)]
pub struct FreshnessSla {
    pub column: String,
    pub within: Option<Duration>,
    pub fresh_by: Option<FreshBy>,
}

/// `fresh_by: "09:00 Europe/Berlin"`: from this time of day on, the newest value must be
/// from that day (local midnight or later), every day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreshBy {
    pub time: chrono::NaiveTime,
    pub timezone: chrono_tz::Tz,
}

impl fmt::Display for FreshBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.time.format("%H:%M"), self.timezone.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The YAML (and JSON) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

#[derive(Clone, Debug)]
pub struct Check {
    /// Unique within the dataset; defaults to `kind(column)` as CHECKS.md says.
    pub name: String,
    pub kind: CheckKind,
    pub thresholds: Thresholds,
    /// ANDed with the dataset filter; user SQL.
    pub filter: Option<String>,
    pub severity: Option<Severity>,
    pub description: Option<String>,
    pub location: Location,
}

/// A literal from YAML compared against warehouse values (`valid_values`, `missing_values`).
/// Rendered into SQL by the dialect's literal quoting, never pasted.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Literal {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Min,
    Max,
    Avg,
    Sum,
    Stddev,
}

impl Aggregate {
    pub fn keyword(self) -> &'static str {
        match self {
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Avg => "avg",
            Aggregate::Sum => "sum",
            Aggregate::Stddev => "stddev",
        }
    }
}

/// What makes a non-null value valid for `invalid_count`. Every given rule must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validity {
    pub values: Option<Vec<Literal>>,
    pub regex: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Declared column type in a `schema` check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeclaredType {
    Family(TypeFamily),
    /// An exact warehouse type name, compared case-insensitively.
    Exact(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TypeFamily {
    Integer,
    Decimal,
    Float,
    Text,
    Boolean,
    Date,
    Timestamp,
    Json,
    Binary,
}

impl TypeFamily {
    pub const ALL: [TypeFamily; 9] = [
        TypeFamily::Integer,
        TypeFamily::Decimal,
        TypeFamily::Float,
        TypeFamily::Text,
        TypeFamily::Boolean,
        TypeFamily::Date,
        TypeFamily::Timestamp,
        TypeFamily::Json,
        TypeFamily::Binary,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TypeFamily::Integer => "integer",
            TypeFamily::Decimal => "decimal",
            TypeFamily::Float => "float",
            TypeFamily::Text => "text",
            TypeFamily::Boolean => "boolean",
            TypeFamily::Date => "date",
            TypeFamily::Timestamp => "timestamp",
            TypeFamily::Json => "json",
            TypeFamily::Binary => "binary",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            TypeFamily::Integer | TypeFamily::Decimal | TypeFamily::Float
        )
    }

    pub fn is_temporal(self) -> bool {
        matches!(self, TypeFamily::Date | TypeFamily::Timestamp)
    }
}

/// The level a schema drift raises (`on_added: warn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warn,
    Fail,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    RowCount,
    MissingCount {
        column: String,
        missing_values: Vec<Literal>,
    },
    MissingPercent {
        column: String,
        missing_values: Vec<Literal>,
    },
    DuplicateCount {
        columns: Vec<String>,
        /// On a partitioned dataset: duplicates within each bucket, not over the table.
        per_partition: bool,
    },
    InvalidCount {
        column: String,
        validity: Validity,
    },
    Aggregate {
        function: Aggregate,
        column: String,
    },
    /// Thresholds of a freshness check are in seconds (`warn_after`/`fail_after` become
    /// warn/fail `max` bounds).
    Freshness {
        column: String,
    },
    Schema {
        /// Declared columns in the order written.
        columns: Vec<(String, DeclaredType)>,
        on_added: Option<Level>,
        on_removed: Option<Level>,
        on_type_changed: Option<Level>,
    },
    SqlMetric {
        query: String,
    },
    /// Thresholds are on the test's result: `Min` bounds on a p-value (`ks`, `chi_square`:
    /// a smaller p-value is stronger evidence of drift), `Max` bounds on a PSI.
    Distribution {
        column: String,
        /// `None`: `ks` for a numeric column, `chi_square` for any other.
        method: Option<DriftMethod>,
        reference: DriftReference,
    },
}

/// How a `distribution` check tests drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftMethod {
    /// Two-sample Kolmogorov-Smirnov test of a numeric column; the value is its p-value.
    Ks,
    /// Population stability index over the reference's deciles or the values; the value is
    /// the index (0 for identical distributions).
    Psi,
    /// Chi-square test of homogeneity of value frequencies; the value is its p-value.
    ChiSquare,
}

impl DriftMethod {
    pub const ALL: [DriftMethod; 3] = [DriftMethod::Ks, DriftMethod::Psi, DriftMethod::ChiSquare];

    /// The YAML spelling.
    pub fn keyword(self) -> &'static str {
        match self {
            DriftMethod::Ks => "ks",
            DriftMethod::Psi => "psi",
            DriftMethod::ChiSquare => "chi_square",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.keyword() == s)
    }

    /// Whether the value is a p-value (drift when it is small) rather than an index (drift
    /// when it is large).
    pub fn is_p_value(self) -> bool {
        self != DriftMethod::Psi
    }
}

/// What a `distribution` check compares the column with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriftReference {
    /// The profile the check's previous run recorded.
    Previous,
    /// The profiles recorded in the 7 days before the run, pooled (each run weighs the same).
    Last7Days,
    /// The last profile recorded at or before this time: a fixed baseline.
    Snapshot(chrono::DateTime<chrono::Utc>),
}

impl CheckKind {
    /// The kind's keyword as written in YAML and printed in results.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::RowCount => "row_count",
            CheckKind::MissingCount { .. } => "missing_count",
            CheckKind::MissingPercent { .. } => "missing_percent",
            CheckKind::DuplicateCount { .. } => "duplicate_count",
            CheckKind::InvalidCount { .. } => "invalid_count",
            CheckKind::Aggregate { function, .. } => function.keyword(),
            CheckKind::Freshness { .. } => "freshness",
            CheckKind::Schema { .. } => "schema",
            CheckKind::SqlMetric { .. } => "sql_metric",
            CheckKind::Distribution { .. } => "distribution",
        }
    }

    /// Whether a partitioned dataset computes the check per bucket. Duplicates over the key
    /// (unless `per_partition: true`) and freshness keep their whole-table meaning; schema, `sql_metric` and distribution
    /// checks run their own queries.
    pub fn per_bucket(&self) -> bool {
        matches!(
            self,
            CheckKind::DuplicateCount {
                per_partition: true,
                ..
            } | CheckKind::RowCount
                | CheckKind::MissingCount { .. }
                | CheckKind::MissingPercent { .. }
                | CheckKind::InvalidCount { .. }
                | CheckKind::Aggregate { .. }
        )
    }

    /// The single column a check is about, if any (`column` in JSON results).
    pub fn column(&self) -> Option<&str> {
        match self {
            CheckKind::MissingCount { column, .. }
            | CheckKind::MissingPercent { column, .. }
            | CheckKind::InvalidCount { column, .. }
            | CheckKind::Aggregate { column, .. }
            | CheckKind::Freshness { column }
            | CheckKind::Distribution { column, .. } => Some(column),
            CheckKind::DuplicateCount { columns, .. } if columns.len() == 1 => Some(&columns[0]),
            _ => None,
        }
    }

    /// Every column the check reads: the engine verifies they exist before querying.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            CheckKind::DuplicateCount { columns, .. } => {
                columns.iter().map(String::as_str).collect()
            }
            other => other.column().into_iter().collect(),
        }
    }
}

/// A bound on a metric value. `Between` is inclusive at both ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    Min(f64),
    Max(f64),
    Between(f64, f64),
    Equals(f64),
}

impl Bound {
    pub fn holds(self, value: f64) -> bool {
        match self {
            Bound::Min(min) => value >= min,
            Bound::Max(max) => value <= max,
            Bound::Between(lo, hi) => lo <= value && value <= hi,
            Bound::Equals(expected) => value == expected,
        }
    }
}

/// `anomaly: {…}`: judged against the check's history by [`crate::anomaly`].
#[derive(Clone, Debug, PartialEq, Default)]
pub struct AnomalySpec {
    /// `low`/`medium`/`high` or a number, as written (validated).
    pub sensitivity: Option<String>,
    /// `up`, `down` or `both`, as written (validated).
    pub direction: Option<String>,
    pub watch: AnomalyWatch,
}

/// What an anomaly threshold watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AnomalyWatch {
    /// The check's value (a `row_count`: the total rows).
    #[default]
    Value,
    /// How much the value grew since the previous run (a `row_count`: the rows added).
    Added,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Thresholds {
    pub warn: Option<Bound>,
    pub fail: Option<Bound>,
    pub anomaly: Option<AnomalySpec>,
}

impl Thresholds {
    pub fn is_empty(&self) -> bool {
        self.warn.is_none() && self.fail.is_none() && self.anomaly.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_parse_their_own_spelling() {
        for severity in [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            let json = serde_json::to_value(severity).unwrap_or_default();
            assert_eq!(json, severity.as_str(), "as_str is the serialized name");
            assert_eq!(Severity::parse(severity.as_str()), Some(severity));
        }
        assert_eq!(Severity::parse("urgent"), None);
        assert_eq!(Severity::parse("High"), None);
    }
}
