//! A last guard for the rule that secrets never leave the server: free text the API returns
//! (run errors, result messages, scheduler replies) has every secret of the project (store,
//! warehouse, SMTP and webhook URLs, and the passwords inside them) replaced with `***`.
//! The engine already keeps secrets out of its messages; this catches what slips through,
//! such as a driver echoing a connection string.

use crate::spec::{Channel, Project};

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
        let mut secrets = Vec::new();
        for url in urls {
            secrets.push(url.to_owned());
            if let Some(password) = password(url) {
                secrets.push(password.to_owned());
                // Drivers print URLs with the password percent-decoded or not; mask both.
                if let Some(decoded) = percent_decode(password) {
                    secrets.push(decoded);
                }
            }
        }
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
