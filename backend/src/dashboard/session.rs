//! Signing in to the dashboard, and keeping forms from being posted by other sites.
//!
//! A browser signs in with an API token (`tidemark token create`) at `/signin`; the server
//! answers with a random session id in the `tidemark_session` cookie and keeps only the
//! id's SHA-256 in the store, so any replica sharing the store knows the session. A session
//! lasts [`SESSION_HOURS`] and ends with its token, or at `POST /signout`.
//!
//! # For pages and action forms (the API other pages build on)
//!
//! - Take a [`Viewer`] as a handler argument (an extractor on the dashboard's state): who
//!   is looking. Pass it to `Dashboard::respond(&viewer, page)`; every page's template then
//!   sees `viewer.signed_in` and `viewer.csrf`.
//! - In a template, show an action form only to signed-in viewers, with the hidden field:
//!   `{{#if viewer.signed_in}}<form method="post" action="…"><input type="hidden"
//!   name="csrf" value="{{viewer.csrf}}">…</form>{{/if}}`
//! - In the POST handler, take the form as `Result<Form<T>, FormRejection>` with
//!   `#[serde(default)] csrf: String` in `T` (so a missing field is a 403, not a 422), and
//!   call [`Viewer::check`] with it before doing anything: its `Err` is the page to answer
//!   with (`Dashboard::fail(&viewer, error)`): 401 without a session, 403 with a wrong or
//!   missing csrf or a foreign `Origin`. Then act and answer with a 303 redirect
//!   ([`see_other`]) back to the page (POST-redirect-GET).

use axum::extract::rejection::{FormRejection, QueryRejection};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Form, RequestPartsExt};
use chrono::{TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Dashboard, PageError};
use crate::web::auth::{hex, token_hash};

/// The cookie holding the session id.
const COOKIE: &str = "tidemark_session";
/// How long a session lasts; signing in again starts a new one.
const SESSION_HOURS: i64 = 12;

/// Who is looking at a page. An extractor: the session cookie looked up in the store once
/// per request. Serialized into every page as `viewer` (`signed_in`, `csrf`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Viewer {
    pub signed_in: bool,
    /// The name of the API token the viewer signed in with: who acts, in incident timelines.
    pub name: Option<String>,
    /// What POST forms carry in their hidden `csrf` field; empty when signed out.
    pub csrf: String,
    /// The session id of a signed-in viewer, to sign out.
    #[serde(skip)]
    session: Option<String>,
    /// No `Origin` header, or one naming this host: a form posted from another site has
    /// the other site's origin.
    #[serde(skip)]
    same_origin: bool,
    /// The request came over https (to the proxy in front): the cookie is then `Secure`.
    #[serde(skip)]
    https: bool,
}

impl Viewer {
    /// Whether a posted form may act: `Ok` with who acts for a signed-in viewer whose form
    /// carries the session's csrf value and does not come from another origin. The error is
    /// the page to answer with: 401 (sign in) without a session, 403 otherwise.
    pub fn check(&self, posted_csrf: &str) -> Result<&str, PageError> {
        if !self.same_origin {
            return Err(PageError::Forbidden(
                "This form was sent from another site, so it was not accepted.".into(),
            ));
        }
        if !self.signed_in {
            return Err(PageError::SignIn);
        }
        if !constant_time_eq(self.csrf.as_bytes(), posted_csrf.as_bytes()) {
            return Err(PageError::Forbidden(
                "This form has expired or was not sent from this dashboard. Reload the page \
                 and try again."
                    .into(),
            ));
        }
        Ok(self.name.as_deref().unwrap_or_default())
    }

    /// The viewer of a request: signed in when its cookie names a live session.
    async fn of(parts: &Parts, dashboard: &Dashboard) -> Result<Viewer, PageError> {
        let headers = &parts.headers;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| *peer);
        let proxied = dashboard.state.trusted_proxies.trust(peer);
        let mut viewer = Viewer {
            same_origin: same_origin(headers, proxied),
            https: proxied && over_https(headers),
            ..Viewer::default()
        };
        let Some(session) = session_cookie(headers) else {
            return Ok(viewer);
        };
        let store = &dashboard.state.store;
        let owner = store
            .session_owner(&sha256_hex(session), Utc::now())
            .await?;
        if let Some(name) = owner {
            viewer.signed_in = true;
            viewer.name = Some(name);
            viewer.csrf = csrf_token(session);
            viewer.session = Some(session.to_owned());
        }
        Ok(viewer)
    }
}

impl FromRequestParts<Dashboard> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        dashboard: &Dashboard,
    ) -> Result<Self, Self::Rejection> {
        // The reading check may have looked the viewer up already.
        if let Some(viewer) = parts.extensions.get::<Viewer>() {
            return Ok(viewer.clone());
        }
        let viewer = Viewer::of(parts, dashboard)
            .await
            .map_err(|error| dashboard.fail(&Viewer::default(), error))?;
        parts.extensions.insert(viewer.clone());
        Ok(viewer)
    }
}

