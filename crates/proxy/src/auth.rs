//! Proxy sign-in: HTTP Basic credentials checked against the policy's
//! accounts (argon2id hashes from the store or the config file).
//!
//! A password is verified with argon2 once, off the async threads, with a
//! bound on verifications at once (so wrong guesses cannot eat every core);
//! a success is remembered for a while by a digest of the credentials and
//! the stored hash, so the next requests cost a hash lookup and a change of
//! password ends the old sign-in. An address that fails ten times within a
//! minute is refused unchecked for the rest of that minute.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tutela_policy::Snapshot;

/// When the proxy asks for a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Authentication {
    /// Never: clients are known by their address.
    #[default]
    Off,
    /// Credentials, when sent, name the user; without them the address
    /// decides.
    Optional,
    /// Every request must sign in (407 otherwise).
    Required,
}

/// The outcome of one request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// None were sent.
    Anonymous,
    /// A known user with the right password, and the user's group.
    User { username: String, group: usize },
    /// Wrong, unknown or malformed.
    Refused,
}

/// Successful sign-ins remembered this long.
const REMEMBER: Duration = Duration::from_secs(600);
/// Failed sign-ins from one address within `LOCKOUT` before that address
/// is refused without checking, until `LOCKOUT` has passed.
const MAX_FAILURES: u32 = 10;
const LOCKOUT: Duration = Duration::from_secs(60);
/// Verifications at once, at most.
const VERIFY_AT_ONCE: usize = 4;

pub struct Authenticator {
    remembered: quick_cache::sync::Cache<[u8; 32], Instant>,
    verifying: tokio::sync::Semaphore,
    /// Failures per client address: how many, since when.
    failures: quick_cache::sync::Cache<IpAddr, (u32, Instant)>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            remembered: quick_cache::sync::Cache::new(50_000),
            verifying: tokio::sync::Semaphore::new(VERIFY_AT_ONCE),
            failures: quick_cache::sync::Cache::new(10_000),
        }
    }
}

/// `(username, password)` from a `Proxy-Authorization: Basic …` value.
pub fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_string(), password.to_string()))
}

impl Authenticator {
    /// Checks the `Proxy-Authorization` value, if any, against `snapshot`'s
    /// accounts.
    pub async fn sign_in(
        &self,
        snapshot: &Snapshot,
        client: IpAddr,
        header: Option<&[u8]>,
    ) -> SignIn {
        let Some(header) = header else {
            return SignIn::Anonymous;
        };
        let Some((username, password)) = basic_credentials(header) else {
            return SignIn::Refused;
        };
        let Some(account) = snapshot.account(&username) else {
            // As slow as a wrong password, so timing does not tell which
            // usernames exist.
            if !self.locked_out(client) {
                self.verify_in_turn(password, dummy_hash()).await;
                self.failed(client);
            }
            return SignIn::Refused;
        };
        if account.expired(jiff::Timestamp::now()) {
            tracing::info!(user = %username, client = %client, "proxy sign-in refused: the account has expired");
            return SignIn::Refused;
        }
        let group = account.group;
        let key = digest(&username, &password, &account.password_hash);
        if self
            .remembered
            .get(&key)
            .is_some_and(|at| at.elapsed() < REMEMBER)
        {
            return SignIn::User { username, group };
        }
        if self.locked_out(client) {
            return SignIn::Refused;
        }
        if !self
            .verify_in_turn(password, account.password_hash.clone())
            .await
        {
            tracing::info!(user = %username, client = %client, "proxy sign-in refused");
            self.failed(client);
            return SignIn::Refused;
        }
        self.remembered.insert(key, Instant::now());
        SignIn::User { username, group }
    }
}

impl Authenticator {
    /// Whether `client` failed too often lately to be checked at all.
    fn locked_out(&self, client: IpAddr) -> bool {
        self.failures
            .get(&client)
            .is_some_and(|(n, since)| n >= MAX_FAILURES && since.elapsed() < LOCKOUT)
    }

    fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let (n, since) = match self.failures.get(&client) {
            Some((n, since)) if since.elapsed() < LOCKOUT => (n + 1, since),
            _ => (1, now),
        };
        if n == MAX_FAILURES {
            tracing::warn!(client = %client, "proxy sign-in: {n} failures in a row; this address is refused for a minute");
        }
        self.failures.insert(client, (n, since));
    }

    /// Verifies on a blocking thread, a few at a time; a sign-in that
    /// cannot get a turn within `WAIT` is refused (the browser asks again),
    /// so a flood of guesses cannot queue up without bound.
    async fn verify_in_turn(&self, password: String, hash: String) -> bool {
        const WAIT: Duration = Duration::from_secs(2);
        let Ok(Ok(_permit)) = tokio::time::timeout(WAIT, self.verifying.acquire()).await else {
            return false;
        };
        tokio::task::spawn_blocking(move || verify(&password, &hash))
            .await
            .unwrap_or(false)
    }
}

fn digest(username: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [username, password, hash] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

pub use tutela_store::people::hash_password;
use tutela_store::people::{dummy_hash, verify_password as verify};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_strictly() {
        let h = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            basic_credentials(h("alice:p:w").as_bytes()),
            Some(("alice".into(), "p:w".into()))
        );
        assert_eq!(basic_credentials(h(":pw").as_bytes()), None);
        assert_eq!(basic_credentials(h("nocolon").as_bytes()), None);
        assert_eq!(basic_credentials(b"Bearer abc"), None);
        assert_eq!(basic_credentials(b"Basic !!!"), None);
        assert_eq!(basic_credentials(&[0xff, 0xfe]), None);
    }

    #[test]
    fn hashes_verify_only_their_password() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse", &hash));
        assert!(!verify("wrong", &hash));
        assert!(!verify("correct horse", "not a hash"));
    }
}
