//! A last guard for the rule that secrets never leave the process: free text that goes out
//! (API answers, dashboard pages, delivery errors kept in the store, logs) has every secret
//! of the project replaced with `***`: the store, warehouse, SMTP and webhook URLs, and each
//! part of them that is a secret on its own (a password, a webhook's path tokens, query
//! values), since a receiver's error page may echo a part without the whole. The engine
//! already keeps secrets out of its messages; this catches what slips through, such as a
//! driver echoing a connection string.

use super::{Channel, Project};

pub const MASK: &str = "***";

/// Secrets shorter than this are not searched for: masking every `a` of a message because a
/// password is `a` would ruin the message and reveal the password anyway.
const MIN_SECRET_LEN: usize = 4;

pub struct Redactor {
    /// Longest first, so a URL is masked whole before its password is looked for.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(project: &Project) -> Self {
        let urls = project
            .store
            .iter()
            .chain(project.warehouses.values().map(|w| &w.url))
            .chain(project.smtp.iter().map(|s| &s.url))
            .chain(project.channels.values().filter_map(|c| match c {
                Channel::Slack { webhook_url } => Some(webhook_url),
                Channel::Email { .. } | Channel::Inbox => None,
            }))
            .chain(
                project
                    .lineage
                    .emit
                    .iter()
                    .flat_map(|emit| std::iter::once(&emit.url).chain(emit.api_key.as_ref())),
            )
            .map(|secret| secret.expose());
        Redactor::of(urls)
    }

    /// A redactor for the given secrets (URLs or plain tokens) and their parts.
    pub fn of<'s>(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        let mut parts = Vec::new();
        for secret in secrets {
            for part in secret_parts(secret) {
                // Drivers and receivers print parts percent-decoded or not; mask both.
                if let Some(decoded) = percent_decode(part) {
                    parts.push(decoded);
                }
                parts.push(part.to_owned());
            }
        }
        let mut secrets = parts;
        secrets.retain(|s| s.len() >= MIN_SECRET_LEN);
        secrets.sort();
        secrets.dedup();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    pub fn text(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), MASK);
            }
        }
        text
    }

    pub fn option(&self, text: Option<&str>) -> Option<String> {
        text.map(|t| self.text(t))
    }
}

/// A secret and every part of it that is secret on its own: for a URL, the password and
/// the URL without its parameters; for a web address (a webhook) also its path and the
/// path's token-like segments (a Slack webhook's `T…/B…/secret`) and every query value;
/// for other URLs the values of parameters named like secrets (`password=`, `;token=`).
fn secret_parts(secret: &str) -> Vec<&str> {
    let mut parts = vec![secret];
    let Some(scheme_end) = secret.find("://") else {
        return parts;
    };
    let web = ["http", "https"].contains(&secret[..scheme_end].to_ascii_lowercase().as_str());
    parts.extend(password(secret));
    let rest = &secret[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#', ';']).unwrap_or(rest.len());
    let tail = &rest[authority_end..];
    let path_end = tail.find(['?', '#', ';']).unwrap_or(tail.len());
    let path = &tail[..path_end];
    parts.push(&secret[..scheme_end + 3 + authority_end + path_end]);
    if web && path.len() > 1 {
        parts.push(path);
        parts.extend(path.split('/').filter(|segment| looks_like_token(segment)));
    }
    let parameters = tail[path_end..].split(['?', '&', ';', '#']);
    parts.extend(
        parameters
            .filter_map(|parameter| parameter.split_once('='))
            .filter(|(key, value)| !value.is_empty() && (web || names_a_secret(key)))
            .map(|(_, value)| value),
    );
    parts
}

/// A parameter whose value is a credential (`password`, `sslpassword`, `token`, `api_key`).
fn names_a_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "token",
        "secret",
        "key",
        "sig",
        "auth",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// A path segment that is a key rather than a word: long, or with digits in it.
fn looks_like_token(segment: &str) -> bool {
    segment.len() >= 16 || (segment.len() >= 8 && segment.chars().any(|c| c.is_ascii_digit()))
}

/// The password of `scheme://user:password@host…`.
fn password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(byte) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_in_urls() {
        assert_eq!(password("postgres://u:s3cret@db:5432/x"), Some("s3cret"));
        assert_eq!(password("postgres://u:p@ss@db/x"), Some("p@ss"));
        assert_eq!(password("postgres://u@db/x"), None);
        assert_eq!(password("sqlite:///tmp/x.db"), None);
        assert_eq!(password("postgres://db/x?user=a@b"), None);
    }

    #[test]
    fn urls_and_their_passwords_are_masked() {
        let redactor = Redactor {
            secrets: vec![
                "postgres://u:s3cr%2Ft@db/x".into(),
                "s3cr%2Ft".into(),
                "s3cr/t".into(),
            ],
        };
        assert_eq!(
            redactor.text("cannot connect to postgres://u:s3cr%2Ft@db/x: refused"),
            "cannot connect to ***: refused"
        );
        assert_eq!(
            redactor.text("password s3cr/t rejected"),
            "password *** rejected"
        );
        assert_eq!(percent_decode("s3cr%2Ft").as_deref(), Some("s3cr/t"));
    }

    #[test]
    fn every_part_of_a_webhook_url_is_masked() {
        let webhook =
            "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx";
        let redactor = Redactor::of([webhook]);
        for echoed in [
            webhook,
            "/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx",
            "abcdefghijklmnopqrstuvwx",
            "T0123ABCD",
        ] {
            let masked = redactor.text(&format!("no_team: {echoed} not found"));
            assert!(!masked.contains(echoed), "{masked}");
            assert!(!masked.contains("abcdefghijklmnopqrstuvwx"), "{masked}");
        }
        assert_eq!(redactor.text("services down"), "services down");
        let redactor = Redactor::of(["https://example.com/hook?code=s3cr3tc0de&v=1"]);
        assert_eq!(redactor.text("bad code s3cr3tc0de"), "bad code ***");
        let redactor = Redactor::of(["sc://spark:15002/;token=dapi123456;use_ssl=true"]);
        assert_eq!(
            redactor.text("token dapi123456 expired"),
            "token *** expired"
        );
        assert_eq!(
            redactor.text("use_ssl must be true"),
            "use_ssl must be true"
        );
        // A database file's path is no secret: messages keep naming it.
        let redactor = Redactor::of(["sqlite:///var/lib/w.db?mode=ro"]);
        assert_eq!(
            redactor.text("/var/lib/w.db is missing"),
            "/var/lib/w.db is missing"
        );
    }

    #[test]
    fn the_openlineage_endpoint_and_key_are_masked() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let config = "version: 1\nwarehouses:\n  main:\n    url: sqlite://w.db\n\
                      lineage:\n  emit:\n    url: https://u:pw@ol.example/api/v1/lineage\n    \
                      api_key: k3y-k3y\nchecks: []\n";
        std::fs::write(dir.path().join("tidemark.yml"), config).expect("write tidemark.yml");
        let project = crate::spec::load_with_env(dir.path(), &|_| None).expect("a project");
        let redactor = Redactor::new(&project);
        assert_eq!(
            redactor.text("posting to https://u:pw@ol.example/api/v1/lineage with k3y-k3y"),
            "posting to *** with ***"
        );
    }
}
