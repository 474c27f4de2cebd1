//! API tokens: made by `tidemark token create`, stored only as their SHA-256, presented as
//! `Authorization: Bearer <token>`. Writing always needs one; reading does when the server
//! is started that way ([`AppState::read_needs_token`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;

/// Marks Tidemark tokens, so that secret scanners and people can recognise a leaked one.
pub const TOKEN_PREFIX: &str = "tm_";

/// A new token: the prefix and 32 random bytes in hex.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

/// What the store keeps of a token: its SHA-256 in lowercase hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Bytes in lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who made an authenticated request: the name its API token was created with. The token
/// middleware puts it in the request's extensions; incident timelines record it.
#[derive(Clone, Debug)]
pub struct Actor(pub String);

/// The actor of a request that carries a token the store knows.
async fn authorize(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    let given = headers.contains_key(header::AUTHORIZATION);
    let Some(token) = bearer(headers) else {
        return Err(ApiError::Unauthorized { given });
    };
    match state.store.token_name(&token_hash(token)).await? {
        Some(name) => Ok(Actor(name)),
        None => Err(ApiError::Unauthorized { given: true }),
    }
}

/// Middleware for write endpoints: always needs a token.
pub async fn require_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match authorize(&state, request.headers()).await {
        Ok(actor) => {
            request.extensions_mut().insert(actor);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// Middleware for read endpoints: needs a token only when the server says so.
pub async fn require_read_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !state.read_needs_token {
        return next.run(request).await;
    }
    require_token(State(state), request, next).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_are_prefixed_random_hex() {
        let (Ok(a), Ok(b)) = (new_token(), new_token()) else {
            panic!("no randomness");
        };
        assert_ne!(a, b);
        assert!(a.starts_with("tm_"));
        assert_eq!(a.len(), 3 + 64);
        assert!(a[3..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            bearer(&headers).map(str::to_owned)
        };
        assert_eq!(with("Bearer tm_abc").as_deref(), Some("tm_abc"));
        assert_eq!(with("bearer  tm_abc ").as_deref(), Some("tm_abc"));
        assert_eq!(with("Basic dXNlcjpwdw=="), None);
        assert_eq!(with("Bearer "), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
