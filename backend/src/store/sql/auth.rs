//! API tokens (hashes only) and dashboard sessions.

use super::*;

sql_area! {
    impl Auth {
        async fn create_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
            sqlx::query("INSERT INTO api_tokens (name, hash, created_at) VALUES ($1, $2, $3)")
                .bind(name)
                .bind(hash)
                .bind(DB::time(Utc::now()))
                .execute(self.writer())
                .await?;
            Ok(())
        }

        async fn token_name(&self, hash: &str) -> Result<Option<String>, StoreError> {
            let row = sqlx::query("SELECT name FROM api_tokens WHERE hash = $1")
                .bind(hash)
                .fetch_optional(self.reader())
                .await?;
            row.map(|row| row.text("name")).transpose()
        }

        async fn create_session(
            &self,
            id_hash: &str,
            token_hash: &str,
            expires_at: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            let now = Utc::now();
            let mut tx = DB::begin_write(self.writer()).await?;
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(DB::time(now))
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (id_hash, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id_hash)
            .bind(token_hash)
            .bind(DB::time(now))
            .bind(DB::time(expires_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn session_owner(
            &self,
            id_hash: &str,
            now: DateTime<Utc>,
        ) -> Result<Option<String>, StoreError> {
            // The join: a session whose token is gone is no session.
            let row = sqlx::query(
                "SELECT t.name FROM sessions s JOIN api_tokens t ON t.hash = s.token_hash \
                 WHERE s.id_hash = $1 AND s.expires_at > $2",
            )
            .bind(id_hash)
            .bind(DB::time(now))
            .fetch_optional(self.reader())
            .await?;
            row.map(|row| row.text("name")).transpose()
        }

        async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .execute(self.writer())
                .await?;
            Ok(())
        }
    }
}
