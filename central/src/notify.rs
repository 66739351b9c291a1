//! Central's background work for OA (issue 17): the timers (reminders and escalations, fired
//! when due) and the sender of the notification outbox (mail over SMTP, signed webhook posts).
//!
//! Both run in every central instance; the store makes each timer fire once and leases each
//! outbox row to one sender, so several instances on one database neither double nor lose
//! them. A mail or post that fails is tried again with back-off (30 s, doubling, at most an
//! hour apart) up to [`crate::store::notify::MAX_ATTEMPTS`] times; a mail server that stays
//! down delays mail, never a decision.
//!
//! The webhook body is the notification as JSON (`event`, `subject`, `to`, `text`,
//! `text_zh`, `url`, `at`); `X-MES-Timestamp` is the send time in Unix seconds and
//! `X-MES-Signature: sha256=<hex>` the HMAC-SHA256, keyed with `[notify] webhook_secret`, of
//! `<timestamp>.<body>`, so a receiver checks it came from central and is not a replay.

use crate::config::NotifyConfig;
use crate::store::Store;
use crate::store::notify::{Channel, OutboxItem, Sent};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;
use std::sync::Arc;
use tokio::sync::watch;

/// Most timers one transaction fires.
pub const TIMER_BATCH: usize = 1000;
/// Longest the timer loop sleeps before looking again (another instance may have set a
/// timer sooner than the one it knows).
const TIMER_POLL: std::time::Duration = std::time::Duration::from_secs(30);
/// How often the sender looks for mail and posts to send.
const SEND_POLL: std::time::Duration = std::time::Duration::from_secs(2);
/// Longest one mail or post may take.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The HMAC-SHA256 signature of a webhook post: `sha256=<hex>` of `<timestamp>.<body>`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // A key of any length is accepted by HMAC.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// When a failed send is tried again: 30 s after the first failure, doubling, at most 1 h.
pub fn retry_at(now: DateTime<Utc>, attempts: u32) -> DateTime<Utc> {
    let seconds = 30i64.saturating_mul(1i64 << attempts.min(7)).min(3600);
    now + Duration::seconds(seconds)
}

/// Sends outbox rows by the configured channels.
pub struct Sender {
    base_url: String,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    webhook: Option<(String, String)>,
    http: reqwest::Client,
}

impl Sender {
    /// Checks `[notify]`: the SMTP URL and sender parse.
    pub fn new(config: &NotifyConfig) -> Result<Sender, String> {
        let smtp = match (&config.smtp, &config.from) {
            (Some(url), Some(from)) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| format!("notify.smtp: {e}"))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build();
                let from: Mailbox = from
                    .parse()
                    .map_err(|e| format!("notify.from: {from:?}: {e}"))?;
                Some((transport, from))
            }
            _ => None,
        };
        let webhook = match (&config.webhook, &config.webhook_secret) {
            (Some(url), Some(secret)) => Some((url.clone(), secret.expose().to_owned())),
            _ => None,
        };
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("notify.webhook: {e}"))?;
        Ok(Sender {
            base_url: config
                .base_url
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_owned(),
            smtp,
            webhook,
            http,
        })
    }

    fn url(&self, link: &str) -> String {
        format!("{}{link}", self.base_url)
    }

    /// Sends one row; what became of it.
    pub async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Sent {
        let failed = |error: String| Sent::Failed {
            error,
            retry_at: Some(retry_at(now, item.attempts)),
        };
        match item.channel {
            Channel::Email => {
                let Some((transport, from)) = &self.smtp else {
                    return Sent::Skipped("no [notify] smtp configured".into());
                };
                let to: Mailbox = match item.to.parse() {
                    Ok(to) => to,
                    // An address that does not parse never will: given up at once.
                    Err(e) => {
                        return Sent::Failed {
                            error: format!("address {:?}: {e}", item.to),
                            retry_at: None,
                        };
                    }
                };
                let text = format!("{}\n\n{}\n\n-- \nMES", item.body, self.url(&item.link));
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(format!("[MES] {}", first_line(&item.body)))
                    .header(ContentType::TEXT_PLAIN)
                    .body(text);
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        return Sent::Failed {
                            error: format!("the mail: {e}"),
                            retry_at: None,
                        };
                    }
                };
                match transport.send(message).await {
                    Ok(_) => Sent::Sent,
                    Err(e) if e.is_permanent() => Sent::Failed {
                        error: format!("the mail server refused it: {e}"),
                        retry_at: None,
                    },
                    Err(e) => failed(format!("smtp: {e}")),
                }
            }
            Channel::Webhook => {
                let Some((url, secret)) = &self.webhook else {
                    return Sent::Skipped("no [notify] webhook configured".into());
                };
                let mut body: serde_json::Value =
                    serde_json::from_str(&item.body).unwrap_or_else(|_| serde_json::json!({}));
                if let Some(obj) = body.as_object_mut() {
                    obj.remove("link");
                    obj.insert("url".into(), self.url(&item.link).into());
                }
                let body = body.to_string();
                let timestamp = now.timestamp();
                let request = self
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-mes-timestamp", timestamp.to_string())
                    .header("x-mes-signature", sign(secret, timestamp, &body))
                    .body(body);
                match request.send().await {
                    Ok(r) if r.status().is_success() => Sent::Sent,
                    Ok(r) => failed(format!("the webhook answered {}", r.status())),
                    Err(e) => failed(format!("the webhook: {e}")),
                }
            }
        }
    }
}

