//! The user-SQL guard. `sql_metric` queries and `filter` predicates are the only SQL users
//! write, and they run through the warehouse account. A read-only transaction does not stop
//! everything that can hurt (MariaDB commits DDL before it, Postgres runs `COPY … TO
//! PROGRAM` inside one, SQLite writes files with `VACUUM INTO`), so the text itself must be
//! harmless: one read-only query, or one expression, in the warehouse's grammar. Anything
//! that does not parse is refused too: what cannot be read cannot be judged.
//!
//! This is one layer of several: the warehouse also runs the SQL read-only, under a
//! timeout it enforces on the server, and discards the connection afterwards (see
//! `warehouse`). None of them replaces an unprivileged warehouse account.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, ObjectName, ObjectNamePart, Query, SetExpr, Spanned, Statement};
use sqlparser::ast::{TableFactor, Visit, Visitor};
use sqlparser::dialect::SparkSqlDialect;
use sqlparser::dialect::{Dialect, DuckDbDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use super::FileFormat;
use sqlparser::tokenizer::{Token, Tokenizer};

/// The SQL grammar user SQL is parsed with: the warehouse's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Grammar {
    Postgres,
    MySql,
    Sqlite,
    DuckDb,
    Spark,
}

impl Grammar {
    /// The grammar of a warehouse URL's scheme.
    pub fn of_url(url: &str) -> Option<Grammar> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Grammar::Postgres),
            "mysql" | "mariadb" => Some(Grammar::MySql),
            "sqlite" => Some(Grammar::Sqlite),
            "duckdb" => Some(Grammar::DuckDb),
            "sc" => Some(Grammar::Spark),
            _ => None,
        }
    }

    /// The sqlparser dialect of the grammar (also what view definitions are read with).
    pub fn parser(self) -> Box<dyn Dialect> {
        match self {
            Grammar::Postgres => Box::new(PostgreSqlDialect {}),
            Grammar::MySql => Box::new(MySqlDialect {}),
            Grammar::Sqlite => Box::new(SQLiteDialect {}),
            Grammar::DuckDb => Box::new(DuckDbDialect {}),
            Grammar::Spark => Box::new(SparkSqlDialect {}),
        }
    }

    /// Whether the warehouse reads datasets from files (`files:`) in `format`.
    pub fn reads_files(self, format: FileFormat) -> bool {
        match self {
            Grammar::DuckDb => true,
            // Spark's path tables take no reader options: a CSV file's header would be
            // read as a row.
            Grammar::Spark => format != FileFormat::Csv,
            Grammar::Postgres | Grammar::MySql | Grammar::Sqlite => false,
        }
    }
}

/// Why user SQL was refused, and where in its text (1-based; 0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub message: String,
    pub line: u64,
    pub column: u64,
}

impl Refusal {
    fn at(message: impl Into<String>, line: u64, column: u64) -> Self {
        Refusal {
            message: message.into(),
            line,
            column,
        }
    }

    /// "at line 2, column 7 of the query", or nothing when the place is unknown.
    pub fn place(&self, what: &str) -> String {
        match (self.line, self.column) {
            (0, _) => String::new(),
            (1, column) => format!(" (at column {column} of the {what})"),
            (line, column) => format!(" (at line {line}, column {column} of the {what})"),
        }
    }
}

