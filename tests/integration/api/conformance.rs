//! Checking responses against the OpenAPI document: a response's body against the schema
//! of its operation and status, with undocumented fields reported.

use chrono::DateTime;
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use tidemark::web::Verb;

/// What is wrong with `body` as the documented response of `verb template` with `status`.
pub(super) fn conforms(
    doc: &Value,
    verb: Verb,
    template: &str,
    status: StatusCode,
    body: &Value,
) -> Vec<String> {
    let operation = &doc["paths"][template][verb.name()];
    let response = &operation["responses"][status.as_str()];
    if response.is_null() {
        return vec![format!("status {status} is not documented")];
    }
    let response = resolve(doc, response);
    let schema = &response["content"]["application/json"]["schema"];
    let mut problems = Vec::new();
    validate(doc, schema, body, "$", &mut problems);
    problems
}

fn resolve<'d>(doc: &'d Value, value: &'d Value) -> &'d Value {
    match value["$ref"].as_str() {
        Some(target) => {
            let target = doc
                .pointer(target.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling {target}"));
            resolve(doc, target)
        }
        None => value,
    }
}

/// A small JSON Schema check for what the document uses: `$ref`, `anyOf`, `type` (one or
/// several), `enum`, `format` (uuid, date-time), `properties` (an undocumented property is
/// a problem), `required` and `items`.
fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(branches) = schema["anyOf"].as_array() {
        let fits = branches.iter().any(|branch| {
            let mut inner = Vec::new();
            validate(doc, branch, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            problems.push(format!("{at}: {value} fits no branch of {schema}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
        problems.push(format!("{at}: {value} is not of type {types:?}"));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(text) = value.as_str() {
        let valid = match schema["format"].as_str() {
            Some("uuid") => Uuid::parse_str(text).is_ok(),
            Some("date-time") => DateTime::parse_from_rfc3339(text).is_ok(),
            _ => true,
        };
        if !valid {
            problems.push(format!("{at}: {text:?} is not a {}", schema["format"]));
        }
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for (key, item) in object {
            match properties.get(key) {
                Some(property) => validate(doc, property, item, &format!("{at}.{key}"), problems),
                None => problems.push(format!("{at}.{key}: not in the document")),
            }
        }
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !object.contains_key(key) {
                problems.push(format!("{at}.{key}: required but missing"));
            }
        }
    }
    if let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(doc, item_schema, item, &format!("{at}[{i}]"), problems);
        }
    }
}

fn has_type(value: &Value, ty: &str) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}
