//! Placeholder: the postgres store is being written.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;

pub struct PgStore;

impl PgStore {
    pub async fn connect(_url: &str) -> Result<Self, StoreError> {
        Err(StoreError::Unavailable("not built yet".into()))
    }
}

fn missing<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable("not built yet".into()))
}

impl StoreApi for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        missing()
    }
    async fn start_run(&self, _: &NewRun) -> Result<Claim, StoreError> {
        missing()
    }
    async fn heartbeat(&self, _: Uuid, _: DateTime<Utc>) -> Result<(), StoreError> {
        missing()
    }
    async fn finish_run(&self, _: &FinishedRun) -> Result<(), StoreError> {
        missing()
    }
    async fn expire_leases(&self, _: DateTime<Utc>) -> Result<Vec<Run>, StoreError> {
        missing()
    }
    async fn run(&self, _: Uuid) -> Result<Run, StoreError> {
        missing()
    }
    async fn runs(&self, _: &RunFilter, _: Page) -> Result<Paged<Run>, StoreError> {
        missing()
    }
    async fn results(&self, _: &ResultFilter, _: Page) -> Result<Paged<StoredResult>, StoreError> {
        missing()
    }
    async fn latest_results(&self) -> Result<Vec<StoredResult>, StoreError> {
        missing()
    }
    async fn metric_series(
        &self,
        _: &str,
        _: &str,
        _: Option<DateTime<Utc>>,
    ) -> Result<Vec<MetricPoint>, StoreError> {
        missing()
    }
    async fn latest_snapshot(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<SchemaSnapshot>, StoreError> {
        missing()
    }
    async fn schema_history(&self, _: &str) -> Result<Vec<SchemaSnapshot>, StoreError> {
        missing()
    }
    async fn last_slot(&self, _: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        missing()
    }
    async fn create_token(&self, _: &str, _: &str) -> Result<(), StoreError> {
        missing()
    }
    async fn token_valid(&self, _: &str) -> Result<bool, StoreError> {
        missing()
    }
    async fn prune(&self, _: DateTime<Utc>, _: Retention) -> Result<Pruned, StoreError> {
        missing()
    }
}
