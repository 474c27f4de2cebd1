//! Dataset names: `schema.table` or `table`, written as the warehouse spells them.
//!
//! The name is split at the first dot, so the table part may hold spaces or further dots
//! (`heldout.Order Items`). A part that starts with a double quote is read up to its closing
//! quote, with `""` standing for one quote, so a schema may itself contain a dot
//! (`"my.schema"."Order Items"`). Parts are kept verbatim; the dialect quotes them later.

use super::TableRef;

impl TableRef {
    /// Parses a dataset name; the error says what is wrong without repeating the name.
    pub fn parse(name: &str) -> Result<TableRef, String> {
        let (first, rest) = leading_part(name)?;
        Ok(match rest {
            None => TableRef {
                schema: None,
                table: first,
                files: None,
            },
            Some(rest) => TableRef {
                schema: Some(first),
                table: last_part(rest)?,
                files: None,
            },
        })
    }
}

/// The part before the first dot (or the whole name), and the text after that dot.
fn leading_part(text: &str) -> Result<(String, Option<&str>), String> {
    let (value, rest) = match text.strip_prefix('"') {
        Some(quoted) => unquote(quoted)?,
        None => match text.split_once('.') {
            Some((value, rest)) => (value.to_owned(), Some(rest)),
            None => (text.to_owned(), None),
        },
    };
    if value.is_empty() {
        return Err(match rest {
            Some(_) => "the schema name before the dot is empty".to_owned(),
            None => "the name is empty".to_owned(),
        });
    }
    Ok((value, rest))
}

/// The table after the schema's dot: the rest verbatim, or one quoted part ending the name.
fn last_part(text: &str) -> Result<String, String> {
    let value = match text.strip_prefix('"') {
        Some(quoted) => match unquote(quoted)? {
            (value, None) => value,
            (_, Some(_)) => {
                return Err("expected the name to end after the quoted table name".to_owned());
            }
        },
        None => text.to_owned(),
    };
    if value.is_empty() {
        return Err("the table name after the dot is empty".to_owned());
    }
    Ok(value)
}

/// Reads a quoted part after its opening quote (`""` is one quote); what follows the closing
/// quote must be a dot, returned as the text after it, or the end of the name.
fn unquote(text: &str) -> Result<(String, Option<&str>), String> {
    let mut value = String::new();
    let mut rest = text;
    loop {
        let Some(quote) = rest.find('"') else {
            return Err("a quoted name is missing its closing quote".to_owned());
        };
        value.push_str(&rest[..quote]);
        let after = &rest[quote + 1..];
        if let Some(escaped) = after.strip_prefix('"') {
            value.push('"');
            rest = escaped;
            continue;
        }
        if after.is_empty() {
            return Ok((value, None));
        }
        return match after.strip_prefix('.') {
            Some(after_dot) => Ok((value, Some(after_dot))),
            None => Err("expected '.' or the end of the name after a closing quote".to_owned()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, table: &str) -> Result<TableRef, String> {
        Ok(TableRef {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
            files: None,
        })
    }

    #[test]
    fn plain_names() {
        assert_eq!(TableRef::parse("orders"), table(None, "orders"));
        assert_eq!(
            TableRef::parse("analytics.orders"),
            table(Some("analytics"), "orders")
        );
    }

    #[test]
    fn the_table_part_is_kept_verbatim() {
        assert_eq!(
            TableRef::parse("heldout.Order Items"),
            table(Some("heldout"), "Order Items")
        );
        assert_eq!(TableRef::parse("a.b.c"), table(Some("a"), "b.c"));
    }

    #[test]
    fn quoted_parts() {
        assert_eq!(
            TableRef::parse(r#""my.schema"."Order Items""#),
            table(Some("my.schema"), "Order Items")
        );
        assert_eq!(TableRef::parse(r#""a.b""#), table(None, "a.b"));
        assert_eq!(
            TableRef::parse(r#""we""ird".t"#),
            table(Some(r#"we"ird"#), "t")
        );
        assert_eq!(TableRef::parse(r#"s."x""y""#), table(Some("s"), r#"x"y"#));
    }

    #[test]
    fn malformed_names() {
        let error = |text: &str| TableRef::parse(text).expect_err(text);
        assert_eq!(error(""), "the name is empty");
        assert_eq!(error(".orders"), "the schema name before the dot is empty");
        assert_eq!(error("analytics."), "the table name after the dot is empty");
        assert_eq!(
            error(r#""abc"#),
            "a quoted name is missing its closing quote"
        );
        assert_eq!(
            error(r#""a"b.c"#),
            "expected '.' or the end of the name after a closing quote"
        );
        assert_eq!(
            error(r#"a."b".c"#),
            "expected the name to end after the quoted table name"
        );
        assert_eq!(error(r#""""#), "the name is empty");
    }
}
