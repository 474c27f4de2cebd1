//! Reading the JSON documents other tools write (OpenLineage events, dbt manifests) field by
//! field, so that a document that does not fit says which field, where (`inputs[2].name`),
//! rather than failing somewhere deep inside a derive.

use serde_json::{Map, Value};

/// A JSON value and the path that led to it.
#[derive(Clone, Copy)]
pub struct At<'a, 'p> {
    pub value: &'a Value,
    pub path: &'p str,
}

impl<'a, 'p> At<'a, 'p> {
    pub fn root(value: &'a Value) -> Self {
        At { value, path: "" }
    }

    pub fn object(self) -> Result<&'a Map<String, Value>, String> {
        self.value
            .as_object()
            .ok_or_else(|| format!("{} must be an object", self.name()))
    }

    /// The field's value, if present and not null.
    pub fn get(self, key: &str) -> Result<Option<&'a Value>, String> {
        Ok(self.object()?.get(key).filter(|v| !v.is_null()))
    }

    /// A string field that must be there and not be empty.
    pub fn text(self, key: &str) -> Result<&'a str, String> {
        match self.get(key)? {
            None => Err(format!("{} is missing", self.child(key))),
            Some(value) => value
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("{} must be a non-empty string", self.child(key))),
        }
    }

    /// A string field that may be absent (or null).
    pub fn optional_text(self, key: &str) -> Result<Option<&'a str>, String> {
        match self.get(key)? {
            None => Ok(None),
            Some(value) => value
                .as_str()
                .map(Some)
                .ok_or_else(|| format!("{} must be a string", self.child(key))),
        }
    }

    /// An array field, empty when absent.
    pub fn array(self, key: &str) -> Result<&'a [Value], String> {
        match self.get(key)? {
            None => Ok(&[]),
            Some(value) => value
                .as_array()
                .map(Vec::as_slice)
                .ok_or_else(|| format!("{} must be an array", self.child(key))),
        }
    }

    /// The field's path below this one, for messages.
    pub fn child(self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn name(self) -> &'p str {
        if self.path.is_empty() {
            "the document"
        } else {
            self.path
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn problems_name_the_field() {
        let doc = json!({ "job": { "name": "" }, "inputs": {}, "n": 1 });
        let root = At::root(&doc);
        let job = At {
            value: &doc["job"],
            path: "job",
        };
        assert_eq!(
            job.text("name"),
            Err("job.name must be a non-empty string".into())
        );
        assert_eq!(
            job.text("namespace"),
            Err("job.namespace is missing".into())
        );
        assert_eq!(root.array("inputs"), Err("inputs must be an array".into()));
        assert_eq!(root.array("outputs").map(<[Value]>::len), Ok(0));
        assert_eq!(root.optional_text("n"), Err("n must be a string".into()));
        let list = json!([1]);
        assert_eq!(
            At::root(&list).text("x"),
            Err("the document must be an object".into())
        );
    }
}
