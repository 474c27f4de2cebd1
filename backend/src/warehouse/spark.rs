//! Spark, and Databricks, over Spark Connect (`sc://host:port;token=…;use_ssl=true`). The
//! official client is synchronous, so each call runs on a blocking thread. Queries run in
//! Spark Connect sessions kept for reuse, each set to UTC once when it is made (bucket
//! starts and freshness read timestamps in the session's zone). Every query carries an
//! operation tag of its own, and once `query_timeout` passes the engine interrupts that
//! tag on the server, which cancels the query's jobs on the executors.
//!
//! Spark has no read-only session: user SQL is held to the user-SQL guard alone (one
//! query, no file readers, no reflection), and runs in a session used for nothing else.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType as ArrowType;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use spark_connect::types::DataType;
use spark_connect::{SparkError, SparkSession};

use super::engine::{CatalogColumn, CatalogView, Connecting, Engine, at_most, doubles, one_number};
use super::pooled::CONNECT_TIMEOUT;
use super::{Cell, ConnectRequest, Dialect, Facts, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::user_sql::Grammar;
use crate::spec::{FileFormat, FileSource, Grain, TableRef, TypeFamily};

pub struct SparkDialect;

const FACTS: Facts = Facts {
    name: "spark",
    grammar: Grammar::Spark,
    quote: '`',
    // Spark reads `\` as an escape in literals, and `'a' 'b'` as `'ab'`: a quote inside a
    // literal is written `\'`, never doubled.
    backslash_escapes: true,
    escaped_string_prefix: "",
    quote_in_text: "\\'",
    bools: ("TRUE", "FALSE"),
    double_type: "DOUBLE",
    text_type: "STRING",
    read_only: ReadOnly::GuardOnly,
    scanned_rows: None,
};

impl SqlDialect for SparkDialect {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    /// Over doubles: Spark's mean of a decimal keeps six decimal places (33.333333).
    fn avg(&self, expr: &str) -> String {
        format!("AVG(CAST({expr} AS DOUBLE))")
    }
    /// Microseconds, so sub-second freshness is not truncated; dates and zone-less
    /// timestamps read in the session's zone, UTC.
    fn freshness_seconds(&self, column: &str) -> String {
        format!(
            "((unix_micros(current_timestamp()) - unix_micros(CAST(MAX({column}) AS TIMESTAMP))) \
             / 1000000.0)"
        )
    }
    fn bucket(&self, column: &str, grain: Grain) -> String {
        format!("date_trunc('{}', {column})", grain.keyword())
    }
    fn bucket_label(&self, bucket: &str) -> String {
        format!(
            "concat(date_format({bucket}, 'yyyy-MM-dd'), 'T', date_format({bucket}, 'HH'), ':00:00')"
        )
    }
    /// A typed literal, so a range compares on the column's own type and Spark prunes
    /// partitions by it.
    fn time_literal(&self, at: DateTime<Utc>, family: Option<TypeFamily>) -> String {
        match family {
            Some(TypeFamily::Date) => format!("DATE'{}'", at.format("%Y-%m-%d")),
            _ => format!("TIMESTAMP'{}'", at.format("%Y-%m-%d %H:%M:%S")),
        }
    }
    /// A struct of the key columns: Spark counts distinct structs, and a NULL struct (the
    /// CASE's ELSE) not at all.
    fn count_distinct_tuples(&self, columns: &[String], when: &str) -> String {
        format!(
            "COUNT(DISTINCT CASE WHEN {when} THEN struct({}) END)",
            columns.join(", ")
        )
    }
    fn family(&self, data_type: &str, full_type: &str) -> Option<TypeFamily> {
        let t = data_type.to_ascii_lowercase();
        let family = match t.split('(').next().unwrap_or(&t).trim() {
            "string" => TypeFamily::Text,
            "long" | "short" | "byte" => TypeFamily::Integer,
            "timestamp_ntz" | "timestamp_ltz" => TypeFamily::Timestamp,
            _ => return super::dialect::named_family_of(data_type, full_type),
        };
        Some(family)
    }
    /// Spark's catalog takes no parameters: tables are described with `DESCRIBE` (the
    /// engine asks for the same columns by analysing the relation, which runs no job).
    fn schema_query(&self, _with_schema: bool) -> Option<&'static str> {
        None
    }
    fn views_query(&self) -> Option<&'static str> {
        None
    }
    /// Up to three parts: `catalog.db.table` (the table part of a two-part name may hold
    /// the third), each quoted.
    fn table(&self, table: &TableRef) -> String {
        if let Some(scan) = table.files.as_ref().and_then(|files| self.file_scan(files)) {
            return scan;
        }
        let mut parts: Vec<&str> = table.schema.iter().map(String::as_str).collect();
        match (parts.is_empty(), table.table.split_once('.')) {
            (false, Some((db, name))) => parts.extend([db, name]),
            _ => parts.push(&table.table),
        }
        let quoted: Vec<String> = parts.into_iter().map(|part| self.ident(part)).collect();
        quoted.join(".")
    }
    /// Spark's path tables: `parquet.`/lake/orders``, partition folders discovered.
    fn file_scan(&self, files: &FileSource) -> Option<String> {
        let format = match files.format {
            FileFormat::Parquet => "parquet",
            FileFormat::Json => "json",
            FileFormat::Csv => return None,
        };
        Some(format!(
            "{format}.{}",
            self.ident(&scanned_path(&files.path))
        ))
    }
}