/// Functions that reach outside the query's own result: the server's files and programs,
/// other sessions, settings, secrets, locks that outlive the statement, SQL run from a
/// string. Matched on the last part of the name, case-insensitively, in expressions and as
/// table functions, on every warehouse (a name that means nothing on one engine is refused
/// harmlessly there).
const REFUSED_FUNCTIONS: [&str; 66] = [
    // Postgres
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_file_write",
    "pg_file_unlink",
    "pg_file_rename",
    "lo_import",
    "lo_export",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_reload_conf",
    "pg_rotate_logfile",
    "pg_notify",
    "set_config",
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "dblink",
    "dblink_exec",
    "dblink_connect",
    // MySQL / MariaDB
    "load_file",
    "get_lock",
    "release_lock",
    "sys_exec",
    "sys_eval",
    // SQLite
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    // DuckDB: files are read by datasets (`files:`), never by user SQL, which would
    // otherwise read any file the process can (a number's worth at a time is enough).
    "read_text",
    "read_blob",
    "read_csv",
    "read_csv_auto",
    "read_parquet",
    "parquet_scan",
    "parquet_metadata",
    "parquet_schema",
    "parquet_file_metadata",
    "parquet_kv_metadata",
    "read_json",
    "read_json_auto",
    "read_json_objects",
    "read_ndjson",
    "read_ndjson_auto",
    "read_ndjson_objects",
    "glob",
    "sniff_csv",
    "getenv",
    "duckdb_secrets",
    "which_secret",
    "query",
    "query_table",
    "sqlite_scan",
    "postgres_scan",
    "mysql_scan",
    "delta_scan",
    // Spark and Databricks: static Java methods by name, files, secrets, the network.
    "reflect",
    "java_method",
    "try_reflect",
    "read_files",
    "cloud_files",
    "secret",
    "try_secret",
    "http_request",
    "ai_query",
];

/// Spark's path tables (`parquet.`/etc``): a table name whose first part is a data
/// source reads files the server can, like DuckDB's readers.
const SPARK_FILE_SOURCES: [&str; 11] = [
    "parquet",
    "csv",
    "json",
    "orc",
    "text",
    "avro",
    "binaryfile",
    "delta",
    "xml",
    "jdbc",
    "hive",
];

/// Prefixes of refused function families (Postgres' session-level advisory locks outlive
/// the transaction, so a pooled connection would keep them).
const REFUSED_PREFIXES: [&str; 1] = ["pg_advisory"];

/// Checks a `sql_metric` query: exactly one read-only `SELECT` / `WITH` query, without
/// `INTO`, locking clauses or data-modifying parts, calling no refused function.
pub fn check_query(grammar: Grammar, sql: &str) -> Result<(), Refusal> {
    let dialect = grammar.parser();
    let starts = statement_starts(dialect.as_ref(), sql)?;
    let Some((first, line, column)) = starts.first() else {
        return Err(Refusal::at("the query is empty", 0, 0));
    };
    let (line, column) = (*line, *column);
    if !first.starts_query() {
        return Err(Refusal::at(
            format!(
                "{} statements are refused: a sql_metric is one read-only SELECT or WITH query",
                first.name()
            ),
            line,
            column,
        ));
    }
    if let Some(&(_, line, column)) = starts.get(1) {
        return Err(Refusal::at(
            "one statement only: a sql_metric is one read-only SELECT or WITH query",
            line,
            column,
        ));
    }
    let statements = Parser::parse_sql(dialect.as_ref(), sql).map_err(parse_refusal)?;
    let [statement] = statements.as_slice() else {
        return Err(Refusal::at(
            "one statement only: a sql_metric is one read-only SELECT or WITH query",
            0,
            0,
        ));
    };
    let Statement::Query(query) = statement else {
        let start = statement.span().start;
        return Err(Refusal::at(
            "only a SELECT or WITH query is allowed in a sql_metric",
            start.line,
            start.column,
        ));
    };
    inspect(grammar, &**query)
}

/// Checks a `filter`: exactly one expression (a predicate ANDed into Tidemark's queries),
/// with the same rules as a query for any subquery or function inside it.
pub fn check_filter(grammar: Grammar, sql: &str) -> Result<(), Refusal> {
    let dialect = grammar.parser();
    let mut parser = Parser::new(dialect.as_ref())
        .try_with_sql(sql)
        .map_err(parse_refusal)?;
    let expr = parser.parse_expr().map_err(parse_refusal)?;
    let rest = parser.peek_token();
    if rest.token != Token::EOF {
        let start = rest.span.start;
        return Err(Refusal::at(
            format!(
                "a filter is one boolean expression; '{}' starts something else",
                rest.token
            ),
            start.line,
            start.column,
        ));
    }
    inspect(grammar, &expr)
}