/// The viewer of a request, for middleware (the extractor, with the same caching).
pub(super) async fn viewer_of(
    parts: &mut Parts,
    dashboard: &Dashboard,
) -> Result<Viewer, Response> {
    parts.extract_with_state::<Viewer, _>(dashboard).await
}

/// A 303 redirect: where a POST sends the browser to read the result with a GET.
pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response(),
    }
}

/// Where to send a browser that must sign in before reading `path_and_query`.
pub(super) fn sign_in_first(path_and_query: &str) -> Response {
    see_other(&format!("/signin?next={}", percent_encode(path_and_query)))
}

/// The sign-in page's data.
#[derive(Serialize)]
struct SignInPage<'a> {
    title: &'static str,
    next: &'a str,
    /// Why the last attempt failed; never the token itself.
    problem: Option<&'static str>,
    /// How long a session lasts.
    hours: i64,
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// `GET /signin?next=`
pub(super) async fn sign_in_form(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    query: Result<Query<NextQuery>, QueryRejection>,
) -> Response {
    let next = query.ok().and_then(|Query(q)| q.next);
    let page = SignInPage {
        title: "Sign in",
        next: local_path(next.as_deref()),
        problem: None,
        hours: SESSION_HOURS,
    };
    dashboard.respond(&viewer, Ok(("signin", page)))
}

#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    next: String,
}

/// `POST /signin` (form: `token`, `next`): a valid token starts a session and goes on to
/// `next`; anything else shows the form again with a 401.
pub(super) async fn sign_in(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    // Another site could otherwise sign a browser in with the other site's token.
    if !viewer.same_origin {
        return dashboard.fail(
            &viewer,
            PageError::Forbidden("Sign in from this dashboard.".into()),
        );
    }
    let Ok(Form(form)) = form else {
        return refuse(&dashboard, &viewer, "/", "The sign-in form was incomplete.");
    };
    let next = local_path(Some(&form.next));
    let token = form.token.trim();
    let hash = token_hash(token);
    let valid = match dashboard.state.store.token_name(&hash).await {
        Ok(name) => name.is_some() && !token.is_empty(),
        Err(error) => return dashboard.fail(&viewer, error.into()),
    };
    if !valid {
        return refuse(
            &dashboard,
            &viewer,
            next,
            "That token is not valid. Tokens are made with `tidemark token create`.",
        );
    }
    match start_session(&dashboard, &hash).await {
        Ok(session) => {
            let mut response = see_other(next);
            set_cookie(&mut response, &session_cookie_value(&session, viewer.https));
            response
        }
        Err(error) => dashboard.fail(&viewer, error),
    }
}

/// The sign-in form again, saying why (401).
fn refuse(dashboard: &Dashboard, viewer: &Viewer, next: &str, problem: &'static str) -> Response {
    let page = SignInPage {
        title: "Sign in",
        next,
        problem: Some(problem),
        hours: SESSION_HOURS,
    };
    let mut response = dashboard.respond(viewer, Ok(("signin", page)));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
}

/// A new session for the token with hash `token_hash`; returns its id (for the cookie).
async fn start_session(dashboard: &Dashboard, token_hash: &str) -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        tracing::error!("dashboard: no randomness for a session id: {e}");
        PageError::Failed(StatusCode::INTERNAL_SERVER_ERROR)
    })?;
    let session = hex(&bytes);
    let expires = Utc::now() + TimeDelta::hours(SESSION_HOURS);
    dashboard
        .state
        .store
        .create_session(&sha256_hex(&session), token_hash, expires)
        .await?;
    Ok(session)
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /signout` (form: `csrf`): ends the session and clears the cookie.
pub(super) async fn sign_out(
    State(dashboard): State<Dashboard>,
    viewer: Viewer,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Err(error) = viewer.check(&csrf) {
        return dashboard.fail(&viewer, error);
    }
    if let Some(session) = &viewer.session
        && let Err(error) = dashboard
            .state
            .store
            .delete_session(&sha256_hex(session))
            .await
    {
        return dashboard.fail(&viewer, error.into());
    }
    let mut response = see_other("/");
    set_cookie(&mut response, &cleared_cookie_value(viewer.https));
    response
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

/// The `Set-Cookie` value of a new session: not readable by scripts, never sent along with
/// requests from other sites, sent only over https when the browser came over https.
fn session_cookie_value(session: &str, https: bool) -> String {
    let max_age = SESSION_HOURS * 3600;
    cookie_value(session, max_age, https)
}

/// The `Set-Cookie` value that makes the browser forget the session.
fn cleared_cookie_value(https: bool) -> String {
    cookie_value("", 0, https)
}

fn cookie_value(value: &str, max_age: i64, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// The session id of the request's cookie, if it has the shape of one (64 hex digits).
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The csrf value of a session: derived from the secret session id, so nothing more is
/// stored, and another site (which cannot read the cookie) cannot know it.
fn csrf_token(session: &str) -> String {
    sha256_hex(&format!("csrf:{session}"))
}

fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// Compares without stopping at the first difference, so the time taken does not tell an
/// attacker how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the `Origin` header, if any, names the host the request was sent to: the `Host`
/// header, or, when the request came through a trusted proxy (`proxied`), the host it says
/// the browser asked for (`X-Forwarded-Host`; a form on another site can set neither).
fn same_origin(headers: &HeaderMap, proxied: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some((_, origin_host)) = origin.to_str().ok().and_then(|o| o.split_once("://")) else {
        return false;
    };
    let forwarded = if proxied { "x-forwarded-host" } else { "" };
    [header::HOST.as_str(), forwarded]
        .into_iter()
        .filter(|name| !name.is_empty())
        .filter_map(|name| headers.get(name)?.to_str().ok())
        .any(|host| host.trim().eq_ignore_ascii_case(origin_host))
}

/// Whether the proxy in front says the browser came over https.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// `next` if it is a path on this server, else `/`: a link to `/signin?next=https://evil`
/// must not send a freshly signed-in browser elsewhere. `//host` and `/\host` are other
/// hosts to browsers.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path
        }
        _ => "/",
    }
}

