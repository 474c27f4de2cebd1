//! The dashboard as a browser without JavaScript uses it, over plain HTTP: pages read,
//! forms posted with the csrf value parsed from the page, the session cookie kept by hand
//! (so each test says exactly what is sent) and redirects looked at, not followed.

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::Value;

use crate::support::{ServeProcess, Served};

/// A browser without a cookie jar: redirects are looked at, not followed, and the cookie
/// is sent by hand, so each test says exactly what the browser sends.
pub struct Visitor {
    http: reqwest::Client,
    pub server: ServeProcess,
    cookie: Option<String>,
}

/// What the server answered.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// `key=value&…` with the values percent-encoded, as a browser posts a form.
fn form_body(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Visitor {
    pub fn new(server: ServeProcess) -> Visitor {
        // reqwest has no TLS crypto provider of its own: building a client without one
        // installed panics, even for plain HTTP.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Visitor {
            http,
            server,
            cookie: None,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let request = match &self.cookie {
            Some(cookie) => request.header(header::COOKIE, cookie),
            None => request,
        };
        let reply = request.send().await.expect("the server answers");
        Reply {
            status: reply.status(),
            headers: reply.headers().clone(),
            body: reply.text().await.expect("a body"),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.server.url(path))).await
    }

    /// Posts a form; `extra` headers as a proxy or another site would add them.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)], extra: &[(&str, &str)]) -> Reply {
        let mut request = self
            .http
            .post(self.server.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(fields));
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// Signs in with `token`, going on to `next`; keeps the session cookie.
    pub async fn sign_in(&mut self, token: &str, next: &str) -> Reply {
        let reply = self
            .post("/signin", &[("token", token), ("next", next)], &[])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        let set = reply.header(header::SET_COOKIE);
        let pair = set.split(';').next().unwrap_or_default();
        assert!(pair.starts_with("tidemark_session="), "{set}");
        self.cookie = Some(pair.to_owned());
        reply
    }

    /// The incident as the API shows it.
    pub async fn api_incident(&self, id: i64) -> Value {
        let reply = self.get(&format!("/api/v1/incidents/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_str(&reply.body).expect("JSON")
    }
}

/// The csrf value of the first form of a page, as a browser would post it back.
pub fn csrf_of(page: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = page.find(marker).map(|i| i + marker.len());
    let value = start.and_then(|s| page[s..].split('"').next());
    let value = value.unwrap_or_else(|| panic!("no csrf field in:\n{page}"));
    assert_eq!(value.len(), 64, "{value}");
    value.to_owned()
}
