//! SQL dialects: everything that differs between warehouses when Tidemark writes SQL. Each
//! engine module implements [`SqlDialect`] for its warehouse; the planner sees a
//! [`Dialect`], a handle on one. Identifiers and literals from YAML only ever reach SQL
//! through [`SqlDialect::ident`] and [`SqlDialect::literal`], whose quoting is written once
//! here from each dialect's few facts (its quote character, whether backslash escapes);
//! this is the one place to audit for injection.

use std::fmt;
use std::ops::Deref;

use crate::spec::user_sql::Grammar;
use chrono::{DateTime, Utc};

use crate::spec::{FileSource, Grain, Literal, TableRef, TypeFamily};

/// How a warehouse keeps Tidemark's queries from writing. An engine with neither a
/// read-only transaction nor a read-only connection says [`ReadOnly::GuardOnly`]: its user
/// SQL is then held to the user-SQL guard alone, and the run says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOnly {
    /// Every query runs in a transaction opened with this statement.
    Transaction(&'static str),
    /// The connection itself is opened read-only.
    Connection,
    GuardOnly,
}

/// The plain facts of a dialect, from which most of its SQL follows.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The engine's name in logs, spans and messages (`postgres`).
    pub name: &'static str,
    /// The grammar user SQL is checked in.
    pub grammar: Grammar,
    /// The character that quotes identifiers.
    pub quote: char,
    /// Whether string literals treat backslash as an escape (so it is doubled), and what
    /// opens such a literal (Postgres: `E`).
    pub backslash_escapes: bool,
    /// How a single quote is written inside a string literal: doubled (`''`), or escaped
    /// (`\'`) where adjacent literals concatenate, so `'it''s'` would read `its` (Spark).
    pub quote_in_text: &'static str,
    pub escaped_string_prefix: &'static str,
    /// How booleans are written (`TRUE`/`FALSE`, or `1`/`0`).
    pub bools: (&'static str, &'static str),
    /// The SQL type a metric is cast to so that every driver decodes it as a double.
    pub double_type: &'static str,
    /// The SQL type a value is cast to for text comparisons.
    pub text_type: &'static str,
    pub read_only: ReadOnly,
    /// A query that, run last in a read-only transaction, returns how many rows the
    /// transaction's scans read (Postgres: `pg_stat_xact_user_tables`), where there is one.
    pub scanned_rows: Option<&'static str>,
}