/// The first word of a statement, as far as the guard cares.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Opening {
    /// A parenthesised query.
    Paren,
    Word(String),
    Other,
}

impl Opening {
    fn starts_query(&self) -> bool {
        match self {
            Opening::Paren => true,
            Opening::Word(word) => ["SELECT", "WITH", "VALUES", "TABLE"]
                .iter()
                .any(|keyword| word.eq_ignore_ascii_case(keyword)),
            Opening::Other => false,
        }
    }

    fn name(&self) -> String {
        match self {
            Opening::Word(word) => word.to_ascii_uppercase(),
            Opening::Paren | Opening::Other => "such".to_owned(),
        }
    }
}

/// Where each statement of `sql` starts (split on `;` outside strings and comments), with
/// its first word. Tokenizing, not parsing: statements the parser does not know (`VACUUM
/// INTO`, MariaDB's `SET STATEMENT … FOR`) are still named in the refusal.
fn statement_starts(dialect: &dyn Dialect, sql: &str) -> Result<Vec<(Opening, u64, u64)>, Refusal> {
    let tokens = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(|e| {
            let message = format!("cannot read the SQL: {}", e.message);
            Refusal::at(message, e.location.line, e.location.column)
        })?;
    let mut starts = Vec::new();
    let mut at_start = true;
    for token in tokens {
        match &token.token {
            Token::Whitespace(_) => continue,
            Token::SemiColon => at_start = true,
            Token::EOF => break,
            other if at_start => {
                at_start = false;
                let opening = match other {
                    Token::LParen => Opening::Paren,
                    Token::Word(word) => Opening::Word(word.value.clone()),
                    _ => Opening::Other,
                };
                starts.push((opening, token.span.start.line, token.span.start.column));
            }
            _ => {}
        }
    }
    Ok(starts)
}

fn parse_refusal(error: sqlparser::parser::ParserError) -> Refusal {
    // sqlparser appends " at Line: L, Column: C"; the place is reported by the caller.
    let text = error.to_string();
    let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
    let (message, line, column) = match text.rsplit_once(" at Line: ") {
        Some((message, place)) => {
            let (line, column) = place.split_once(", Column: ").unwrap_or((place, "0"));
            (
                message,
                line.trim().parse().unwrap_or(0),
                column.trim().parse().unwrap_or(0),
            )
        }
        None => (text, 0, 0),
    };
    Refusal::at(format!("cannot parse the SQL: {message}"), line, column)
}

