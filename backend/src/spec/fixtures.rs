//! Model values for unit tests elsewhere in the crate: a check or a dataset with every
//! optional part empty, for tests to adjust with struct update syntax.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Check, CheckKind, Dataset, Location, TableRef, Thresholds};

pub fn location() -> Location {
    Location {
        file: Arc::new(PathBuf::from("t.yml")),
        line: 1,
        column: 1,
    }
}

/// A check named after its kind, with no thresholds.
pub fn check(kind: CheckKind) -> Check {
    Check {
        name: kind.keyword().to_string(),
        kind,
        thresholds: Thresholds::default(),
        filter: None,
        severity: None,
        description: None,
        location: location(),
    }
}

/// The dataset `shop.orders` on warehouse `main`.
pub fn dataset(checks: Vec<Check>) -> Dataset {
    Dataset {
        name: "shop.orders".into(),
        table: TableRef {
            schema: Some("shop".into()),
            table: "orders".into(),
            files: None,
        },
        warehouse: "main".into(),
        owner: None,
        schedule: None,
        timezone: None,
        tags: vec![],
        upstream: vec![],
        filter: None,
        sla: None,
        partition: None,
        checks,
        location: location(),
    }
}