/// What one warehouse's SQL looks like. The provided methods build on [`Facts`] and the
/// required methods; an engine overrides them only where its SQL differs.
pub trait SqlDialect: Sync {
    fn facts(&self) -> &'static Facts;
    fn name(&self) -> &'static str {
        self.facts().name
    }
    fn grammar(&self) -> Grammar {
        self.facts().grammar
    }
    fn read_only(&self) -> ReadOnly {
        self.facts().read_only
    }
    /// `expr` matches the regular expression `pattern` (a literal already quoted).
    fn regex_match(&self, expr: &str, pattern: &str) -> String {
        format!("{} REGEXP {pattern}", self.as_text(expr))
    }
    /// The mean of `expr`.
    fn avg(&self, expr: &str) -> String {
        format!("AVG({expr})")
    }
    /// Sample standard deviation, when the warehouse has it built in (else the engine
    /// derives it from count, sum and sum of squares).
    fn stddev_samp(&self, expr: &str) -> Option<String> {
        Some(format!("STDDEV_SAMP({expr})"))
    }
    /// Seconds between the warehouse's own clock and the newest value of `column` (an
    /// expression over the table, possibly a CASE for check filters).
    fn freshness_seconds(&self, column: &str) -> String;
    /// The start of the `grain` bucket holding `column`'s value (UTC): what a bucket query
    /// groups by, in the engine's own type where it has one (grouping by a timestamp is a
    /// hash of a few groups; by text, a sort of every row).
    fn bucket(&self, column: &str, grain: Grain) -> String;
    /// A bucket start from [`SqlDialect::bucket`] as text in the form `2026-12-01T13:00:00`.
    fn bucket_label(&self, bucket: &str) -> String {
        bucket.to_owned()
    }
    /// Rows whose `column` is in `[from, until)` (UTC): the bare column against literals of
    /// its family, so the engine can use an index or prune partitions.
    fn range(
        &self,
        column: &str,
        (from, until): (DateTime<Utc>, DateTime<Utc>),
        family: Option<TypeFamily>,
    ) -> String {
        format!(
            "{column} >= {} AND {column} < {}",
            self.time_literal(from, family),
            self.time_literal(until, family)
        )
    }
    /// A moment (UTC) as a literal a column of `family` compares with: text the engine
    /// reads as a date or a timestamp.
    fn time_literal(&self, at: DateTime<Utc>, family: Option<TypeFamily>) -> String {
        let format = match family {
            Some(TypeFamily::Date) => "%Y-%m-%d",
            _ => "%Y-%m-%d %H:%M:%S",
        };
        self.text_literal(&at.format(format).to_string())
    }
    /// Number of distinct tuples among rows whose key columns are all non-null; `when` is
    /// the condition under which a row counts (non-null key, plus any check filter). A row
    /// value where the engine compares them (Postgres, DuckDB).
    fn count_distinct_tuples(&self, columns: &[String], when: &str) -> String {
        format!(
            "COUNT(DISTINCT CASE WHEN {when} THEN ROW({}) END)",
            columns.join(", ")
        )
    }
    /// The type family of a column, from the type names the schema query returns
    /// (`full_type` is Postgres' `udt_name` or MySQL's `COLUMN_TYPE`, `tinyint(1)`).
    fn family(&self, data_type: &str, full_type: &str) -> Option<TypeFamily> {
        named_family_of(data_type, full_type)
    }
    /// Whether a declared family accepts an actual column.
    fn family_matches(
        &self,
        declared: TypeFamily,
        actual: Option<TypeFamily>,
        _full_type: &str,
    ) -> bool {
        actual == Some(declared)
    }
    /// The catalog query that describes a table: `(name, data_type, base_type)` of each
    /// column in order, with the schema (when given) and the table as bind parameters;
    /// `None` for an engine whose catalog takes no parameters, whose tables are described
    /// with [`SqlDialect::describe_query`] (Spark).
    fn schema_query(&self, with_schema: bool) -> Option<&'static str>;
    /// The bind parameters of [`SqlDialect::schema_query`], in order.
    fn schema_binds<'t>(&self, table: &'t TableRef) -> Vec<&'t str> {
        let mut binds: Vec<&str> = table.schema.iter().map(String::as_str).collect();
        binds.push(&table.table);
        binds
    }
    /// `(schema, name, definition, default schema)` of every view outside the system
    /// schemas, by schema and name; `None` where the catalog keeps no view text to read
    /// lineage from.
    fn views_query(&self) -> Option<&'static str>;

    /// How a dataset is described: the catalog query and its parameters, or else a
    /// statement describing what the dataset reads (files, or a table on an engine without
    /// a catalog query), which returns `(name, type, …)` of each column.
    fn describe(&self, table: &TableRef) -> Describe {
        match self.schema_query(table.schema.is_some()) {
            Some(sql) if table.files.is_none() => Describe {
                sql: sql.to_owned(),
                binds: self
                    .schema_binds(table)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            },
            _ => Describe {
                sql: self.describe_query(table),
                binds: Vec::new(),
            },
        }
    }

    /// Quotes an identifier so that any name (spaces, reserved words, quotes) is taken as
    /// written: the quote character is doubled inside.
    fn ident(&self, name: &str) -> String {
        let quote = self.facts().quote;
        let mut quoted = String::with_capacity(name.len() + 2);
        quoted.push(quote);
        for c in name.chars() {
            if c == quote {
                quoted.push(quote);
            }
            quoted.push(c);
        }
        quoted.push(quote);
        quoted
    }

    /// The relation that reads a dataset's files, on an engine that reads files
    /// (validation keeps `files:` from the others).
    fn file_scan(&self, _files: &FileSource) -> Option<String> {
        None
    }

    /// The statement describing what a dataset reads: `(name, type, …)` of each column, as
    /// the engine reads them.
    fn describe_query(&self, table: &TableRef) -> String {
        format!("DESCRIBE SELECT * FROM {}", self.table(table))
    }

    fn table(&self, table: &TableRef) -> String {
        if let Some(scan) = table.files.as_ref().and_then(|files| self.file_scan(files)) {
            return scan;
        }
        match &table.schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(&table.table)),
            None => self.ident(&table.table),
        }
    }

    /// A string literal. Where backslash escapes (Postgres `E''`, MySQL strings) it is
    /// doubled as well as the quote, so the literal means the same whatever the server's
    /// `standard_conforming_strings` or `NO_BACKSLASH_ESCAPES` settings.
    fn text_literal(&self, value: &str) -> String {
        let escape_backslash = self.facts().backslash_escapes;
        let mut quoted = String::with_capacity(value.len() + 3);
        quoted.push_str(self.facts().escaped_string_prefix);
        quoted.push('\'');
        for c in value.chars() {
            match c {
                '\'' => quoted.push_str(self.facts().quote_in_text),
                '\\' if escape_backslash => quoted.push_str("\\\\"),
                // NUL cannot be stored in text on Postgres and ends strings in C APIs; no
                // warehouse value can equal it, so dropping it changes no comparison.
                '\0' => {}
                c => quoted.push(c),
            }
        }
        quoted.push('\'');
        quoted
    }

    fn literal(&self, value: &Literal) -> String {
        match value {
            Literal::Text(text) => self.text_literal(text),
            Literal::Number(n) => number_literal(*n),
            Literal::Bool(b) => {
                let (yes, no) = self.facts().bools;
                (if *b { yes } else { no }).to_owned()
            }
        }
    }

    /// Casts an aggregate to a double so every metric decodes the same way on every
    /// warehouse (Postgres `numeric`, MySQL `DECIMAL`, SQLite integers).
    fn as_double(&self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.facts().double_type)
    }

    fn as_text(&self, expr: &str) -> String {
        format!("CAST({expr} AS {})", self.facts().text_type)
    }
}