/// The first line of a text, at most 120 characters: a mail's subject.
fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect()
}

/// Fires due timers until `shutdown` turns true or the store is gone (`store` answers
/// `None`: central's state was dropped).
pub async fn run_timers(
    store: impl Fn() -> Option<Arc<dyn Store>>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(store) = store() else { return };
        let mut more = false;
        match store.fire_oa_timers(Utc::now(), TIMER_BATCH).await {
            Ok(fired) => {
                more = fired.total() >= TIMER_BATCH;
                if fired.total() > 0 {
                    tracing::info!(
                        reminders = fired.reminders,
                        escalations = fired.escalations,
                        stale = fired.stale,
                        "OA timers fired"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "OA timers: cannot fire; trying again"),
        }
        if more {
            continue;
        }
        let next = store.next_oa_timer().await;
        drop(store);
        let wait = match next {
            Ok(Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .clamp(std::time::Duration::from_millis(50), TIMER_POLL),
            Ok(None) => TIMER_POLL,
            Err(_) => TIMER_POLL,
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Sends the outbox until `shutdown` turns true or the store is gone.
pub async fn run_sender(
    store: impl Fn() -> Option<Arc<dyn Store>>,
    sender: Sender,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(store) = store() else { return };
        let now = Utc::now();
        match store.due_outbox(now, 50).await {
            Ok(items) => {
                let mut done = Vec::with_capacity(items.len());
                for item in &items {
                    let how = sender.send(item, Utc::now()).await;
                    if let Sent::Failed { error, .. } = &how {
                        tracing::warn!(id = item.id, channel = item.channel.as_str(), %error, "notification not sent");
                    }
                    done.push((item.id, how));
                }
                // One transaction for the batch. Lost (a store error): the lease runs out
                // and the rows are sent again, at least once.
                if let Err(e) = store.outbox_done(done, Utc::now()).await {
                    tracing::warn!(error = %e, "notification outbox: cannot record the sends");
                }
                if items.len() == 50 {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "notification outbox: cannot read"),
        }
        drop(store);
        tokio::select! {
            _ = tokio::time::sleep(SEND_POLL) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"), through the same HMAC the signature uses.
    #[test]
    fn hmac_matches_rfc_4231() {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The signature covers the timestamp and the body: change either, it changes.
        let s = sign("k3y-of-sixteen-chars", 1_700_000_000, "{\"a\":1}");
        assert!(s.starts_with("sha256=") && s.len() == 7 + 64, "{s}");
        assert_ne!(s, sign("k3y-of-sixteen-chars", 1_700_000_001, "{\"a\":1}"));
        assert_ne!(s, sign("k3y-of-sixteen-chars", 1_700_000_000, "{\"a\":2}"));
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        let now = Utc::now();
        assert_eq!(retry_at(now, 0) - now, Duration::seconds(30));
        assert_eq!(retry_at(now, 1) - now, Duration::seconds(60));
        assert_eq!(retry_at(now, 6) - now, Duration::seconds(1920));
        assert_eq!(retry_at(now, 7) - now, Duration::hours(1));
        assert_eq!(retry_at(now, u32::MAX) - now, Duration::hours(1));
    }
}
