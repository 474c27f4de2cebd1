//! The server's warehouse connections: one [`Warehouses`] per configured warehouse, connected
//! at start (and on reload), shared by every run of that warehouse's datasets.
//!
//! `Warehouses` remembers a warehouse that could not be reached, so that a batch does not
//! retry it dataset by dataset. A server lives longer than a batch: a warehouse that was
//! down when the server started must be usable once it is back. So a failed connection is
//! tried again when a run needs it, at most every [`RECONNECT_AFTER`]; runs of other
//! warehouses are not held up. (A warehouse that goes away *after* connecting needs nothing
//! here: its pool opens new connections by itself.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Mutex;

use crate::engine::Warehouses;
use crate::spec::{Dataset, Project};

/// How long a failed connection is trusted before a run tries connecting again.
pub const RECONNECT_AFTER: Duration = Duration::from_secs(5);

pub struct Connections {
    project: Arc<Project>,
    by_warehouse: BTreeMap<String, Mutex<Connection>>,
}

struct Connection {
    warehouses: Arc<Warehouses>,
    attempted: Instant,
}

impl Connections {
    /// Connects every warehouse that a dataset of the project uses, concurrently.
    pub async fn connect(project: Arc<Project>) -> Connections {
        let mut first_dataset: BTreeMap<&str, &Dataset> = BTreeMap::new();
        for dataset in &project.datasets {
            first_dataset.entry(&dataset.warehouse).or_insert(dataset);
        }
        let connecting = first_dataset.into_iter().map(|(name, dataset)| {
            let project = &project;
            async move {
                let warehouses = Warehouses::connect(project, &[dataset]).await;
                if let Err(reason) = warehouses.get(name) {
                    tracing::warn!(warehouse = name, "{reason}; retrying when a run needs it");
                }
                let connection = Connection {
                    warehouses: Arc::new(warehouses),
                    attempted: Instant::now(),
                };
                (name.to_owned(), Mutex::new(connection))
            }
        });
        let by_warehouse = join_all(connecting).await.into_iter().collect();
        Connections {
            project,
            by_warehouse,
        }
    }

    /// The connection for a dataset's run, reconnecting first if the last attempt failed
    /// more than [`RECONNECT_AFTER`] ago. Runs that arrive while one reconnects wait for its
    /// outcome instead of connecting too.
    pub async fn for_dataset(&self, dataset: &Dataset) -> Arc<Warehouses> {
        let Some(connection) = self.by_warehouse.get(&dataset.warehouse) else {
            // Not a warehouse of this configuration: the run errors, saying so.
            return Arc::new(Warehouses::connect(&self.project, &[]).await);
        };
        let mut connection = connection.lock().await;
        let failed = connection.warehouses.get(&dataset.warehouse).is_err();
        if failed && connection.attempted.elapsed() >= RECONNECT_AFTER {
            let warehouses = Warehouses::connect(&self.project, &[dataset]).await;
            match warehouses.get(&dataset.warehouse) {
                Ok(_) => tracing::info!(warehouse = %dataset.warehouse, "reconnected"),
                Err(reason) => tracing::warn!(warehouse = %dataset.warehouse, "{reason}"),
            }
            connection.warehouses = Arc::new(warehouses);
            connection.attempted = Instant::now();
        }
        Arc::clone(&connection.warehouses)
    }

    /// Closes every pool; runs still holding one see their queries fail.
    pub async fn close(&self) {
        for connection in self.by_warehouse.values() {
            connection.lock().await.warehouses.close().await;
        }
    }
}