/// The statement that describes a dataset, with its bind parameters in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Describe {
    pub sql: String,
    pub binds: Vec<String>,
}

/// A warehouse's dialect, as the planner holds it: a cheap copy of a handle on the engine's
/// [`SqlDialect`], compared by name.
#[derive(Clone, Copy)]
pub struct Dialect(&'static dyn SqlDialect);

impl Dialect {
    pub const POSTGRES: Dialect = Dialect(&super::postgres::PostgresDialect);
    pub const MYSQL: Dialect = Dialect(&super::mysql::MySqlDialect);
    pub const SQLITE: Dialect = Dialect(&super::sqlite::SqliteDialect);
    #[cfg(feature = "warehouse-duckdb")]
    pub const DUCKDB: Dialect = Dialect(&super::duckdb::DuckDbDialect);
    #[cfg(feature = "warehouse-spark")]
    pub const SPARK: Dialect = Dialect(&super::spark::SparkDialect);

    /// Picks the dialect from a warehouse URL's scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        super::engine_of(url).map(|engine| engine.dialect)
    }
}

impl Deref for Dialect {
    type Target = dyn SqlDialect;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl PartialEq for Dialect {
    fn eq(&self, other: &Dialect) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Dialect {}

impl fmt::Debug for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Integral values print without a fraction so `5` stays `5` in SQL and output.
fn number_literal(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:?}")
    }
}

/// The family of a column by its type name, or else its full type name. Type modifiers
/// (`numeric(10,2)`, `varchar(20)`) do not change the family.
pub(super) fn named_family_of(data_type: &str, full_type: &str) -> Option<TypeFamily> {
    let t = data_type.to_ascii_lowercase();
    let bare = t.split('(').next().unwrap_or(&t).trim();
    named_family(bare).or_else(|| named_family(&full_type.to_ascii_lowercase()))
}

