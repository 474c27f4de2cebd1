//! Reading request parameters. Query strings are parsed by hand rather than through a
//! `Deserialize` struct so that every problem is a 400 naming the parameter: a value that
//! does not parse, one given twice, or one the endpoint does not know (a typo like `datset=`
//! must not silently return unfiltered data).

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::Uri;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;
use crate::store::Page;

/// The query string of a request, consumed parameter by parameter.
#[derive(Debug)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Params::from_uri(&parts.uri)
    }
}

impl Params {
    /// The page size when `limit` is not given.
    pub const DEFAULT_LIMIT: u32 = 100;

    pub fn from_uri(uri: &Uri) -> Result<Params, ApiError> {
        match Query::<Vec<(String, String)>>::try_from_uri(uri) {
            Ok(Query(pairs)) => Ok(Params { pairs }),
            Err(_) => Err(ApiError::bad_parameter("query", "not a valid query string")),
        }
    }

    /// The raw text of `name`, if given; given twice or empty is an error.
    pub fn text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut values = Vec::new();
        self.pairs.retain(|(key, value)| {
            let matched = key == name;
            if matched {
                values.push(value.clone());
            }
            !matched
        });
        match values.as_slice() {
            [] => Ok(None),
            [value] if value.is_empty() => Err(ApiError::bad_parameter(name, "must not be empty")),
            [value] => Ok(Some(value.clone())),
            _ => Err(ApiError::bad_parameter(name, "given more than once")),
        }
    }

    /// `name` parsed by `parse`; `expected` says what a valid value looks like.
    pub fn parsed<T>(
        &mut self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        parse(&text)
            .map(Some)
            .ok_or_else(|| ApiError::bad_parameter(name, format!("expected {expected}")))
    }

    /// An RFC 3339 timestamp.
    pub fn time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.parsed(
            name,
            "an RFC 3339 timestamp such as 2026-01-31T00:00:00Z",
            parse_time,
        )
    }

    pub fn uuid(&mut self, name: &str) -> Result<Option<Uuid>, ApiError> {
        self.parsed(name, "a UUID", |s| Uuid::parse_str(s).ok())
    }

    /// `limit` (1 to [`Page::MAX_LIMIT`], default [`Params::DEFAULT_LIMIT`]) and `before`
    /// (the `next` cursor of the previous page).
    pub fn page(&mut self) -> Result<Page, ApiError> {
        let max = Page::MAX_LIMIT;
        let limit = self
            .parsed("limit", &format!("a whole number from 1 to {max}"), |s| {
                s.parse::<u32>().ok().filter(|n| (1..=max).contains(n))
            })?
            .unwrap_or(Self::DEFAULT_LIMIT);
        let before = self.parsed("before", "the `next` cursor of the previous page", |s| {
            s.parse::<i64>().ok().filter(|n| *n > 0)
        })?;
        Ok(Page { limit, before })
    }

    /// Fails on the first parameter left over: one the endpoint does not take.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.into_iter().next() {
            None => Ok(()),
            Some((key, _)) => Err(ApiError::bad_parameter(
                &key,
                "unknown parameter for this endpoint",
            )),
        }
    }
}

/// RFC 3339. A `+` in an offset arrives as a space when the client did not encode it
/// (`?since=2026-01-31T00:00:00+02:00`), so a space is read back as `+`.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text.replace(' ', "+"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Path parameters, percent-decoded (dataset names may hold spaces and dots); a rejection is
/// a JSON 400 like every other error.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => {
                tracing::debug!(%rejection, "bad path parameters");
                Err(ApiError::bad_parameter(
                    "path",
                    "path segments must be percent-encoded UTF-8",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        let uri: Uri = format!("/?{query}")
            .parse()
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        Params::from_uri(&uri).unwrap_or_else(|e| panic!("{query}: {e}"))
    }

    fn parameter_of(error: ApiError) -> String {
        match error {
            ApiError::BadParameter { parameter, .. } => parameter,
            other => panic!("not a bad parameter: {other:?}"),
        }
    }

    #[test]
    fn values_are_percent_decoded() {
        let mut p = params("dataset=sales.daily%20orders&check=row_count");
        assert_eq!(
            p.text("dataset").ok().flatten().as_deref(),
            Some("sales.daily orders")
        );
        assert_eq!(p.text("check").ok().flatten().as_deref(), Some("row_count"));
        assert!(p.finish().is_ok());
    }

    #[test]
    fn paging_defaults_and_bounds() {
        let page = params("").page().ok();
        assert_eq!(
            page,
            Some(Page {
                limit: 100,
                before: None
            })
        );
        let page = params("limit=1000&before=42").page().ok();
        assert_eq!(
            page,
            Some(Page {
                limit: 1000,
                before: Some(42)
            })
        );
        for bad in ["limit=0", "limit=1001", "limit=-1", "limit=ten", "limit="] {
            let error = params(bad).page().err();
            assert_eq!(error.map(parameter_of).as_deref(), Some("limit"), "{bad}");
        }
        for bad in ["before=x", "before=0", "before=1.5"] {
            let error = params(bad).page().err();
            assert_eq!(error.map(parameter_of).as_deref(), Some("before"), "{bad}");
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let mut p = params("datset=x");
        assert!(matches!(p.text("dataset"), Ok(None)));
        assert_eq!(
            p.finish().err().map(parameter_of).as_deref(),
            Some("datset")
        );
        let mut p = params("dataset=a&dataset=b");
        assert_eq!(
            p.text("dataset").err().map(parameter_of).as_deref(),
            Some("dataset")
        );
    }

    #[test]
    fn times_are_rfc3339_with_an_unencoded_plus_forgiven() {
        let want = "2026-01-30T22:00:00Z".parse::<DateTime<Utc>>().ok();
        assert_eq!(
            params("since=2026-01-30T22:00:00Z")
                .time("since")
                .ok()
                .flatten(),
            want
        );
        assert_eq!(
            params("since=2026-01-31T00:00:00%2B02:00")
                .time("since")
                .ok()
                .flatten(),
            want
        );
        assert_eq!(
            params("since=2026-01-31T00:00:00+02:00")
                .time("since")
                .ok()
                .flatten(),
            want
        );
        let error = params("since=yesterday").time("since").err();
        assert_eq!(error.map(parameter_of).as_deref(), Some("since"));
    }
}
