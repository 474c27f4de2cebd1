//! Email through lettre over SMTP: one message with a plain-text and an HTML part. The
//! `smtp:` URL of `tidemark.yml` says how to connect (`smtp://host:port` in the clear,
//! `smtp://…?tls=required` with STARTTLS, `smtps://` over TLS; credentials in the URL).
//! Transports are kept per URL, so their connection pools are reused between messages.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};

use super::outbox::Attempt;
use super::templates::Email;
use crate::spec::Smtp;

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The transports in use, by SMTP URL.
#[derive(Default)]
pub struct Mailer {
    transports: Mutex<HashMap<String, Transport>>,
}

impl Mailer {
    /// Sends `email` to `to`. `key` makes the Message-ID, so mail systems can tell a
    /// repeated delivery of the same notification. Errors never contain the SMTP URL.
    pub async fn send(
        &self,
        smtp: &Smtp,
        to: &[String],
        email: &Email,
        key: &str,
        timeout: Duration,
    ) -> Attempt {
        let message = match build(smtp, to, email, key) {
            Ok(message) => message,
            Err(error) => return Attempt::Refused(error),
        };
        let transport = match self.transport(smtp, timeout) {
            Ok(transport) => transport,
            Err(error) => return Attempt::Refused(error),
        };
        match transport.send(message).await {
            Ok(_) => Attempt::Delivered,
            Err(e) if e.is_permanent() => {
                Attempt::Refused(format!("the mail server refused it: {e}"))
            }
            Err(e) => Attempt::Retry {
                after: None,
                error: format!("sending email: {e}"),
            },
        }
    }

    /// The transport for the project's SMTP URL (cheap to clone: it shares its pool).
    fn transport(&self, smtp: &Smtp, timeout: Duration) -> Result<Transport, String> {
        let url = smtp.url.expose();
        let mut transports = self
            .transports
            .lock()
            .map_err(|_| "the mail transports are unusable".to_owned())?;
        if let Some(transport) = transports.get(url) {
            return Ok(transport.clone());
        }
        let transport = Transport::from_url(url)
            .map_err(|_| "the 'smtp' url cannot be used: check its form".to_owned())?
            .timeout(Some(timeout))
            .build();
        transports.insert(url.to_owned(), transport.clone());
        Ok(transport)
    }
}

fn build(smtp: &Smtp, to: &[String], email: &Email, key: &str) -> Result<Message, String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("the 'from' address cannot be used: {e}"))?;
    let domain = smtp.from.rsplit('@').next().unwrap_or("tidemark");
    let mut builder = Message::builder()
        .from(from)
        .subject(email.subject.as_str())
        .message_id(Some(format!("<{}@{domain}>", message_id(key))));
    for address in to {
        let mailbox: Mailbox = address
            .parse()
            .map_err(|e| format!("the address {address} cannot be used: {e}"))?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))
        .map_err(|e| format!("the email cannot be built: {e}"))
}

/// The local part of the Message-ID: the same for every delivery of one notification.
fn message_id(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("tidemark.{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Secret;

    fn smtp() -> Smtp {
        Smtp {
            url: Secret::new("smtp://127.0.0.1:1"),
            from: "tidemark@example.com".into(),
        }
    }

    fn email() -> Email {
        Email {
            subject: "Check failed: a · b".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        }
    }

    #[test]
    fn messages_carry_both_parts_and_a_stable_message_id() {
        let message = build(&smtp(), &["a@example.com".into()], &email(), "1/1/ops")
            .unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(message.formatted()).unwrap_or_default();
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains(&format!(
            "Message-ID: <{}@example.com>",
            message_id("1/1/ops")
        )));
        assert_eq!(message_id("1/1/ops"), message_id("1/1/ops"));
        assert_ne!(message_id("1/1/ops"), message_id("1/2/ops"));
    }

    #[test]
    fn unusable_addresses_are_refused_not_retried() {
        let built = build(&smtp(), &["not an address".into()], &email(), "k");
        assert!(built.is_err());
    }
}