fn named_family(t: &str) -> Option<TypeFamily> {
    let family = match t {
        "smallint" | "integer" | "bigint" | "int" | "int2" | "int4" | "int8" | "tinyint"
        | "mediumint" | "serial" | "bigserial" | "smallserial" | "year" => TypeFamily::Integer,
        "numeric" | "decimal" | "money" => TypeFamily::Decimal,
        "real" | "double precision" | "double" | "float" | "float4" | "float8" => TypeFamily::Float,
        "text" | "character varying" | "varchar" | "character" | "char" | "bpchar" | "tinytext"
        | "mediumtext" | "longtext" | "enum" | "set" | "citext" | "name" | "uuid" => {
            TypeFamily::Text
        }
        "boolean" | "bool" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        "timestamp"
        | "timestamp without time zone"
        | "timestamp with time zone"
        | "timestamptz"
        | "datetime" => TypeFamily::Timestamp,
        "json" | "jsonb" => TypeFamily::Json,
        "bytea" | "blob" | "tinyblob" | "mediumblob" | "longblob" | "binary" | "varbinary" => {
            TypeFamily::Binary
        }
        _ => return None,
    };
    Some(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quote_character() {
        assert_eq!(Dialect::POSTGRES.ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(Dialect::SQLITE.ident("Order Items"), r#""Order Items""#);
        assert_eq!(Dialect::MYSQL.ident("a`b"), "`a``b`");
        assert_eq!(
            Dialect::MYSQL.ident(r#"x"; DROP TABLE t; --"#),
            r#"`x"; DROP TABLE t; --`"#
        );
    }

    #[test]
    fn text_literals_escape_quotes_and_backslashes() {
        assert_eq!(Dialect::POSTGRES.text_literal(r"it's \"), r"E'it''s \\'");
        assert_eq!(Dialect::MYSQL.text_literal(r"it's \"), r"'it''s \\'");
        assert_eq!(Dialect::SQLITE.text_literal(r"it's \"), r"'it''s \'");
    }

    #[test]
    fn numbers_keep_integers_integral() {
        assert_eq!(Dialect::POSTGRES.literal(&Literal::Number(5.0)), "5");
        assert_eq!(Dialect::POSTGRES.literal(&Literal::Number(2.5)), "2.5");
        assert_eq!(Dialect::MYSQL.literal(&Literal::Bool(true)), "1");
    }

    #[test]
    fn families_follow_each_warehouse() {
        assert_eq!(
            Dialect::POSTGRES.family("timestamp with time zone", "timestamptz"),
            Some(TypeFamily::Timestamp)
        );
        assert_eq!(
            Dialect::MYSQL.family("tinyint", "tinyint(1)"),
            Some(TypeFamily::Boolean)
        );
        assert!(Dialect::MYSQL.family_matches(
            TypeFamily::Integer,
            Some(TypeFamily::Boolean),
            "tinyint(1)"
        ));
        assert_eq!(
            Dialect::SQLITE.family("VARCHAR(20)", ""),
            Some(TypeFamily::Text)
        );
        assert_eq!(
            Dialect::SQLITE.family("DECIMAL(10,2)", ""),
            Some(TypeFamily::Decimal)
        );
        assert_eq!(
            Dialect::SQLITE.family("DATETIME", ""),
            Some(TypeFamily::Timestamp)
        );
        assert_eq!(
            Dialect::SQLITE.family("BIGINT", ""),
            Some(TypeFamily::Integer)
        );
        assert_eq!(Dialect::SQLITE.family("", ""), None);
    }

    #[test]
    fn dialect_comes_from_the_url_scheme() {
        assert_eq!(
            Dialect::from_url("postgresql://x/y"),
            Some(Dialect::POSTGRES)
        );
        assert_eq!(Dialect::from_url("mariadb://x/y"), Some(Dialect::MYSQL));
        assert_eq!(Dialect::from_url("sqlite://demo.db"), Some(Dialect::SQLITE));
        assert_eq!(Dialect::from_url("oracle://x"), None);
    }
}
