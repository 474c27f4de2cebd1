//! `tidemark token create`: a new API token for `tidemark serve`. The token is printed once
//! on stdout; the store keeps only its SHA-256, so a lost token is replaced, not recovered.

use std::path::Path;

use crate::web::auth;

use super::{EXIT_ERROR, Format, load, open_store};

pub async fn create(dir: &Path, name: &str) -> u8 {
    let project = match load(dir, Format::Human) {
        Ok(project) => project,
        Err(code) => return code,
    };
    let store = match open_store(&project).await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let token = match auth::new_token() {
        Ok(token) => token,
        Err(e) => {
            eprintln!("error: no randomness for a token: {e}");
            return EXIT_ERROR;
        }
    };
    if let Err(e) = store.create_token(name, &auth::token_hash(&token)).await {
        eprintln!("error: cannot store the token: {e}");
        return EXIT_ERROR;
    }
    println!("{token}");
    eprintln!(
        "Created API token {name:?}. Keep it now: only its hash is stored, so it cannot be shown again."
    );
    0
}