/// What Spark reads for a `files:` path. Spark finds partition columns (`dt=…/`) only
/// under a folder it is given, not among the files a glob names, so a glob that only says
/// "every file below" (`orders/*/*.parquet`, `orders/**`) reads its folder instead.
fn scanned_path(path: &str) -> String {
    let is_glob = |part: &str| part.contains(['*', '?', '[', '{']);
    let parts: Vec<&str> = path.split('/').collect();
    let Some(first_glob) = parts.iter().position(|part| is_glob(part)) else {
        return path.to_owned();
    };
    let every_file = parts[first_glob..].iter().enumerate().all(|(i, part)| {
        let last = i == parts.len() - first_glob - 1;
        matches!(*part, "*" | "**") || (last && part.starts_with("*.") && !is_glob(&part[2..]))
    });
    if every_file {
        parts[..first_glob].join("/")
    } else {
        path.to_owned()
    }
}

/// How long a session may sit unused before it is retired: the server expires idle
/// sessions (an hour by default), and a retired one is cheaper than a failed query.
const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);

/// The connected server. Sessions are made from the first one (they share its channel)
/// and kept for reuse, except one that ran user SQL or was interrupted.
pub struct Spark {
    first: SparkSession,
    idle: Mutex<Vec<(SparkSession, Instant)>>,
    /// `;database=` of the URL: where unqualified names resolve (else the server's default).
    database: Option<String>,
    query_timeout: Duration,
}

/// What one query returned, and what its plan's scans read (the server's metrics).
struct Answer {
    batches: Vec<RecordBatch>,
    scanned: (Option<u64>, Option<u64>),
}

/// Tidemark's own parameter of an `sc://` URL, `;database=NAME`, taken out of the URL the
/// client sees (it would send it to the server as a header): the URL, and the database.
fn split_database(url: &str) -> (String, Option<String>) {
    let mut parts = url.split(';');
    let mut kept = vec![parts.next().unwrap_or_default()];
    let mut database = None;
    for part in parts {
        match part.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("database") => {
                database = Some(value.to_owned());
            }
            _ => kept.push(part),
        }
    }
    (kept.join(";"), database.filter(|d| !d.is_empty()))
}