/// Percent-encodes everything but unreserved characters, for a query parameter's value.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn csrf_is_derived_from_the_session_and_compared_exactly() {
        let a = csrf_token(&"a".repeat(64));
        assert_eq!(a, sha256_hex(&format!("csrf:{}", "a".repeat(64))));
        assert_ne!(a, csrf_token(&"b".repeat(64)));
        assert!(constant_time_eq(a.as_bytes(), a.as_bytes()));
        assert!(!constant_time_eq(a.as_bytes(), &a.as_bytes()[1..]));
        assert!(!constant_time_eq(a.as_bytes(), b""));
    }

    #[test]
    fn checks_refuse_without_session_csrf_or_origin() {
        let signed_in = Viewer {
            signed_in: true,
            name: Some("ana".into()),
            csrf: "c".repeat(64),
            session: None,
            same_origin: true,
            https: false,
        };
        assert_eq!(signed_in.check(&"c".repeat(64)).ok(), Some("ana"));
        assert!(matches!(signed_in.check(""), Err(PageError::Forbidden(_))));
        assert!(matches!(signed_in.check("x"), Err(PageError::Forbidden(_))));
        let foreign = Viewer {
            same_origin: false,
            ..signed_in.clone()
        };
        assert!(matches!(
            foreign.check(&"c".repeat(64)),
            Err(PageError::Forbidden(_))
        ));
        let signed_out = Viewer {
            same_origin: true,
            ..Viewer::default()
        };
        assert!(matches!(signed_out.check(""), Err(PageError::SignIn)));
    }

    #[test]
    fn next_must_be_a_local_path() {
        assert_eq!(local_path(Some("/datasets/a?x=1")), "/datasets/a?x=1");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "x",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(local_path(None), "/");
        assert_eq!(percent_encode("/a b?x=1&y"), "/a%20b%3Fx%3D1%26y");
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_over_https() {
        let plain = session_cookie_value("abc", false);
        assert_eq!(
            plain,
            "tidemark_session=abc; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(session_cookie_value("abc", true).ends_with("; Secure"));
        assert!(cleared_cookie_value(false).starts_with("tidemark_session=; Max-Age=0;"));
        assert!(over_https(&headers(&[("x-forwarded-proto", "https")])));
        assert!(!over_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!over_https(&HeaderMap::new()));
    }

    #[test]
    fn session_cookies_are_found_among_others() {
        let id = "0123456789abcdef".repeat(4);
        let with = |cookie: String| {
            let mut map = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                map.insert(header::COOKIE, value);
            }
            session_cookie(&map).map(str::to_owned)
        };
        assert_eq!(
            with(format!("a=b; tidemark_session={id}")),
            Some(id.clone())
        );
        assert_eq!(with("tidemark_session=short".into()), None);
        assert_eq!(with("other=1".into()), None);
    }

    #[test]
    fn origins_must_name_this_host() {
        assert!(same_origin(&headers(&[("host", "localhost:8080")]), false));
        let with = |origin| {
            same_origin(
                &headers(&[("host", "localhost:8080"), ("origin", origin)]),
                false,
            )
        };
        assert!(with("http://localhost:8080"));
        assert!(!with("http://evil.example"));
        assert!(!with("null"));
        let proxied = headers(&[
            ("host", "127.0.0.1:8321"),
            ("x-forwarded-host", "tidemark.example"),
            ("origin", "https://tidemark.example"),
        ]);
        assert!(same_origin(&proxied, true));
        // From a peer that is not a trusted proxy, the forwarded host is anyone's claim.
        assert!(!same_origin(&proxied, false));
    }
}
