//! A YAML node tree with a position on every node, built from the `saphyr-parser` event
//! stream. Serde-based loaders lose positions once a value is deserialised; validation here
//! walks this tree instead, so every later problem (an unknown warehouse, a bad cron) can
//! point at its line and column.
//!
//! Beyond plain parsing this module:
//! - reports duplicate keys (YAML forbids them; most loaders keep the last silently),
//! - resolves aliases by copying the anchored node, within a node budget so that a "billion
//!   laughs" file cannot exhaust memory, and bounds nesting so no later walk overflows a stack,
//! - keeps `${VAR}` placeholders parseable inside flow mappings (see [`mask_placeholders`]).

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// Most nodes a file may expand to, aliases included.
const MAX_NODES: usize = 100_000;
/// Deepest nesting accepted; check files need about six levels.
const MAX_DEPTH: usize = 64;

/// Stand-ins for `{` and `}` inside `${…}`; private-use characters never appear in real files.
const OPEN_MASK: char = '\u{E000}';
const CLOSE_MASK: char = '\u{E001}';

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: Span) -> Self {
        Self {
            line: span.start.line(),
            // saphyr counts columns from 0; editors and compilers count from 1.
            column: span.start.col() + 1,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub(crate) enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar as written. Its type (null, bool, number, string) is decided by the reader that
/// expects it, following the YAML 1.2 core schema: only plain scalars can be anything but text.
#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub text: String,
    /// Unquoted, untagged: `5` is a number, `"5"` and `!!str 5` are text.
    pub plain: bool,
}

impl Scalar {
    pub fn is_null(&self) -> bool {
        self.plain && matches!(self.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
    }
}

/// A mapping entry. Keys are always scalars: other keys are reported and dropped.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// What the node is, for "expected a list, found a mapping" messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Scalar(scalar) if scalar.is_null() => "nothing",
            Value::Scalar(_) => "a single value",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A problem found while parsing, positioned in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    pub pos: Pos,
    pub message: String,
}

/// The result of parsing one file: the tree (absent on a syntax error or an empty file) and
/// any problems. Duplicate keys are problems that still leave a usable tree.
#[derive(Debug)]
pub(crate) struct Document {
    pub root: Option<Node>,
    pub problems: Vec<Problem>,
}

pub(crate) fn parse(source: &str) -> Document {
    let masked = mask_placeholders(source);
    let mut builder = Builder::new(masked.is_some());
    let text = masked.as_deref().unwrap_or(source);
    for event in Parser::new_from_str(text) {
        let step = match event {
            Ok((event, span)) => builder.event(event, span),
            Err(error) => Err(Problem {
                pos: Pos {
                    line: error.marker().line(),
                    column: error.marker().col() + 1,
                },
                message: format!("invalid YAML: {}", error.info()),
            }),
        };
        if let Err(problem) = step {
            builder.problems.push(problem);
            return Document {
                root: None,
                problems: builder.problems,
            };
        }
    }
    Document {
        root: builder.root,
        problems: builder.problems,
    }
}

/// CHECKS.md writes `smtp: { url: ${SMTP_URL} }`, but inside a flow mapping `{` and `}` are
/// YAML syntax, so a plain parser rejects the line. Swapping the braces of each one-line
/// `${…}` for private-use characters makes it a plain scalar again; the swap is one character
/// for one, so every line and column stays exact, and [`Builder`] swaps them back. Files that
/// already contain those characters are left alone.
fn mask_placeholders(source: &str) -> Option<String> {
    if !source.contains("${") || source.contains([OPEN_MASK, CLOSE_MASK]) {
        return None;
    }
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start + 1]);
        let after = &rest[start + 2..];
        let line_end = after.find('\n').unwrap_or(after.len());
        match after[..line_end].find('}') {
            Some(close) => {
                out.push(OPEN_MASK);
                out.push_str(&after[..close]);
                out.push(CLOSE_MASK);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// A collection being built, with the node count and depth of what it holds so far.
struct Frame {
    pos: Pos,
    anchor: usize,
    size: usize,
    depth: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        key: PendingKey,
    },
}

enum PendingKey {
    None,
    Key(String, Pos),
    /// The key was not a scalar (reported); its value is dropped.
    Invalid,
}

/// A finished node with its node count and depth, for the alias budget.
struct Built {
    node: Node,
    size: usize,
    depth: usize,
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Built>,
    root: Option<Node>,
    documents: usize,
    nodes: usize,
    unmask: bool,
    problems: Vec<Problem>,
}

impl Builder {
    fn new(unmask: bool) -> Self {
        Self {
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            documents: 0,
            nodes: 0,
            unmask,
            problems: Vec::new(),
        }
    }

    /// Handles one event; an `Err` stops parsing (the rest of the file cannot be trusted).
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Problem> {
        let pos = Pos::of(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem {
                        pos,
                        message: "expected one YAML document per file; remove this '---' \
                                  and what follows, or move it to its own file"
                            .into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let scalar = Scalar {
                    text: self.unmasked(&text),
                    plain: style == ScalarStyle::Plain && !is_str_tag(tag.as_deref()),
                };
                self.count(1, pos)?;
                let node = Node {
                    pos,
                    value: Value::Scalar(scalar),
                };
                self.finish(
                    anchor,
                    Built {
                        node,
                        size: 1,
                        depth: 0,
                    },
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.open(pos, anchor, FrameKind::Seq(Vec::new()))?
            }
            Event::MappingStart(anchor, _) => {
                let kind = FrameKind::Map {
                    entries: Vec::new(),
                    key: PendingKey::None,
                };
                self.open(pos, anchor, kind)?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            Event::Alias(id) => self.alias(id, pos)?,
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }

    fn unmasked(&self, text: &str) -> String {
        if self.unmask {
            text.replace(OPEN_MASK, "{").replace(CLOSE_MASK, "}")
        } else {
            text.to_owned()
        }
    }

    fn open(&mut self, pos: Pos, anchor: usize, kind: FrameKind) -> Result<(), Problem> {
        self.count(1, pos)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(pos));
        }
        self.stack.push(Frame {
            pos,
            anchor,
            size: 1,
            depth: 1,
            kind,
        });
        Ok(())
    }

    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let value = match frame.kind {
            FrameKind::Seq(items) => Value::Seq(items),
            FrameKind::Map { entries, .. } => Value::Map(entries),
        };
        let node = Node {
            pos: frame.pos,
            value,
        };
        let built = Built {
            node,
            size: frame.size,
            depth: frame.depth,
        };
        self.finish(frame.anchor, built);
    }

    /// Copies an anchored node in place of `*alias`, charging its size to the budget. The
    /// copy keeps the anchor's positions: a problem inside it is in the text written there.
    fn alias(&mut self, id: usize, pos: Pos) -> Result<(), Problem> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(Problem {
                pos,
                message: "alias refers to an unknown anchor".into(),
            });
        };
        if self.stack.len() + anchored.depth > MAX_DEPTH {
            return Err(too_deep(pos));
        }
        let built = Built {
            node: anchored.node.clone(),
            size: anchored.size,
            depth: anchored.depth,
        };
        self.count(built.size, pos)?;
        self.finish(0, built);
        Ok(())
    }

    fn count(&mut self, nodes: usize, pos: Pos) -> Result<(), Problem> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(Problem {
                pos,
                message: format!(
                    "the file expands to more than {MAX_NODES} YAML nodes (are aliases nested?)"
                ),
            });
        }
        Ok(())
    }

    /// Records a finished node under its anchor and hands it to its parent.
    fn finish(&mut self, anchor: usize, built: Built) {
        if anchor != 0 {
            let copy = Built {
                node: built.node.clone(),
                ..built
            };
            self.anchors.insert(anchor, copy);
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(built.node);
            return;
        };
        parent.size += built.size;
        parent.depth = parent.depth.max(built.depth + 1);
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(built.node),
            FrameKind::Map { entries, key } => {
                let problem = add_to_map(entries, key, built.node);
                self.problems.extend(problem);
            }
        }
    }
}