/// `host:port` of an `sc://` URL (Spark Connect's port, 15002, when it names none).
fn endpoint(url: &str) -> String {
    let rest = url.strip_prefix("sc://").unwrap_or(url);
    let authority = &rest[..rest.find(['/', ';', '?', '#']).unwrap_or(rest.len())];
    let has_port = match authority.rfind(']') {
        Some(bracket) => authority[bracket..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:15002")
    }
}

pub fn connect(request: ConnectRequest<'_>) -> Connecting<'_> {
    async move {
        let (url, database) = split_database(request.url);
        // The client retries an unreachable server for minutes, on a thread that cannot
        // be called back: a server that does not take the connection is reported now.
        let address = endpoint(&url);
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&address)).await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("cannot reach {address}: {e}").into()),
            Err(_) => {
                let waited = super::humanize(CONNECT_TIMEOUT);
                return Err(format!("{address} did not answer within {waited}").into());
            }
        }
        let first = blocking(move || {
            let session = SparkSession::builder().remote(&url).get_or_create()?;
            // The channel connects lazily: ask the server once, so an unreachable or
            // refusing server is reported at connect, by name.
            session.version()?;
            Ok(session)
        })
        .await
        .map_err(|e| e.to_string())?;
        let engine = Spark {
            first,
            idle: Mutex::default(),
            database,
            query_timeout: request.query_timeout,
        };
        Ok(Box::new(engine) as Box<dyn Engine>)
    }
    .boxed()
}

impl Spark {
    /// An idle session, or a new one set to UTC and to the URL's database.
    async fn session(&self) -> Result<SparkSession, WarehouseError> {
        let reusable = {
            let mut idle = self.idle.lock().map_err(|_| poisoned())?;
            idle.retain(|(_, since)| since.elapsed() < SESSION_IDLE);
            idle.pop()
        };
        if let Some((session, _)) = reusable {
            return Ok(session);
        }
        let session = self.first.new_session();
        let use_database = self.database.as_deref().map(|database| {
            let parts: Vec<String> = database.split('.').map(|p| SparkDialect.ident(p)).collect();
            format!("USE {}", parts.join("."))
        });
        blocking(move || {
            session.conf().set("spark.sql.session.timeZone", "UTC")?;
            if let Some(statement) = use_database {
                session.sql(&statement)?.collect_record_batches()?;
            }
            Ok(session)
        })
        .await
        .map_err(query_error)
    }

    /// Runs `sql` in a session under an operation tag of its own, interrupting the tag on
    /// the server once the query timeout passes. The session goes back for reuse when
    /// `reuse` says so and the query was not interrupted.
    async fn run(&self, reuse: bool, sql: &str) -> Result<Answer, WarehouseError> {
        let session = self.session().await?;
        let tag = format!("tidemark-{}", uuid::Uuid::new_v4());
        let (query_session, query, query_tag) = (session.clone(), sql.to_owned(), tag.clone());
        let mut task = tokio::task::spawn_blocking(move || -> Result<Answer, Failure> {
            query_session.add_tag(&query_tag)?;
            let batches = query_session.sql(&query)?.collect_record_batches();
            query_session.remove_tag(&query_tag);
            let scanned = scanned(query_session.last_execution_info());
            Ok(Answer {
                batches: batches?,
                scanned,
            })
        });
        let thread_failed = |e: tokio::task::JoinError| {
            WarehouseError::Query(format!("the query's thread failed: {e}"))
        };
        let answer = tokio::select! {
            joined = &mut task => joined.map_err(thread_failed)?,
            () = tokio::time::sleep(self.query_timeout) => {
                let interrupter = session.clone();
                // Best effort: if the interrupt cannot reach the server, the client still
                // gives up here, and the session is not reused.
                let _ = blocking(move || Ok(interrupter.interrupt_tag(&tag)?)).await;
                return match task.await {
                    Ok(Ok(answer)) => Ok(answer),
                    _ => Err(WarehouseError::Timeout(self.query_timeout)),
                };
            }
        };
        let answer = answer.map_err(query_error)?;
        super::cost::record_scan(answer.scanned.0, answer.scanned.1);
        if reuse {
            self.keep(session);
        }
        Ok(answer)
    }

    fn keep(&self, session: SparkSession) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((session, Instant::now()));
        }
    }

    /// Up to `limit + 1` rows of `sql`, as cells.
    async fn cells(
        &self,
        reuse: bool,
        sql: &str,
        limit: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        let answer = self.run(reuse, sql).await?;
        Ok(rows(&answer.batches, limit))
    }
}

#[async_trait]
impl Engine for Spark {
    fn dialect(&self) -> Dialect {
        Dialect::SPARK
    }

