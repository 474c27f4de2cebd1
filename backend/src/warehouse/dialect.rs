//! SQL dialects: everything that differs between warehouses when Tidemark writes SQL.
//! Identifiers and literals from YAML only ever reach SQL through [`Dialect::ident`] and
//! [`Dialect::literal`]; this is the one place to audit for injection.

use crate::spec::user_sql::Grammar;
use crate::spec::{Literal, TableRef, TypeFamily};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    Postgres,
    MySql,
    Sqlite,
}

impl Dialect {
    /// Picks the dialect from a warehouse URL's scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }

    /// The grammar user SQL is checked in.
    pub fn grammar(self) -> Grammar {
        match self {
            Dialect::Postgres => Grammar::Postgres,
            Dialect::MySql => Grammar::MySql,
            Dialect::Sqlite => Grammar::Sqlite,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    /// Quotes an identifier so that any name (spaces, reserved words, quotes) is taken as
    /// written: the quote character is doubled inside.
    pub fn ident(self, name: &str) -> String {
        let quote = match self {
            Dialect::Postgres | Dialect::Sqlite => '"',
            Dialect::MySql => '`',
        };
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

    pub fn table(self, table: &TableRef) -> String {
        match &table.schema {
            Some(schema) => format!("{}.{}", self.ident(schema), self.ident(&table.table)),
            None => self.ident(&table.table),
        }
    }

    /// A string literal. Postgres `E''` and MySQL strings treat backslash as an escape, so it
    /// is doubled there as well as the quote; the result means the same whatever the
    /// server's `standard_conforming_strings` or `NO_BACKSLASH_ESCAPES` settings.
    pub fn text_literal(self, value: &str) -> String {
        let escape_backslash = !matches!(self, Dialect::Sqlite);
        let mut quoted = String::with_capacity(value.len() + 3);
        if self == Dialect::Postgres {
            quoted.push('E');
        }
        quoted.push('\'');
        for c in value.chars() {
            match c {
                '\'' => quoted.push_str("''"),
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

    pub fn literal(self, value: &Literal) -> String {
        match value {
            Literal::Text(text) => self.text_literal(text),
            Literal::Number(n) => number_literal(*n),
            Literal::Bool(b) => match (self, b) {
                (Dialect::Postgres, true) => "TRUE".into(),
                (Dialect::Postgres, false) => "FALSE".into(),
                (_, true) => "1".into(),
                (_, false) => "0".into(),
            },
        }
    }

    /// Casts an aggregate to a double so every metric decodes the same way on every
    /// warehouse (Postgres `numeric`, MySQL `DECIMAL`, SQLite integers).
    pub fn as_double(self, expr: &str) -> String {
        let ty = match self {
            Dialect::Postgres => "DOUBLE PRECISION",
            Dialect::MySql => "DOUBLE",
            Dialect::Sqlite => "REAL",
        };
        format!("CAST({expr} AS {ty})")
    }

    pub fn as_text(self, expr: &str) -> String {
        let ty = match self {
            Dialect::Postgres | Dialect::Sqlite => "TEXT",
            Dialect::MySql => "CHAR",
        };
        format!("CAST({expr} AS {ty})")
    }

    /// `expr` matches the regular expression `pattern` (a literal already quoted).
    pub fn regex_match(self, expr: &str, pattern: &str) -> String {
        match self {
            Dialect::Postgres => format!("{} ~ {pattern}", self.as_text(expr)),
            Dialect::MySql | Dialect::Sqlite => format!("{} REGEXP {pattern}", self.as_text(expr)),
        }
    }

    /// Sample standard deviation, when the warehouse has it built in. SQLite has none; the
    /// engine derives it from count, sum and sum of squares instead.
    pub fn stddev_samp(self, expr: &str) -> Option<String> {
        match self {
            Dialect::Postgres | Dialect::MySql => Some(format!("STDDEV_SAMP({expr})")),
            Dialect::Sqlite => None,
        }
    }

    /// Seconds between the warehouse's own clock and the newest value of `column`
    /// (`column` is an expression over the table, possibly a CASE for check filters).
    /// SQLite compares parsed instants, not text, so ISO-8601 values with different zone
    /// suffixes order correctly.
    pub fn freshness_seconds(self, column: &str) -> String {
        match self {
            Dialect::Postgres => format!("EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - MAX({column})))"),
            // Connections run with time_zone = '+00:00', so NOW() is UTC like DATETIME values.
            Dialect::MySql => {
                format!("TIMESTAMPDIFF(MICROSECOND, MAX({column}), NOW(6)) / 1000000")
            }
            Dialect::Sqlite => {
                format!("(julianday('now') - MAX(julianday({column}))) * 86400.0")
            }
        }
    }

    /// Number of distinct tuples among rows whose key columns are all non-null; `when` is the
    /// condition under which a row counts (non-null key, plus any check filter).
    pub fn count_distinct_tuples(self, columns: &[String], when: &str) -> String {
        match self {
            // MySQL's COUNT(DISTINCT a, b) already skips tuples holding a NULL.
            Dialect::MySql => {
                let cols: Vec<String> = columns
                    .iter()
                    .map(|c| format!("CASE WHEN {when} THEN {c} END"))
                    .collect();
                format!("COUNT(DISTINCT {})", cols.join(", "))
            }
            Dialect::Postgres => {
                format!(
                    "COUNT(DISTINCT CASE WHEN {when} THEN ROW({}) END)",
                    columns.join(", ")
                )
            }
            // quote() renders each value as an SQL literal, so the concatenation is
            // unambiguous: no two different tuples give the same string.
            Dialect::Sqlite => {
                let parts: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
                format!(
                    "COUNT(DISTINCT CASE WHEN {when} THEN {} END)",
                    parts.join(" || ',' || ")
                )
            }
        }
    }

    /// The statement that opens a read-only transaction, where the warehouse has one.
    /// SQLite warehouses are opened read-only instead.
    pub fn begin_read_only(self) -> Option<&'static str> {
        match self {
            Dialect::Postgres => Some("BEGIN READ ONLY"),
            Dialect::MySql => Some("START TRANSACTION READ ONLY"),
            Dialect::Sqlite => None,
        }
    }

    /// The type family of a column, from the type names the schema query returns.
    /// `full_type` is Postgres' `udt_name` or MySQL's `COLUMN_TYPE` (`tinyint(1)`).
    pub fn family(self, data_type: &str, full_type: &str) -> Option<TypeFamily> {
        let t = data_type.to_ascii_lowercase();
        match self {
            Dialect::Sqlite => sqlite_affinity_family(&t),
            Dialect::MySql if full_type.eq_ignore_ascii_case("tinyint(1)") => {
                Some(TypeFamily::Boolean)
            }
            // Type modifiers (`numeric(10,2)`, `varchar(20)`) do not change the family.
            Dialect::Postgres | Dialect::MySql => {
                let bare = t.split('(').next().unwrap_or(&t).trim();
                named_family(bare).or_else(|| named_family(&full_type.to_ascii_lowercase()))
            }
        }
    }

    /// Whether a declared family accepts an actual column. MySQL's BOOLEAN is TINYINT(1),
    /// which is also an integer.
    pub fn family_matches(
        self,
        declared: TypeFamily,
        actual: Option<TypeFamily>,
        full_type: &str,
    ) -> bool {
        actual == Some(declared)
            || (self == Dialect::MySql
                && declared == TypeFamily::Integer
                && full_type.eq_ignore_ascii_case("tinyint(1)"))
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

/// SQLite types are free text; follow its affinity rules (section 3.1 of "Datatypes In
/// SQLite"), refined for the names people write for dates, booleans and JSON.
fn sqlite_affinity_family(t: &str) -> Option<TypeFamily> {
    let base = t.split('(').next().unwrap_or(t).trim();
    let family = match base {
        "date" => TypeFamily::Date,
        "datetime" | "timestamp" => TypeFamily::Timestamp,
        "boolean" | "bool" => TypeFamily::Boolean,
        "json" => TypeFamily::Json,
        "decimal" | "numeric" => TypeFamily::Decimal,
        _ if t.contains("int") => TypeFamily::Integer,
        _ if t.contains("char") || t.contains("clob") || t.contains("text") => TypeFamily::Text,
        _ if t.contains("blob") => TypeFamily::Binary,
        _ if t.contains("real") || t.contains("floa") || t.contains("doub") => TypeFamily::Float,
        _ => return None,
    };
    Some(family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quote_character() {
        assert_eq!(Dialect::Postgres.ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(Dialect::Sqlite.ident("Order Items"), r#""Order Items""#);
        assert_eq!(Dialect::MySql.ident("a`b"), "`a``b`");
        assert_eq!(
            Dialect::MySql.ident(r#"x"; DROP TABLE t; --"#),
            r#"`x"; DROP TABLE t; --`"#
        );
    }

    #[test]
    fn text_literals_escape_quotes_and_backslashes() {
        assert_eq!(Dialect::Postgres.text_literal(r"it's \"), r"E'it''s \\'");
        assert_eq!(Dialect::MySql.text_literal(r"it's \"), r"'it''s \\'");
        assert_eq!(Dialect::Sqlite.text_literal(r"it's \"), r"'it''s \'");
    }

    #[test]
    fn numbers_keep_integers_integral() {
        assert_eq!(Dialect::Postgres.literal(&Literal::Number(5.0)), "5");
        assert_eq!(Dialect::Postgres.literal(&Literal::Number(2.5)), "2.5");
        assert_eq!(Dialect::MySql.literal(&Literal::Bool(true)), "1");
    }

    #[test]
    fn families_follow_each_warehouse() {
        assert_eq!(
            Dialect::Postgres.family("timestamp with time zone", "timestamptz"),
            Some(TypeFamily::Timestamp)
        );
        assert_eq!(
            Dialect::MySql.family("tinyint", "tinyint(1)"),
            Some(TypeFamily::Boolean)
        );
        assert!(Dialect::MySql.family_matches(
            TypeFamily::Integer,
            Some(TypeFamily::Boolean),
            "tinyint(1)"
        ));
        assert_eq!(
            Dialect::Sqlite.family("VARCHAR(20)", ""),
            Some(TypeFamily::Text)
        );
        assert_eq!(
            Dialect::Sqlite.family("DECIMAL(10,2)", ""),
            Some(TypeFamily::Decimal)
        );
        assert_eq!(
            Dialect::Sqlite.family("DATETIME", ""),
            Some(TypeFamily::Timestamp)
        );
        assert_eq!(
            Dialect::Sqlite.family("BIGINT", ""),
            Some(TypeFamily::Integer)
        );
        assert_eq!(Dialect::Sqlite.family("", ""), None);
    }

    #[test]
    fn dialect_comes_from_the_url_scheme() {
        assert_eq!(
            Dialect::from_url("postgresql://x/y"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::from_url("mariadb://x/y"), Some(Dialect::MySql));
        assert_eq!(Dialect::from_url("sqlite://demo.db"), Some(Dialect::Sqlite));
        assert_eq!(Dialect::from_url("oracle://x"), None);
    }
}
