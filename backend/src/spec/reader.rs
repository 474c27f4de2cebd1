//! Typed reading of YAML nodes with diagnostics.
//!
//! Every reader reports what is wrong at the node's position, prefixed with the context
//! (`dataset analytics.orders, check row_count: `), and returns `None` so the caller can go
//! on: validation collects every problem in one pass instead of stopping at the first.
//! `${VAR}` substitution happens here, when a value is read, so its errors carry context too.

use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::env::{self, Env};
use super::user_sql::{self, Grammar};
use super::yaml::{Entry, Node, Pos, Value};
use super::{Diagnostic, Literal, Location, duration, suggest};

/// Where diagnostics go, and what they are about.
pub(crate) struct Cx<'a> {
    file: Arc<PathBuf>,
    prefix: String,
    env: Env<'a>,
    /// The grammar user SQL read here is checked in ([`Cx::user_query`]); `None` when the
    /// warehouse is unknown or broken (reported elsewhere).
    grammar: Option<Grammar>,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl<'a> Cx<'a> {
    pub fn new(file: Arc<PathBuf>, env: Env<'a>, diagnostics: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            file,
            prefix: String::new(),
            env,
            grammar: None,
            diagnostics,
        }
    }

    /// A context for a part of the file: its messages start with `context: `.
    pub fn scoped(&mut self, context: &str) -> Cx<'_> {
        Cx {
            file: Arc::clone(&self.file),
            prefix: format!("{context}: "),
            env: self.env,
            grammar: self.grammar,
            diagnostics: self.diagnostics,
        }
    }

    pub fn set_grammar(&mut self, grammar: Option<Grammar>) {
        self.grammar = grammar;
    }

    /// A `sql_metric` query, refused unless it is one read-only query (see [`user_sql`]).
    pub fn user_query(&mut self, node: &Node, key: &str) -> Option<String> {
        self.user_sql(node, key, "query", user_sql::check_query)
    }

    /// A `filter`, refused unless it is one expression (see [`user_sql`]).
    pub fn user_filter(&mut self, node: &Node, key: &str) -> Option<String> {
        self.user_sql(node, key, "filter", user_sql::check_filter)
    }

    fn user_sql(
        &mut self,
        node: &Node,
        key: &str,
        what: &str,
        check: fn(Grammar, &str) -> Result<(), user_sql::Refusal>,
    ) -> Option<String> {
        let sql = self.string(node, key)?;
        let Some(grammar) = self.grammar else {
            return Some(sql);
        };
        match check(grammar, &sql) {
            Ok(()) => Some(sql),
            Err(refusal) => {
                let place = refusal.place(what);
                self.error(node.pos, format!("'{key}': {refusal}{place}"));
                None
            }
        }
    }

    pub fn location(&self, pos: Pos) -> Location {
        Location {
            file: Arc::clone(&self.file),
            line: pos.line,
            column: pos.column,
        }
    }

    pub fn error(&mut self, pos: Pos, message: impl Display) {
        let diagnostic = Diagnostic {
            location: Some(self.location(pos)),
            message: format!("{}{message}", self.prefix),
        };
        self.diagnostics.push(diagnostic);
    }

    /// Reports an unknown key, suggesting the closest allowed one.
    pub fn unknown_key(&mut self, entry: &Entry, allowed: &[&str]) {
        let hint = suggest::hint(
            &entry.key,
            allowed,
            "expected one of",
            "no keys are allowed",
        );
        self.error(entry.key_pos, format!("unknown key '{}'{hint}", entry.key));
    }

    /// Reads a mapping, reporting keys outside `allowed`. Nothing (`key:` with no value) reads
    /// as an empty mapping: `anomaly:` alone means "all defaults".
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let fields = self.mapping(node, key)?;
        for entry in fields.entries {
            if !allowed.contains(&entry.key.as_str()) {
                self.unknown_key(entry, allowed);
            }
        }
        Some(fields)
    }

    /// Reads a mapping without judging its keys (the caller has its own rules for them).
    pub fn mapping<'n>(&mut self, node: &'n Node, key: &str) -> Option<Fields<'n>> {
        match &node.value {
            Value::Map(entries) => Some(Fields {
                pos: node.pos,
                entries,
            }),
            Value::Scalar(scalar) if scalar.is_null() => Some(Fields {
                pos: node.pos,
                entries: &[],
            }),
            _ => {
                self.expected(node, key, "a mapping");
                None
            }
        }
    }

    pub fn list<'n>(&mut self, node: &'n Node, key: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.expected(node, key, "a list");
                None
            }
        }
    }

    /// A scalar read as text, after `${VAR}` substitution.
    pub fn text(&mut self, node: &Node, key: &str) -> Option<Text> {
        let scalar = match &node.value {
            Value::Scalar(scalar) if !scalar.is_null() => scalar,
            _ => {
                self.expected(node, key, "a value");
                return None;
            }
        };
        match env::substitute(&scalar.text, self.env) {
            Ok(substituted) => Some(Text {
                value: substituted.text,
                from_env: substituted.from_env,
                plain: scalar.plain,
            }),
            Err(errors) => {
                for error in errors {
                    self.error(node.pos, format!("'{key}': {error}"));
                }
                None
            }
        }
    }

    pub fn string(&mut self, node: &Node, key: &str) -> Option<String> {
        self.text(node, key).map(|text| text.value)
    }

    /// A list of text values, at least one.
    pub fn strings(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let items = self.list(node, key)?;
        if items.is_empty() {
            self.error(node.pos, format!("'{key}' must not be empty"));
            return None;
        }
        let values: Vec<Option<String>> = items.iter().map(|item| self.string(item, key)).collect();
        values.into_iter().collect()
    }

    /// A list of strings that may be empty (tags, upstream).
    pub fn optional_strings(&mut self, node: &Node, key: &str) -> Option<Vec<String>> {
        let items = self.list(node, key)?;
        let values: Vec<Option<String>> = items.iter().map(|item| self.string(item, key)).collect();
        values.into_iter().collect()
    }

    /// A finite number written as an unquoted YAML number.
    pub fn number(&mut self, node: &Node, key: &str) -> Option<f64> {
        let text = self.text(node, key)?;
        match text.number() {
            Some(number) => Some(number),
            None => {
                let found = text.shown();
                self.error(
                    node.pos,
                    format!("expected a number for '{key}', found {found}"),
                );
                None
            }
        }
    }

    /// A whole number in `range` (inclusive).
    pub fn whole(
        &mut self,
        node: &Node,
        key: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<u32> {
        let number = self.number(node, key)?;
        let (min, max) = (*range.start(), *range.end());
        if number.fract() != 0.0 || number < f64::from(min) || number > f64::from(max) {
            let wanted = if max == u32::MAX {
                format!("at least {min}")
            } else {
                format!("from {min} to {max}")
            };
            self.error(
                node.pos,
                format!("'{key}' must be a whole number {wanted}, found {number}"),
            );
            return None;
        }
        // The range check above makes the conversion exact.
        Some(number as u32)
    }

    pub fn duration(&mut self, node: &Node, key: &str) -> Option<Duration> {
        let text = self.text(node, key)?;
        match duration::parse(&text.value) {
            Ok(duration) => Some(duration),
            Err(error) => {
                let shown = text.shown();
                self.error(
                    node.pos,
                    format!("invalid duration {shown} for '{key}': {error}"),
                );
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub fn boolean(&mut self, node: &Node, key: &str) -> Option<bool> {
        let text = self.text(node, key)?;
        match text.value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                let shown = text.shown();
                self.error(
                    node.pos,
                    format!("'{key}' must be true or false, found {shown}"),
                );
                None
            }
        }
    }

    pub fn choice(
        &mut self,
        node: &Node,
        key: &str,
        options: &[&'static str],
    ) -> Option<&'static str> {
        let text = self.text(node, key)?;
        if let Some(option) = options.iter().find(|option| **option == text.value) {
            return Some(option);
        }
        let shown = text.shown();
        let hint = match suggest::closest(&text.value, options) {
            Some(candidate) => format!("did you mean '{candidate}'?"),
            None => format!("expected one of: {}", options.join(", ")),
        };
        self.error(
            node.pos,
            format!("invalid value {shown} for '{key}' ({hint})"),
        );
        None
    }

    /// A 5-field cron expression, validated by croner (whose message is passed on).
    pub fn cron(&mut self, node: &Node, key: &str) -> Option<String> {
        let text = self.text(node, key)?;
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .year(croner::parser::Year::Disallowed)
            .build();
        match parser.parse(&text.value) {
            Ok(_) => Some(text.value),
            Err(error) => {
                let shown = text.shown();
                self.error(
                    node.pos,
                    format!(
                        "invalid cron expression {shown} for '{key}': {error} \
                         (expected 5 fields: minute hour day-of-month month day-of-week)"
                    ),
                );
                None
            }
        }
    }

    pub fn timezone(&mut self, node: &Node, key: &str) -> Option<chrono_tz::Tz> {
        let text = self.text(node, key)?;
        if let Ok(timezone) = text.value.parse::<chrono_tz::Tz>() {
            return Some(timezone);
        }
        let hint = timezone_hint(&text.value);
        let shown = text.shown();
        self.error(node.pos, format!("unknown timezone {shown}{hint}"));
        None
    }

    /// A string, number or boolean compared against warehouse values.
    pub fn literal(&mut self, node: &Node, key: &str) -> Option<Literal> {
        let text = self.text(node, key)?;
        if let Some(number) = text.number() {
            return Some(Literal::Number(number));
        }
        Some(match (text.plain, text.value.as_str()) {
            (true, "true" | "True" | "TRUE") => Literal::Bool(true),
            (true, "false" | "False" | "FALSE") => Literal::Bool(false),
            _ => Literal::Text(text.value),
        })
    }

    /// A non-empty list of literals.
    pub fn literals(&mut self, node: &Node, key: &str) -> Option<Vec<Literal>> {
        let items = self.list(node, key)?;
        if items.is_empty() {
            self.error(node.pos, format!("'{key}' must not be empty"));
            return None;
        }
        let values: Vec<Option<Literal>> =
            items.iter().map(|item| self.literal(item, key)).collect();
        values.into_iter().collect()
    }

    fn expected(&mut self, node: &Node, key: &str, what: &str) {
        let found = node.describe();
        self.error(
            node.pos,
            format!("expected {what} for '{key}', found {found}"),
        );
    }
}

/// The hint after an unknown timezone: the closest IANA name, or an example.
pub(crate) fn timezone_hint(name: &str) -> String {
    let names: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    match suggest::closest(name, &names) {
        Some(candidate) => format!(" (did you mean '{candidate}'?)"),
        None => " (use an IANA name such as UTC or Europe/Berlin)".to_owned(),
    }
}

/// A scalar's text after substitution.
pub(crate) struct Text {
    pub value: String,
    pub from_env: bool,
    pub plain: bool,
}

impl Text {
    /// The value quoted for a message, unless it came from the environment (it may be secret).
    pub fn shown(&self) -> String {
        if self.from_env {
            "(a value from the environment)".to_owned()
        } else {
            format!("'{}'", self.value)
        }
    }

    /// The number an unquoted scalar spells (YAML 1.2 core schema, decimal only), if finite.
    pub fn number(&self) -> Option<f64> {
        let looks_numeric = self.plain
            && self.value.chars().any(|c| c.is_ascii_digit())
            && self
                .value
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'));
        let number: f64 = self.value.parse().ok().filter(|_| looks_numeric)?;
        number.is_finite().then_some(number)
    }
}

/// A mapping's entries with its position, for lookups and "missing key" reports.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'n> {
    pub pos: Pos,
    pub entries: &'n [Entry],
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entry(key).map(|entry| &entry.value)
    }

    pub fn entry(&self, key: &str) -> Option<&'n Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }

    /// The value of a required key, or a "missing required key" diagnostic at the mapping,
    /// unless a misspelling of the key is there: its "did you mean" says it all.
    pub fn require(&self, cx: &mut Cx<'_>, key: &str) -> Option<&'n Node> {
        let value = self.get(key);
        let misspelt = || {
            self.entries
                .iter()
                .any(|entry| suggest::closest(&entry.key, &[key]).is_some())
        };
        if value.is_none() && !misspelt() {
            cx.error(self.pos, format!("missing required key '{key}'"));
        }
        value
    }

    /// Reads an optional key with `read` (e.g. `Cx::number`): `Some(None)` when the key is
    /// absent, `None` when its value was wrong (already reported).
    pub fn read<'c, T>(
        &self,
        cx: &mut Cx<'c>,
        key: &str,
        read: impl FnOnce(&mut Cx<'c>, &'n Node, &str) -> Option<T>,
    ) -> Option<Option<T>> {
        optional(self.get(key).map(|node| read(cx, node, key)))
    }
}

/// For optional keys: turns "absent, or read" into `Some(value or none)`, and a failed read
/// (already reported) into `None`.
pub(crate) fn optional<T>(read: Option<Option<T>>) -> Option<Option<T>> {
    match read {
        None => Some(None),
        Some(value) => value.map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: &str, plain: bool) -> Option<f64> {
        Text {
            value: value.to_owned(),
            from_env: false,
            plain,
        }
        .number()
    }

    #[test]
    fn plain_decimal_numbers_only() {
        assert_eq!(number("0", true), Some(0.0));
        assert_eq!(number("-1.5", true), Some(-1.5));
        assert_eq!(number("1e3", true), Some(1_000.0));
        assert_eq!(number(".5", true), Some(0.5));
        assert_eq!(number("5", false), None);
        assert_eq!(number("inf", true), None);
        assert_eq!(number(".nan", true), None);
        assert_eq!(number("0x10", true), None);
        assert_eq!(number("1e999", true), None);
        assert_eq!(number("1-2", true), None);
    }

    #[test]
    fn values_from_the_environment_are_not_shown() {
        let text = Text {
            value: "hunter2".to_owned(),
            from_env: true,
            plain: true,
        };
        assert_eq!(text.shown(), "(a value from the environment)");
    }
}