    /// The columns `DESCRIBE` shows, from Spark's analysis of the dataset's relation: the
    /// server resolves the plan's schema without running a job (a `DESCRIBE` statement's
    /// answer is collected by one). A table or database that does not exist describes as
    /// no columns.
    async fn table_columns(&self, table: &TableRef) -> Result<Vec<CatalogColumn>, WarehouseError> {
        let relation = format!("SELECT * FROM {}", SparkDialect.table(table));
        let session = self.session().await?;
        let analyzing = session.clone();
        let schema = blocking(move || Ok(analyzing.sql(&relation)?.schema()?)).await;
        let fields = match schema {
            Ok(DataType::Struct { fields }) => fields,
            Ok(other) => {
                return Err(WarehouseError::Shape(format!(
                    "Spark described the dataset as {other}, not as columns"
                )));
            }
            Err(e) if names_a_missing_relation(&e.to_string()) => return Ok(Vec::new()),
            Err(e) => return Err(query_error(e)),
        };
        self.keep(session);
        Ok(fields
            .into_iter()
            .map(|field| {
                let data_type = field.data_type.simple_string();
                (field.name, data_type.clone(), data_type)
            })
            .collect())
    }

    async fn fetch_doubles(&self, sql: &str) -> Result<Vec<Option<f64>>, WarehouseError> {
        doubles(self.cells(true, sql, 1).await?)
    }

    async fn fetch_rows(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<Vec<Cell>>, WarehouseError> {
        at_most(self.cells(true, sql, max_rows).await?, max_rows)
    }

    /// In a session of its own, not reused: user SQL may leave temporary views or settings
    /// behind in its session.
    async fn fetch_user_number(
        &self,
        sql: &str,
        _limit: Duration,
    ) -> Result<Option<f64>, WarehouseError> {
        let rows = self.cells(false, sql, 1).await?;
        one_number(&rows)
    }

    /// Spark's catalog keeps no view text Tidemark reads: lineage comes from datasets only.
    async fn views(&self) -> Result<Vec<CatalogView>, WarehouseError> {
        Ok(Vec::new())
    }

    /// Spark Connect does not say what the session's user may do; the docs ask for a
    /// principal that may only read.
    async fn privilege_warning(&self) -> Option<String> {
        None
    }

    async fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// Rows and bytes the plan's scans read: the sums of their `number of output rows` and
/// `size of files read` metrics (a scan's output is what it read from the table).
fn scanned(info: Option<spark_connect::session::ExecutionInfo>) -> (Option<u64>, Option<u64>) {
    let Some(metrics) = info.and_then(|info| info.metrics) else {
        return (None, None);
    };
    let (mut rows, mut bytes) = (None, None);
    for node in metrics
        .metrics
        .iter()
        .filter(|node| node.name.contains("Scan"))
    {
        for (key, metric) in &node.execution_metrics {
            let total = match (key.as_str(), metric.name.as_str()) {
                ("numOutputRows", _) | (_, "number of output rows") => &mut rows,
                ("filesSize", _) | (_, "size of files read") => &mut bytes,
                _ => continue,
            };
            *total = Some(total.unwrap_or(0) + u64::try_from(metric.value).unwrap_or(0));
        }
    }
    (rows, bytes)
}

/// Spark's error conditions for a relation that is not there.
fn names_a_missing_relation(message: &str) -> bool {
    [
        "TABLE_OR_VIEW_NOT_FOUND",
        "SCHEMA_NOT_FOUND",
        "PATH_NOT_FOUND",
    ]
    .iter()
    .any(|condition| message.contains(condition))
}

/// Up to `limit + 1` rows of the batches (one more than allowed tells the caller there
/// were too many).
fn rows(batches: &[RecordBatch], limit: usize) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for batch in batches {
        let columns: Vec<Vec<Cell>> = batch.columns().iter().map(|c| column_cells(c)).collect();
        for row in 0..batch.num_rows() {
            out.push(columns.iter().map(|column| column[row].clone()).collect());
            if out.len() > limit {
                return out;
            }
        }
    }
    out
}

/// A column's values as the planner reads them: numbers (integers, decimals, booleans) as
/// doubles, text as text, anything else as Arrow prints it.
fn column_cells(column: &dyn Array) -> Vec<Cell> {
    let numeric = column.data_type().is_numeric() || *column.data_type() == ArrowType::Boolean;
    let text_like = matches!(
        column.data_type(),
        ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View
    );
    let doubles = numeric
        .then(|| arrow_cast::cast(column, &ArrowType::Float64).ok())
        .flatten();
    let formatter = arrow_cast::display::ArrayFormatter::try_new(column, &Default::default()).ok();
    (0..column.len())
        .map(|i| {
            if column.is_null(i) {
                return Cell::Null;
            }
            if let Some(doubles) = &doubles {
                let doubles = doubles.as_any().downcast_ref::<arrow_array::Float64Array>();
                if let Some(doubles) = doubles {
                    return Cell::Number(doubles.value(i));
                }
            }
            match &formatter {
                Some(formatter) if text_like || doubles.is_none() => {
                    Cell::Text(formatter.value(i).to_string())
                }
                _ => Cell::Null,
            }
        })
        .collect()
}

/// The client's error, boxed: it is large, and travels back from a blocking thread.
type Failure = Box<SparkError>;

/// Runs a call into the synchronous client on a blocking thread.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result,
        Err(e) => Err(Box::new(SparkError::connect_msg(format!(
            "the client's thread failed: {e}"
        )))),
    }
}

