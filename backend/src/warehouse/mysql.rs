//! MySQL and MariaDB: a read-only transaction per query, the server's statement timeout
//! (MariaDB `max_statement_time`, MySQL `max_execution_time`), `KILL QUERY` when user SQL
//! runs over, and information_schema for catalogs. Sessions keep state beyond a
//! transaction (user variables, `SET`s, temporary tables), so a connection that ran user
//! SQL is closed rather than handed to the next query.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt as _;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::types::Decimal;
use sqlx::{AssertSqlSafe, Executor as _};

use super::engine::{Connecting, Engine, cancelled_at};
use super::pooled::{CONNECT_TIMEOUT, Native, Pooled, decode_number, probe, user_row};
use super::{ConnectRequest, Dialect, Facts, ReadOnly, SqlDialect, WarehouseError};
use crate::spec::user_sql::Grammar;
use crate::spec::{Grain, TypeFamily};

pub struct MySqlDialect;

const FACTS: Facts = Facts {
    name: "mysql",
    grammar: Grammar::MySql,
    quote: '`',
    backslash_escapes: true,
    escaped_string_prefix: "",
    quote_in_text: "''",
    bools: ("1", "0"),
    double_type: "DOUBLE",
    text_type: "CHAR",
    read_only: ReadOnly::Transaction("START TRANSACTION READ ONLY"),
    scanned_rows: None,
};

impl SqlDialect for MySqlDialect {
    fn facts(&self) -> &'static Facts {
        &FACTS
    }
    // Connections run with time_zone = '+00:00', so NOW() is UTC like DATETIME values.
    fn freshness_seconds(&self, column: &str) -> String {
        format!("TIMESTAMPDIFF(MICROSECOND, MAX({column}), NOW(6)) / 1000000")
    }
    /// The session's time zone is UTC (set on connecting), so TIMESTAMP columns bucket in UTC.
    fn bucket(&self, column: &str, grain: Grain) -> String {
        let format = match grain {
            Grain::Hour => "%Y-%m-%dT%H:00:00",
            Grain::Day => "%Y-%m-%dT00:00:00",
        };
        format!("DATE_FORMAT({column}, '{format}')")
    }
    // COUNT(DISTINCT a, b) already skips tuples holding a NULL.
    fn count_distinct_tuples(&self, columns: &[String], when: &str) -> String {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!("CASE WHEN {when} THEN {c} END"))
            .collect();
        format!("COUNT(DISTINCT {})", cols.join(", "))
    }
    fn family(&self, data_type: &str, full_type: &str) -> Option<TypeFamily> {
        if full_type.eq_ignore_ascii_case("tinyint(1)") {
            return Some(TypeFamily::Boolean);
        }
        super::dialect::named_family_of(data_type, full_type)
    }
    /// BOOLEAN is TINYINT(1), which is also an integer.
    fn family_matches(
        &self,
        declared: TypeFamily,
        actual: Option<TypeFamily>,
        full_type: &str,
    ) -> bool {
        actual == Some(declared)
            || (declared == TypeFamily::Integer && full_type.eq_ignore_ascii_case("tinyint(1)"))
    }
    fn schema_query(&self, with_schema: bool) -> Option<&'static str> {
        Some(if with_schema {
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        } else {
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        })
    }
    fn views_query(&self) -> Option<&'static str> {
        Some(
            "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION, COALESCE(DATABASE(), '') \
         FROM information_schema.VIEWS \
         WHERE TABLE_SCHEMA NOT IN ('sys', 'mysql', 'information_schema', 'performance_schema') \
         ORDER BY 1, 2",
        )
    }
}

pub struct MySql {
    pool: MySqlPool,
}

pub fn connect(request: ConnectRequest<'_>) -> Connecting<'_> {
    async move {
        let options = MySqlConnectOptions::from_str(request.url)?;
        probe::<sqlx::MySqlConnection>(&options).await?;
        let seconds = request.query_timeout.as_secs_f64();
        let pool = MySqlPoolOptions::new()
            .max_connections(request.max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |conn, _| Box::pin(async move { set_timeout(conn, seconds).await }))
            .connect_lazy_with(options);
        Ok(Box::new(Pooled(MySql { pool })) as Box<dyn Engine>)
    }
    .boxed()
}

/// MariaDB calls the server-side timeout `max_statement_time` (seconds), MySQL
/// `max_execution_time` (milliseconds); whichever the server knows is set.
async fn set_timeout(conn: &mut sqlx::MySqlConnection, seconds: f64) -> Result<(), sqlx::Error> {
    let mariadb = format!("SET SESSION max_statement_time = {seconds}");
    if conn.execute(AssertSqlSafe(mariadb)).await.is_ok() {
        return Ok(());
    }
    let mysql = format!(
        "SET SESSION max_execution_time = {}",
        (seconds * 1000.0) as u64
    );
    conn.execute(AssertSqlSafe(mysql)).await.map(|_| ())
}

#[async_trait]
impl Native for MySql {
    type Db = sqlx::MySql;
    const DIALECT: Dialect = Dialect::MYSQL;

    fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    async fn user_number(&self, sql: &str, limit: Duration) -> Result<Option<f64>, WarehouseError> {
        let mut conn = self.pool.acquire().await?;
        conn.close_on_drop();
        let id: u64 = sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(&mut *conn)
            .await?;
        let run = async {
            let row = user_row::<sqlx::MySql>(&mut conn, &FACTS, sql).await?;
            decode_number!(&row, f64, f32, i64, u64, i32, u32, i16, i8, Decimal)
        };
        let cancel = async {
            let kill = format!("KILL QUERY {id}");
            let _ = self.pool.execute(AssertSqlSafe(kill)).await;
        };
        cancelled_at(limit, run, cancel).await
    }

    /// An account with FILE, SUPER or every privilege server-wide.
    async fn privilege_warning(&self) -> Option<String> {
        let grants: Vec<String> = sqlx::query_scalar("SHOW GRANTS")
            .fetch_all(&self.pool)
            .await
            .ok()?;
        grants
            .iter()
            .any(|grant| grant_is_powerful(grant))
            .then(|| "the account has the FILE, SUPER or ALL privilege".to_owned())
    }
}

/// Whether one line of `SHOW GRANTS` gives server-wide FILE, SUPER or every privilege.
fn grant_is_powerful(grant: &str) -> bool {
    let grant = grant.to_ascii_uppercase();
    let Some((privileges, rest)) = grant
        .strip_prefix("GRANT ")
        .and_then(|g| g.split_once(" ON "))
    else {
        return false;
    };
    rest.trim_start().starts_with("*.*")
        && privileges
            .split(',')
            .map(str::trim)
            .any(|privilege| ["ALL", "ALL PRIVILEGES", "FILE", "SUPER"].contains(&privilege))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powerful_grants_are_told_apart() {
        assert!(grant_is_powerful(
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"
        ));
        assert!(grant_is_powerful("GRANT SELECT, FILE ON *.* TO `a`@`%`"));
        assert!(!grant_is_powerful("GRANT SELECT ON *.* TO `a`@`%`"));
        assert!(!grant_is_powerful(
            "GRANT ALL PRIVILEGES ON `shop`.* TO `a`@`%`"
        ));
        assert!(!grant_is_powerful("GRANT USAGE ON *.* TO `a`@`%`"));
    }
}