/// Walks a parsed query or expression for what a read-only query must not contain.
fn inspect<V: Visit>(grammar: Grammar, node: &V) -> Result<(), Refusal> {
    match node.visit(&mut Inspector { grammar }) {
        ControlFlow::Break(refusal) => Err(refusal),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Inspector {
    grammar: Grammar,
}

impl Visitor for Inspector {
    type Break = Refusal;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Refusal> {
        let start = query.span().start;
        let refuse = |what: &str| {
            ControlFlow::Break(Refusal::at(
                format!("{what} is refused: user SQL only reads"),
                start.line,
                start.column,
            ))
        };
        if !query.locks.is_empty() {
            return refuse("a locking clause (FOR UPDATE / FOR SHARE)");
        }
        match writes(&query.body) {
            Some(what) => refuse(what),
            None => ControlFlow::Continue(()),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<Refusal> {
        match expr {
            Expr::Function(function) => refuse_function(&function.name, expr),
            _ => ControlFlow::Continue(()),
        }
    }

    /// Table functions (`FROM read_text('/etc/passwd')`) reach as far as scalar ones.
    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Refusal> {
        match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => refuse_function(name, factor),
            TableFactor::Table { name, .. } if self.grammar == Grammar::Spark => {
                refuse_path_table(name, factor)
            }
            _ => ControlFlow::Continue(()),
        }
    }
}

/// Breaks with a refusal at `node` when `name` is a Spark path table (`csv.`/etc/passwd``).
fn refuse_path_table(name: &ObjectName, node: &impl Spanned) -> ControlFlow<Refusal> {
    let [ObjectNamePart::Identifier(source), _] = name.0.as_slice() else {
        return ControlFlow::Continue(());
    };
    let source = source.value.to_ascii_lowercase();
    if !SPARK_FILE_SOURCES.contains(&source.as_str()) {
        return ControlFlow::Continue(());
    }
    let start = node.span().start;
    ControlFlow::Break(Refusal::at(
        format!("reading files ({source}.`…`) is refused: datasets read files with 'files:'"),
        start.line,
        start.column,
    ))
}

/// Breaks with a refusal at `node` when `name` is a refused function.
fn refuse_function(name: &ObjectName, node: &impl Spanned) -> ControlFlow<Refusal> {
    let Some(ObjectNamePart::Identifier(name)) = name.0.last() else {
        return ControlFlow::Continue(());
    };
    let name = name.value.to_ascii_lowercase();
    let refused = REFUSED_FUNCTIONS.contains(&name.as_str())
        || REFUSED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix));
    if !refused {
        return ControlFlow::Continue(());
    }
    let start = node.span().start;
    ControlFlow::Break(Refusal::at(
        format!("the function {name}() is refused: it reaches outside the query"),
        start.line,
        start.column,
    ))
}

/// What in a query body writes, if anything: `SELECT … INTO`, or a data-modifying part.
fn writes(body: &SetExpr) -> Option<&'static str> {
    match body {
        SetExpr::Select(select) if select.into.is_some() => Some("SELECT … INTO"),
        SetExpr::Select(_) | SetExpr::Values(_) | SetExpr::Table(_) | SetExpr::Query(_) => None,
        SetExpr::SetOperation { left, right, .. } => writes(left).or_else(|| writes(right)),
        SetExpr::Insert(_) => Some("INSERT"),
        SetExpr::Update(_) => Some("UPDATE"),
        SetExpr::Delete(_) => Some("DELETE"),
        SetExpr::Merge(_) => Some("MERGE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(grammar: Grammar, sql: &str) -> String {
        match check_query(grammar, sql) {
            Err(refusal) => refusal.message,
            Ok(()) => panic!("{sql:?} passed the guard on {grammar:?}"),
        }
    }

    #[test]
    fn plain_queries_pass_on_every_grammar() {
        for grammar in [
            Grammar::Postgres,
            Grammar::MySql,
            Grammar::Sqlite,
            Grammar::DuckDb,
            Grammar::Spark,
        ] {
            for sql in [
                "select count(*) from orders where status = 'x;y'",
                "SELECT 1",
                "with t as (select 1 as a) select sum(a) from t",
                "(select 1) union all (select 2)",
                "select count(*) from orders -- a comment; drop table x\n",
                "select 1;",
            ] {
                assert_eq!(check_query(grammar, sql), Ok(()), "{sql} on {grammar:?}");
            }
        }
    }

    #[test]
    fn mysql_user_variables_parse() {
        assert_eq!(check_query(Grammar::MySql, "select @seen := 5"), Ok(()));
    }

    #[test]
    fn statements_that_write_or_escape_are_refused() {
        let cases = [
            (
                Grammar::MySql,
                "drop table t",
                "DROP statements are refused",
            ),
            (
                Grammar::MySql,
                "select 1; drop table t",
                "one statement only",
            ),
            (Grammar::MySql, "truncate t", "TRUNCATE"),
            (Grammar::MySql, "rename table a to b", "RENAME"),
            (
                Grammar::MySql,
                "create or replace view v as select 1",
                "CREATE",
            ),
            (Grammar::MySql, "set global max_connections = 1", "SET"),
            (
                Grammar::MySql,
                "set statement max_statement_time=0 for select sleep(40)",
                "SET",
            ),
            (Grammar::MySql, "select * from t into outfile '/tmp/x'", ""),
            (
                Grammar::Postgres,
                "copy (select 1) to program 'id > out.txt'",
                "COPY",
            ),
            (Grammar::Postgres, "copy t to '/tmp/t'", "COPY"),
            (
                Grammar::Postgres,
                "select * into t2 from t",
                "SELECT … INTO",
            ),
            (
                Grammar::Postgres,
                "select * from t for update",
                "locking clause",
            ),
            (
                Grammar::Postgres,
                "with d as (delete from t returning 1) select count(*) from d",
                "DELETE",
            ),
            (
                Grammar::Postgres,
                "select pg_read_file('/etc/passwd')",
                "pg_read_file",
            ),
            (
                Grammar::Postgres,
                "select pg_advisory_lock(1)",
                "pg_advisory_lock",
            ),
            (Grammar::Postgres, "begin; select 1", "BEGIN"),
            (Grammar::Sqlite, "vacuum into 'copy.db'", "VACUUM"),
            (
                Grammar::Sqlite,
                "create temp view v as select 1; select 1",
                "CREATE",
            ),
            (Grammar::Sqlite, "begin immediate; select 1", "BEGIN"),
            (Grammar::Sqlite, "pragma writable_schema = 1", "PRAGMA"),
            (Grammar::Sqlite, "attach 'x.db' as x", "ATTACH"),
            (
                Grammar::Sqlite,
                "select load_extension('x')",
                "load_extension",
            ),
            (Grammar::Sqlite, "", "empty"),
            (Grammar::Sqlite, "select count(* from t", "cannot parse"),
            (Grammar::DuckDb, "copy t to '/tmp/t.csv'", "COPY"),
            (Grammar::DuckDb, "attach '/tmp/x.duckdb' as x", "ATTACH"),
            (Grammar::DuckDb, "install httpfs", "INSTALL"),
            (Grammar::DuckDb, "set enable_external_access = true", "SET"),
            (
                Grammar::DuckDb,
                "select length(content) from read_text('/etc/hostname')",
                "read_text",
            ),
            (
                Grammar::DuckDb,
                "select count(*) from main.read_csv('/etc/passwd')",
                "read_csv",
            ),
            (
                Grammar::DuckDb,
                "select length(getenv('STORE_URL'))",
                "getenv",
            ),
            (
                Grammar::Postgres,
                "select count(*) from pg_read_file('/etc/hostname') f",
                "pg_read_file",
            ),
            (Grammar::Spark, "insert into victim values (4)", "INSERT"),
            (Grammar::Spark, "cache table victim", "CACHE"),
            (Grammar::Spark, "set spark.sql.ansi.enabled = false", "SET"),
            (Grammar::Spark, "add jar '/tmp/x.jar'", "ADD"),
            (
                Grammar::Spark,
                "select count(*) from csv.`/etc/passwd`",
                "reading files",
            ),
            (
                Grammar::Spark,
                "select reflect('java.lang.System', 'getenv', 'HOME')",
                "reflect",
            ),
        ];
        for (grammar, sql, wanted) in cases {
            let message = refused(grammar, sql);
            assert!(message.contains(wanted), "{sql}: {message}");
        }
    }

    #[test]
    fn refusals_say_where() {
        let refusal =
            check_query(Grammar::Postgres, "select 1;\n  drop table t").expect_err("refused");
        assert_eq!((refusal.line, refusal.column), (2, 3));
        assert_eq!(
            refusal.place("query"),
            " (at line 2, column 3 of the query)"
        );
    }

    #[test]
    fn filters_are_one_expression() {
        assert_eq!(
            check_filter(Grammar::Postgres, "status <> 'test' and a > 1"),
            Ok(())
        );
        assert_eq!(
            check_filter(Grammar::MySql, "id in (select id from t where x = 1)"),
            Ok(())
        );
        let refusal = check_filter(Grammar::Sqlite, "1 = 1; drop table t").expect_err("refused");
        assert!(
            refusal.message.contains("one boolean expression"),
            "{refusal}"
        );
        let refusal = check_filter(
            Grammar::Postgres,
            "id in (select pg_sleep(1) from t for update)",
        )
        .expect_err("refused");
        assert!(refusal.message.contains("locking clause"), "{refusal}");
        let refusal = check_filter(Grammar::Postgres, "set_config('a', 'b', false) = 'b'")
            .expect_err("refused");
        assert!(refusal.message.contains("set_config"), "{refusal}");
    }
}