fn query_error(error: Failure) -> WarehouseError {
    WarehouseError::Query(error.to_string())
}

fn poisoned() -> WarehouseError {
    WarehouseError::Query("a Spark session lock was poisoned by a failed query".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str) -> TableRef {
        TableRef {
            schema: schema.map(str::to_owned),
            table: name.to_owned(),
            files: None,
        }
    }

    #[test]
    fn names_have_up_to_three_quoted_parts() {
        assert_eq!(SparkDialect.table(&table(None, "orders")), "`orders`");
        assert_eq!(
            SparkDialect.table(&table(Some("shop"), "or`ders")),
            "`shop`.`or``ders`"
        );
        assert_eq!(
            SparkDialect.table(&table(Some("main"), "shop.orders")),
            "`main`.`shop`.`orders`"
        );
    }

    #[test]
    fn the_database_parameter_is_tidemarks_own() {
        assert_eq!(
            split_database("sc://h:15002/;token=abc;database=shop;x-databricks-cluster-id=c1"),
            (
                "sc://h:15002/;token=abc;x-databricks-cluster-id=c1".to_owned(),
                Some("shop".to_owned())
            )
        );
        assert_eq!(split_database("sc://h"), ("sc://h".to_owned(), None));
    }

    #[test]
    fn globs_of_every_file_read_their_folder() {
        assert_eq!(scanned_path("/lake/orders/*/*.parquet"), "/lake/orders");
        assert_eq!(scanned_path("/lake/orders/**"), "/lake/orders");
        assert_eq!(
            scanned_path("/lake/orders/2026-*.parquet"),
            "/lake/orders/2026-*.parquet"
        );
        assert_eq!(scanned_path("/lake/o.parquet"), "/lake/o.parquet");
    }

    #[test]
    fn the_endpoint_defaults_to_spark_connects_port() {
        assert_eq!(endpoint("sc://h:443/;use_ssl=true"), "h:443");
        assert_eq!(endpoint("sc://h;token=x"), "h:15002");
        assert_eq!(endpoint("sc://[::1]"), "[::1]:15002");
    }

    #[test]
    fn quotes_in_literals_are_escaped_not_doubled() {
        assert_eq!(SparkDialect.text_literal(r"it's \n"), r"'it\'s \\n'");
    }

    #[test]
    fn files_are_path_tables() {
        let files = FileSource {
            path: "/lake/or`ders/o.parquet".into(),
            format: FileFormat::Parquet,
        };
        assert_eq!(
            SparkDialect.file_scan(&files).as_deref(),
            Some("parquet.`/lake/or``ders/o.parquet`")
        );
    }
}
