//! The one error type of the API and how it becomes a response: a fitting status and
//! `{"error": {"code": "...", "message": "..."}}`. Store failures are logged here and answered
//! with a generic message, so no internals (SQL, hosts, paths) reach a client.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query or path parameter that could not be used; `parameter` names it.
    #[error("invalid parameter {parameter}: {message}")]
    BadParameter { parameter: String, message: String },
    /// A request body that could not be used (a malformed OpenLineage event).
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    /// No bearer token, or one the store does not know.
    #[error("{}", if *.given { "the bearer token is not valid" } else { "this endpoint needs a bearer token (Authorization: Bearer <token>)" })]
    Unauthorized { given: bool },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The scheduler declined to start a run (already running, shutting down, …).
    #[error("{0}")]
    RunRefused(String),
    /// The action does not fit the thing's state (resolving a resolved incident).
    #[error("{0}")]
    Conflict(String),
    /// `POST /reload` found problems; each is `path:line:col: message`.
    #[error("the configuration has {} problem(s); the running configuration is unchanged", .0.len())]
    InvalidConfiguration(Vec<String>),
    /// The scheduler did not take or answer a command.
    #[error("the scheduler is not available")]
    SchedulerUnavailable,
    #[error("the store is not available")]
    StoreUnavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
    pub fn bad_parameter(parameter: &str, message: impl Into<String>) -> Self {
        ApiError::BadParameter {
            parameter: parameter.to_owned(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } | ApiError::InvalidBody(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RunRefused(_) | ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::InvalidConfiguration(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::SchedulerUnavailable | ApiError::StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code (documented in the OpenAPI document).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadParameter { .. } => "invalid_parameter",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::RunRefused(_) => "run_refused",
            ApiError::Conflict(_) => "conflict",
            ApiError::InvalidConfiguration(_) => "invalid_configuration",
            ApiError::SchedulerUnavailable | ApiError::StoreUnavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Every code [`ApiError::code`] can return, for the OpenAPI document.
    pub const CODES: [&'static str; 10] = [
        "invalid_parameter",
        "invalid_body",
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "run_refused",
        "conflict",
        "invalid_configuration",
        "unavailable",
        "internal",
    ];

    fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), self.code().into());
        error.insert("message".into(), self.to_string().into());
        match self {
            ApiError::BadParameter { parameter, .. } => {
                error.insert("parameter".into(), parameter.as_str().into());
            }
            ApiError::InvalidConfiguration(diagnostics) => {
                error.insert("diagnostics".into(), json!(diagnostics));
            }
            _ => {}
        }
        json!({ "error": error })
    }
}

impl From<StoreError> for ApiError {
    /// For reads whose "not found" the handler has already ruled out; handlers that look one
    /// thing up map [`StoreError::NotFound`] themselves, naming the thing.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ApiError::StoreUnavailable(error),
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            _ => ApiError::Internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::StoreUnavailable(source) => {
                tracing::warn!(error = %source, "API request failed: store unavailable");
            }
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "API request failed");
            }
            _ => {}
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        if let ApiError::Unauthorized { given } = self {
            // RFC 6750 §3: the challenge, and why a given token was refused.
            let challenge = if given {
                r#"Bearer realm="tidemark", error="invalid_token""#
            } else {
                r#"Bearer realm="tidemark""#
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_keep_their_details_out_of_the_body() {
        let error = ApiError::from(StoreError::Query(
            "relation runs does not exist at postgres://u:pw@db/x".into(),
        ));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = error.body().to_string();
        assert!(!body.contains("pw@db"), "{body}");
        assert_eq!(
            error.body(),
            json!({"error": {"code": "internal", "message": "internal error"}})
        );
        let unavailable = ApiError::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!unavailable.body().to_string().contains("refused"));
    }

    #[test]
    fn bad_parameters_are_named() {
        let error = ApiError::bad_parameter("limit", "must be between 1 and 1000");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error.body()["error"]["parameter"], "limit");
        assert_eq!(
            error.body()["error"]["message"],
            "invalid parameter limit: must be between 1 and 1000"
        );
    }

    #[test]
    fn unauthorized_carries_the_bearer_challenge() {
        let response = ApiError::Unauthorized { given: true }.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE].to_str().ok();
        assert_eq!(
            challenge,
            Some(r#"Bearer realm="tidemark", error="invalid_token""#)
        );
    }

    #[test]
    fn every_code_is_listed() {
        let all = [
            ApiError::bad_parameter("x", "y"),
            ApiError::InvalidBody("x".into()),
            ApiError::Unauthorized { given: false },
            ApiError::NotFound("x".into()),
            ApiError::MethodNotAllowed,
            ApiError::RunRefused("x".into()),
            ApiError::Conflict("x".into()),
            ApiError::InvalidConfiguration(vec![]),
            ApiError::SchedulerUnavailable,
            ApiError::Internal(StoreError::NotFound),
        ];
        for error in all {
            assert!(ApiError::CODES.contains(&error.code()), "{}", error.code());
        }
    }
}
