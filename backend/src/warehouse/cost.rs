//! What queries cost: how long the engine took to answer, and what it read where it says
//! (rows and bytes scanned: Spark's scan metrics, Postgres' per-transaction table counts). The engine layer wraps a query, or a
//! dataset's whole run, in [`costed`]; [`super::Warehouse`] adds each query's time and the
//! engine adds its scans with [`record_scan`] to the innermost one, which passes its total
//! on to the one around it when it ends. Nothing is recorded outside a [`costed`] scope.

use std::cell::Cell;
use std::time::Duration;

use serde::Serialize;

/// A query's (or a run's) cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Rows the engine read from its tables or files, where it reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_scanned: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_scanned: Option<u64>,
    /// How long the engine took to answer, as Tidemark waited for it.
    pub seconds: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;

    fn add(self, other: Cost) -> Cost {
        let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        Cost {
            rows_scanned: sum(self.rows_scanned, other.rows_scanned),
            bytes_scanned: sum(self.bytes_scanned, other.bytes_scanned),
            seconds: self.seconds + other.seconds,
        }
    }
}

impl Cost {
    /// "scanned 10,000,000 rows, 84.2 MB; 1.52s in the warehouse".
    pub fn describe(&self) -> String {
        let mut read = Vec::new();
        if let Some(rows) = self.rows_scanned {
            read.push(format!("{} rows", grouped(rows)));
        }
        if let Some(bytes) = self.bytes_scanned {
            read.push(format!("{:.1} MB", bytes as f64 / 1e6));
        }
        let time = format!("{:.2}s in the warehouse", self.seconds);
        match read.is_empty() {
            true => time,
            false => format!("scanned {}; {time}", read.join(", ")),
        }
    }
}

/// 10000000 → "10,000,000".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

tokio::task_local! {
    static CURRENT: Cell<Cost>;
}

/// Runs `work`, returning what its queries cost (and adding it to the scope around it).
pub async fn costed<T>(work: impl Future<Output = T>) -> (T, Cost) {
    let (value, cost) = CURRENT
        .scope(Cell::new(Cost::default()), async {
            let value = work.await;
            (value, CURRENT.with(Cell::get))
        })
        .await;
    add(cost);
    (value, cost)
}

fn add(cost: Cost) {
    // Outside every scope there is nothing to add to.
    let _ = CURRENT.try_with(|current| current.set(current.get() + cost));
}

/// A query's time, from [`super::Warehouse`].
pub(super) fn record_time(elapsed: Duration) {
    add(Cost {
        seconds: elapsed.as_secs_f64(),
        ..Cost::default()
    });
}

/// What a query read, from an engine that says.
pub(super) fn record_scan(rows: Option<u64>, bytes: Option<u64>) {
    add(Cost {
        rows_scanned: rows,
        bytes_scanned: bytes,
        seconds: 0.0,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn inner_costs_add_up_in_the_scope_around_them() {
        let ((_, inner), outer) = costed(async {
            record_time(Duration::from_secs(1));
            costed(async { record_time(Duration::from_secs(2)) }).await
        })
        .await;
        assert_eq!(inner.seconds, 2.0);
        assert_eq!(outer.seconds, 3.0);
        assert_eq!(outer.rows_scanned, None);
    }

    #[test]
    fn costs_read_for_people() {
        let cost = Cost {
            rows_scanned: Some(10_000_000),
            bytes_scanned: Some(84_200_000),
            seconds: 1.523,
        };
        assert_eq!(
            cost.describe(),
            "scanned 10,000,000 rows, 84.2 MB; 1.52s in the warehouse"
        );
    }
}