/// A mapping receives alternately a key and its value.
fn add_to_map(entries: &mut Vec<Entry>, key: &mut PendingKey, node: Node) -> Option<Problem> {
    match std::mem::replace(key, PendingKey::None) {
        PendingKey::None => match node.value {
            Value::Scalar(scalar) => {
                *key = PendingKey::Key(scalar.text, node.pos);
                None
            }
            _ => {
                *key = PendingKey::Invalid;
                Some(Problem {
                    pos: node.pos,
                    message: "mapping keys must be plain names, not lists or mappings".into(),
                })
            }
        },
        PendingKey::Key(name, key_pos) => {
            if let Some(first) = entries.iter().find(|entry| entry.key == name) {
                return Some(Problem {
                    pos: key_pos,
                    message: format!(
                        "duplicate key '{name}' (first at line {}, column {})",
                        first.key_pos.line, first.key_pos.column
                    ),
                });
            }
            entries.push(Entry {
                key: name,
                key_pos,
                value: node,
            });
            None
        }
        PendingKey::Invalid => None,
    }
}

fn too_deep(pos: Pos) -> Problem {
    Problem {
        pos,
        message: format!("YAML nested more than {MAX_DEPTH} levels deep"),
    }
}

/// `!!str 5` is the string "5", like a quoted scalar.
fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|tag| tag.is_yaml_core_schema() && tag.suffix == "str")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(source: &str) -> Node {
        let document = parse(source);
        assert_eq!(document.problems, vec![]);
        document.root.expect("a root node")
    }

    fn entries(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    fn text(node: &Node) -> &str {
        &node.scalar().expect("a scalar").text
    }

    #[test]
    fn every_node_has_a_one_based_position() {
        let root = root("a: 1\nb:\n  - x\n  - {c: \"d\"}\n");
        let map = entries(&root);
        assert_eq!(map[0].key, "a");
        assert_eq!(map[0].key_pos, Pos { line: 1, column: 1 });
        assert_eq!(map[0].value.pos, Pos { line: 1, column: 4 });
        let Value::Seq(items) = &map[1].value.value else {
            panic!("expected a list");
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        assert_eq!(entries(&items[1])[0].value.pos, Pos { line: 4, column: 9 });
        assert!(!entries(&items[1])[0].value.scalar().expect("scalar").plain);
    }

    #[test]
    fn duplicate_keys_are_reported_and_the_first_kept() {
        let document = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(
            document.problems,
            vec![Problem {
                pos: Pos { line: 3, column: 1 },
                message: "duplicate key 'a' (first at line 1, column 1)".into(),
            }]
        );
        let root = document.root.expect("a tree despite the duplicate");
        assert_eq!(entries(&root).len(), 2);
        assert_eq!(text(&entries(&root)[0].value), "1");
    }

    #[test]
    fn syntax_errors_carry_the_parser_position() {
        let document = parse("a: [1, 2\nb: 3\n");
        assert!(document.root.is_none());
        assert_eq!(document.problems.len(), 1);
        assert!(document.problems[0].message.starts_with("invalid YAML: "));
        assert_eq!(document.problems[0].pos.line, 2);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let root = root("base: &b {min: 1}\ncopy: *b\n");
        assert_eq!(text(&entries(&entries(&root)[1].value)[0].value), "1");
    }

    #[test]
    fn alias_bombs_hit_the_budget() {
        let mut source = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, previous) in ["b", "c", "d", "e", "f", "g"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f"])
        {
            let refs = vec![format!("*{previous}"); 10].join(", ");
            source.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let document = parse(&source);
        assert!(document.root.is_none());
        assert!(
            document.problems[0]
                .message
                .contains("more than 100000 YAML nodes")
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let source = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let document = parse(&source);
        assert!(document.root.is_none());
        assert!(document.problems[0].message.contains("nested more than 64"));
    }

    #[test]
    fn placeholders_parse_inside_flow_mappings_and_keep_columns() {
        let root = root("smtp: { url: ${SMTP_URL}, from: a@b.c }\nx: \"${Y:-1}\"\n");
        let smtp = entries(&entries(&root)[0].value);
        assert_eq!(text(&smtp[0].value), "${SMTP_URL}");
        assert_eq!(
            smtp[1].key_pos,
            Pos {
                line: 1,
                column: 27
            }
        );
        assert_eq!(text(&entries(&root)[1].value), "${Y:-1}");
    }

    #[test]
    fn quoting_and_str_tags_make_text() {
        let root = root("a: 5\nb: '5'\nc: !!str 5\nd:\n");
        let map = entries(&root);
        let plain: Vec<bool> = map
            .iter()
            .map(|e| e.value.scalar().expect("scalar").plain)
            .collect();
        assert_eq!(plain, [true, false, false, true]);
        assert!(map[3].value.scalar().is_some_and(Scalar::is_null));
    }

    #[test]
    fn a_second_document_is_refused() {
        let document = parse("a: 1\n---\nb: 2\n");
        assert!(document.root.is_none());
        assert_eq!(document.problems[0].pos.line, 2);
    }

    #[test]
    fn empty_files_have_no_root() {
        let document = parse("# nothing here\n");
        assert!(document.root.is_none());
        assert!(document.problems.is_empty());
    }
}
