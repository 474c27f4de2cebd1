//! Postgres (and what speaks its protocol): a read-only transaction per query, the
//! server's `statement_timeout`, `pg_cancel_backend` when user SQL runs over, and the
//! catalogs read directly (several times faster than information_schema's views).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Decimal;

use super::engine::{Connecting, Engine, cancelled_at};
use super::pooled::{CONNECT_TIMEOUT, Native, Pooled, decode_number, probe, user_row};
use super::{ConnectRequest, Dialect, Facts, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::Grain;
use crate::spec::user_sql::Grammar;

pub struct PostgresDialect;

const FACTS: Facts = Facts {
    name: "postgres",
    grammar: Grammar::Postgres,
    quote: '"',
    backslash_escapes: true,
    escaped_string_prefix: "E",
    quote_in_text: "''",
    bools: ("TRUE", "FALSE"),
    double_type: "DOUBLE PRECISION",
    text_type: "TEXT",
    read_only: ReadOnly::Transaction("BEGIN READ ONLY"),
    // This transaction's own counts, not yet flushed to the cumulative views: rows read by
    // sequential scans and live rows fetched by index scans.
    scanned_rows: Some(
        "SELECT CAST(COALESCE(SUM(seq_tup_read + COALESCE(idx_tup_fetch, 0)), 0) AS float8) \
         FROM pg_catalog.pg_stat_xact_user_tables",
    ),
};

impl SqlDialect for PostgresDialect {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    fn regex_match(&self, expr: &str, pattern: &str) -> String {
        format!("{} ~ {pattern}", self.as_text(expr))
    }
    fn freshness_seconds(&self, column: &str) -> String {
        format!("EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - MAX({column})))")
    }
    /// The session's time zone is UTC, so zoned and zone-less values bucket alike.
    fn bucket(&self, column: &str, grain: Grain) -> String {
        format!("date_trunc('{}', {column})", grain.keyword())
    }
    fn bucket_label(&self, bucket: &str) -> String {
        format!("to_char({bucket}, 'YYYY-MM-DD\"T\"HH24:00:00')")
    }
    fn schema_query(&self, with_schema: bool) -> Option<&'static str> {
        Some(if with_schema {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum"
        } else {
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typname::text \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 \
             AND NOT a.attisdropped ORDER BY a.attnum"
        })
    }
    /// `pg_views` (and materialized views) rather than `information_schema.views`, which
    /// hides the definitions of views the connecting role does not own.
    fn views_query(&self) -> Option<&'static str> {
        Some(
            "SELECT schemaname::text, viewname::text, definition, \
         COALESCE(current_schema(), 'public')::text FROM pg_catalog.pg_views \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') \
         UNION ALL SELECT schemaname::text, matviewname::text, definition, \
         COALESCE(current_schema(), 'public')::text FROM pg_catalog.pg_matviews \
         ORDER BY 1, 2",
        )
    }
}

pub struct Postgres {
    pool: PgPool,
}

/// Connects (probing once, so an unreachable server is reported at once).
pub fn connect(request: ConnectRequest<'_>) -> Connecting<'_> {
    async move {
        let timeout_ms = request.query_timeout.as_millis().to_string();
        // UTC so timestamps without a zone compare with now() as stored; the server-side
        // timeout stops the query itself, not only our wait for it.
        let options = PgConnectOptions::from_str(request.url)?
            .application_name("tidemark")
            .options([
                ("TimeZone", "UTC"),
                ("statement_timeout", timeout_ms.as_str()),
            ]);
        probe::<sqlx::PgConnection>(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(request.max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Box::new(Pooled(Postgres { pool })) as Box<dyn Engine>)
    }
    .boxed()
}

#[async_trait]
impl Native for Postgres {
    type Db = sqlx::Postgres;
    const DIALECT: Dialect = Dialect::POSTGRES;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn user_number(&self, sql: &str, limit: Duration) -> Result<Option<f64>, WarehouseError> {
        let mut conn = self.pool.acquire().await?;
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await?;
        let run = async {
            let row = user_row::<sqlx::Postgres>(&mut conn, &FACTS, sql).await?;
            decode_number!(&row, f64, f32, i64, i32, i16, Decimal)
        };
        // Best effort: the server's own statement_timeout is the first guard.
        let cancel = async {
            let cancel = sqlx::query("SELECT pg_cancel_backend($1)").bind(pid);
            let _ = cancel.execute(&self.pool).await;
        };
        let result = cancelled_at(limit, run, cancel).await;
        if matches!(result, Err(WarehouseError::Timeout(_))) {
            conn.close_on_drop();
        }
        result
    }

    /// A superuser, or a member of the roles that write server files and run programs.
    /// Settings and role checks, not catalog reads: nothing here is schema.
    async fn privilege_warning(&self) -> Option<String> {
        let powerful: bool = sqlx::query_scalar(
            "SELECT current_setting('is_superuser') = 'on' \
             OR pg_has_role('pg_execute_server_program', 'MEMBER') \
             OR pg_has_role('pg_write_server_files', 'MEMBER')",
        )
        .fetch_one(&self.pool)
        .await
        .ok()?;
        powerful.then(|| {
            "the account is a superuser (or may write server files and run programs)".to_owned()
        })
    }
}
