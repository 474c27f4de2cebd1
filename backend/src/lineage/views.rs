//! The tables a view reads, from its definition parsed in the warehouse's own dialect
//! (sqlparser gives a syntax tree, no name resolution). Names inside `WITH` are the query's
//! own (CTEs) and are left out; table functions (`generate_series(…)`) are not tables.
//! Unqualified names get the warehouse's default schema, so that a view's own name (which
//! the catalog always qualifies) and a reference to it from another view are one node.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, TableFactor, Visit, Visitor};
use sqlparser::dialect::Dialect as SqlDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::warehouse::{Dialect, View};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot read view {view}: {reason}")]
pub struct ViewError {
    pub view: String,
    pub reason: String,
}

/// The tables a view of a warehouse reads, by qualified name, sorted.
pub fn view_tables(
    view: &View,
    dialect: Dialect,
    default_schema: &str,
) -> Result<Vec<String>, ViewError> {
    tables_read(&view.sql, dialect, default_schema).map_err(|reason| ViewError {
        view: view.qualified_name(),
        reason,
    })
}

/// The tables `sql` reads, each as `schema.table` (unqualified names get `default_schema`;
/// names with a catalog keep it), sorted and without repeats. Postgres folds unquoted names
/// to lower case, and so does this on Postgres.
fn tables_read(sql: &str, dialect: Dialect, default_schema: &str) -> Result<Vec<String>, String> {
    let parser = parser_dialect(dialect);
    let sql = if dialect == Dialect::MYSQL {
        bang_as_not(parser.as_ref(), sql)?
    } else {
        sql.to_owned()
    };
    let statements =
        Parser::parse_sql(parser.as_ref(), &sql).map_err(|e| unparsable(dialect, e))?;
    let mut relations = Relations {
        fold_case: dialect == Dialect::POSTGRES,
        ..Relations::default()
    };
    // The visitor never breaks.
    let _ = statements.visit(&mut relations);
    Ok(relations
        .tables
        .iter()
        .filter(|name| !(name.len() == 1 && relations.ctes.contains(&name[0])))
        .map(|name| match name.as_slice() {
            [table] => format!("{default_schema}.{table}"),
            parts => parts.join("."),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// MariaDB keeps `NOT (…)` in view definitions as `!(…)`, which sqlparser's MySQL dialect
/// does not read: each `!` token becomes `NOT` (tokens, so `!` in strings and `!=` stay).
fn bang_as_not(parser: &dyn SqlDialect, sql: &str) -> Result<String, String> {
    let tokens = Tokenizer::new(parser, sql)
        .tokenize()
        .map_err(|e| unparsable(Dialect::MYSQL, e))?;
    if !tokens.contains(&Token::ExclamationMark) {
        return Ok(sql.to_owned());
    }
    Ok(tokens
        .iter()
        .map(|token| match token {
            Token::ExclamationMark => " NOT ".to_owned(),
            other => other.to_string(),
        })
        .collect())
}

fn unparsable(dialect: Dialect, error: impl std::fmt::Display) -> String {
    format!(
        "the definition does not parse as {} SQL: {error}",
        dialect.name()
    )
}

fn parser_dialect(dialect: Dialect) -> Box<dyn SqlDialect> {
    dialect.grammar().parser()
}

/// Table names in `FROM` and `JOIN` anywhere (subqueries, set operations, CTE bodies), and
/// the names CTEs introduce.
#[derive(Default)]
struct Relations {
    tables: Vec<Vec<String>>,
    ctes: BTreeSet<String>,
    /// Unquoted names are lower-cased (Postgres).
    fold_case: bool,
}

impl Relations {
    fn text(&self, ident: &Ident) -> String {
        if self.fold_case && ident.quote_style.is_none() {
            ident.value.to_lowercase()
        } else {
            ident.value.clone()
        }
    }

    /// The parts of a plain name; `None` for a computed one.
    fn parts(&self, name: &ObjectName) -> Option<Vec<String>> {
        name.0
            .iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(self.text(ident)),
                ObjectNamePart::Function(_) => None,
            })
            .collect()
    }
}

impl Visitor for Relations {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        for cte in query.with.iter().flat_map(|with| &with.cte_tables) {
            let name = self.text(&cte.alias.name);
            self.ctes.insert(name);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name, args: None, ..
        } = factor
            && let Some(parts) = self.parts(name)
        {
            self.tables.push(parts);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str, dialect: Dialect) -> Vec<String> {
        tables_read(sql, dialect, "public").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn joins_subqueries_and_unions_are_read_and_ctes_are_not_tables() {
        let sql = r#"
            WITH recent AS (SELECT * FROM sales.orders WHERE placed_at > now() - interval '1 day'),
                 big AS (SELECT * FROM recent WHERE amount > 100)
            SELECT c.name, b.amount
            FROM big b
            JOIN "Shop"."Customers" c ON c.id = b.customer_id
            LEFT JOIN (SELECT id FROM Refunds) r ON r.id = b.id
            WHERE b.region IN (SELECT region FROM sales.regions)
            UNION ALL
            SELECT name, 0 FROM archive.customers_2019, generate_series(1, 3)
        "#;
        assert_eq!(
            read(sql, Dialect::POSTGRES),
            [
                "Shop.Customers",
                "archive.customers_2019",
                "public.refunds",
                "sales.orders",
                "sales.regions",
            ]
        );
    }

    #[test]
    fn postgres_catalog_output_parses() {
        // pg_get_viewdef's own spelling: parenthesised joins, casts, a trailing semicolon.
        let sql = " SELECT o.id,\n    c.name\n   FROM (orders o\n     JOIN analytics.customers c \
                   ON ((c.id = o.customer_id)))\n  WHERE ((o.status)::text <> 'test'::text);";
        assert_eq!(
            read(sql, Dialect::POSTGRES),
            ["analytics.customers", "public.orders"]
        );
    }

    #[test]
    fn mysql_backquotes_keep_case_and_sqlite_reads_create_view() {
        let sql = "select `shop`.`o`.`id` AS `id` from (`shop`.`Orders` `o` join `shop`.`items` \
                   `i` on(`i`.`order_id` = `o`.`id`)) where `o`.`id` in (select `order_id` from \
                   `shop`.`refunds`)";
        assert_eq!(
            read(sql, Dialect::MYSQL),
            ["shop.Orders", "shop.items", "shop.refunds"]
        );
        // MariaDB's spelling of NOT; a `!` in a string or `!=` is left alone.
        let sql = "select `a`.`id` AS `id` from `shop`.`a` where !(`a`.`id` in (select \
                   `b`.`id` from `shop`.`b` where `b`.`note` <> 'hi!' and `b`.`x` != 1))";
        assert_eq!(read(sql, Dialect::MYSQL), ["shop.a", "shop.b"]);
        let sql = "CREATE VIEW v AS WITH t AS (SELECT 1) SELECT * FROM t, [Order Lines], main.x";
        assert_eq!(
            tables_read(sql, Dialect::SQLITE, "main").ok(),
            Some(vec!["main.Order Lines".to_owned(), "main.x".to_owned()])
        );
    }

    #[test]
    fn malformed_definitions_are_errors_naming_the_view() {
        let view = View {
            schema: "public".into(),
            name: "broken".into(),
            sql: "SELECT FROM WHERE (".into(),
        };
        let error = view_tables(&view, Dialect::POSTGRES, "public").err();
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with(
                "cannot read view public.broken: the definition does not parse as postgres SQL:"
            ),
            "{message}"
        );
    }
}
