//! Sending: email over SMTP (lettre) and webhooks over HTTP(S) (ureq).
//! Both block, so the worker runs them on blocking threads.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

use crate::settings::EmailSettings;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("monitor.email: {0}")]
    Settings(String),
    #[error("the email to {to} was not sent: {message}")]
    Email { to: String, message: String },
    #[error("the webhook {url} failed: {message}")]
    Webhook { url: String, message: String },
}

/// Where notifications leave from.
pub struct Delivery {
    smtp: Option<(SmtpTransport, lettre::message::Mailbox)>,
    http: ureq::Agent,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Delivery {
    pub fn new(email: Option<&EmailSettings>) -> Result<Delivery, DeliveryError> {
        let smtp = match email {
            None => None,
            Some(e) => {
                let bad = |m: String| DeliveryError::Settings(m);
                let builder = match e.security.as_str() {
                    "starttls" => SmtpTransport::starttls_relay(&e.server)
                        .map_err(|x| bad(format!("server {:?}: {x}", e.server)))?,
                    "tls" => SmtpTransport::relay(&e.server)
                        .map_err(|x| bad(format!("server {:?}: {x}", e.server)))?,
                    "none" => SmtpTransport::builder_dangerous(&e.server),
                    other => {
                        return Err(bad(format!(
                            "security = {other:?}: use starttls, tls or none"
                        )))
                    }
                };
                let mut builder = builder.port(e.port).timeout(Some(TIMEOUT));
                if let (Some(user), Some(password)) = (&e.username, &e.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                let from = e
                    .from
                    .parse()
                    .map_err(|x| bad(format!("from = {:?}: {x}", e.from)))?;
                Some((builder.build(), from))
            }
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(true)
            .timeout_global(Some(TIMEOUT))
            .build();
        Ok(Delivery {
            smtp,
            http: ureq::Agent::new_with_config(config),
        })
    }

    pub fn can_email(&self) -> bool {
        self.smtp.is_some()
    }

    /// Sends a plain-text email.
    pub fn email(&self, to: &str, subject: &str, text: &str) -> Result<(), DeliveryError> {
        let failed = |message: String| DeliveryError::Email {
            to: to.into(),
            message,
        };
        let Some((transport, from)) = &self.smtp else {
            return Err(failed("no [monitor.email] server is set".into()));
        };
        let message = Message::builder()
            .from(from.clone())
            .to(to.parse().map_err(|e| failed(format!("{e}")))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .map_err(|e| failed(e.to_string()))?;
        transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| failed(e.to_string()))
    }

    /// Posts a JSON body.
    pub fn webhook(&self, url: &str, body: &serde_json::Value) -> Result<(), DeliveryError> {
        self.http
            .post(url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map(|_| ())
            .map_err(|e| DeliveryError::Webhook {
                url: url.into(),
                message: e.to_string(),
            })
    }
}
