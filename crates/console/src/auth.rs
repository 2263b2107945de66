//! Signing in: passwords, second factors, sessions, CSRF tokens, and the
//! back-off that makes guessing slow.
//!
//! A session is a random token in an HttpOnly, SameSite=Strict cookie; the
//! store keeps only its SHA-256, so a copy of the database signs nobody
//! in. Every form carries the session's CSRF token; the API takes it in
//! `X-CSRF-Token`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use base64::Engine as _;
use rand::RngCore;
use tutela_store::people::{self, Session, User};

use crate::roles::{Permission, Role};
use crate::{Console, ConsoleError};

pub const SESSION_COOKIE: &str = "tutela_session";
/// Before sign-in, forms are tied to this cookie (double submit).
pub const PRE_COOKIE: &str = "tutela_pre";
/// A session ends after this long without a request...
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// ...and after this long whatever happens.
pub const ABSOLUTE: Duration = Duration::from_secs(12 * 3600);
/// Failures before sign-in slows down.
const FREE_FAILURES: u32 = 5;
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten after this long without another.
const FORGET: Duration = Duration::from_secs(30 * 60);
pub const TOTP_STEP: u64 = 30;

/// A random token, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a session token.
pub fn token_hash(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        max_age.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// Slows down password and code guessing per account and per address,
/// and refuses a TOTP code used before.
#[derive(Default)]
pub struct SignInGuard {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    used_steps: Mutex<HashMap<i64, u64>>,
}

impl SignInGuard {
    fn keys(username: &str, ip: IpAddr) -> [String; 2] {
        [
            format!("user:{}", username.to_lowercase()),
            format!("ip:{ip}"),
        ]
    }

    /// `Err(seconds)` while either key is locked.
    pub fn check(&self, username: &str, ip: IpAddr) -> Result<(), ConsoleError> {
        let Ok(failures) = self.failures.lock() else {
            return Err(ConsoleError::Internal("sign-in guard poisoned".into()));
        };
        let now = Instant::now();
        for key in Self::keys(username, ip) {
            if let Some((n, last)) = failures.get(&key) {
                let wait = lock_for(*n);
                let elapsed = now.duration_since(*last);
                if elapsed < wait {
                    return Err(ConsoleError::Locked((wait - elapsed).as_secs().max(1)));
                }
            }
        }
        Ok(())
    }

    pub fn failed(&self, username: &str, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            let now = Instant::now();
            failures.retain(|_, (_, last)| now.duration_since(*last) < FORGET);
            for key in Self::keys(username, ip) {
                let entry = failures.entry(key).or_insert((0, now));
                entry.0 += 1;
                entry.1 = now;
            }
        }
        tracing::warn!(user = %username.escape_debug(), %ip, "console sign-in failed");
    }

    pub fn succeeded(&self, username: &str, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in Self::keys(username, ip) {
                failures.remove(&key);
            }
        }
    }

    /// Checks a TOTP code with the same back-off as passwords: `Err` while
    /// the account or address is locked, `Ok(false)` for a wrong code
    /// (counted as a failure).
    pub fn try_code(
        &self,
        username: &str,
        user_id: i64,
        ip: IpAddr,
        secret_b32: &str,
        code: &str,
    ) -> Result<bool, ConsoleError> {
        self.check(username, ip)?;
        let now = jiff::Timestamp::now().as_second().max(0) as u64;
        if self.check_code(user_id, secret_b32, code, now) {
            self.succeeded(username, ip);
            Ok(true)
        } else {
            self.failed(username, ip);
            Ok(false)
        }
    }

    /// Whether `code` is the user's current TOTP code (one step either way
    /// for clock drift) and has not been used before.
    pub fn check_code(&self, user_id: i64, secret_b32: &str, code: &str, now: u64) -> bool {
        let Some(totp) = totp(secret_b32, "") else {
            return false;
        };
        let code = code.trim();
        let Ok(mut used) = self.used_steps.lock() else {
            return false;
        };
        let last = used.get(&user_id).copied().unwrap_or(0);
        let step_now = now / TOTP_STEP;
        for step in [step_now.saturating_sub(1), step_now, step_now + 1] {
            if step > last && same_secret(&totp.generate(step * TOTP_STEP), code) {
                used.insert(user_id, step);
                return true;
            }
        }
        false
    }
}

fn lock_for(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doubling = (failures - FREE_FAILURES).min(10);
    Duration::from_secs(1u64 << doubling).min(MAX_LOCK)
}

/// The TOTP generator for a base32 secret (SHA-1, 6 digits, 30 s: what
/// every authenticator app reads).
pub fn totp(secret_b32: &str, account: &str) -> Option<totp_rs::TOTP> {
    let bytes = totp_rs::Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .ok()?;
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        TOTP_STEP,
        bytes,
        Some("Tutela".into()),
        account.to_string(),
    )
    .ok()
}

/// A new base32 TOTP secret (160 bits).
pub fn new_totp_secret() -> String {
    let mut bytes = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    match totp_rs::Secret::Raw(bytes).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => String::new(),
    }
}

pub fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

pub fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))
}

/// Someone with a session, whether or not they have given their second
/// factor yet.
pub struct HalfSigned {
    pub user: User,
    pub role: Role,
    pub session: Session,
    pub token_hash: String,
}

impl HalfSigned {
    /// Whether this session may use the console now.
    pub fn complete(&self) -> bool {
        self.session.second_factor_done
    }

    pub fn check_csrf(&self, token: &str) -> Result<(), ConsoleError> {
        if same_secret(&self.session.csrf_token, token) {
            Ok(())
        } else {
            Err(ConsoleError::BadCsrf)
        }
    }

    /// The name changes are recorded under.
    pub fn actor(&self) -> String {
        self.user.username.clone()
    }
}

/// Loads the session named by the request's cookie, ending it if it has
/// run out. `None`: no valid session.
async fn load(parts: &Parts, console: &Console) -> Result<Option<HalfSigned>, ConsoleError> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let now = now_us();
    let found = {
        let hash = hash.clone();
        console
            .db(move |db| {
                let Some(session) = people::session(db, &hash)? else {
                    return Ok(None);
                };
                let idle = now - session.seen_us > IDLE.as_micros() as i64;
                let old = now - session.created_us > ABSOLUTE.as_micros() as i64;
                let user = people::user_by_id(db, session.user_id)?;
                let usable = user
                    .as_ref()
                    .is_some_and(|u| u.is_active(now) && u.console_role.is_some());
                if idle || old || !usable {
                    people::end_session(db, &hash)?;
                    return Ok(None);
                }
                // Write the time seen at most once a minute.
                if now - session.seen_us > 60_000_000 {
                    people::touch_session(db, &hash, now)?;
                }
                Ok(user.map(|u| (u, session)))
            })
            .await?
    };
    let Some((user, session)) = found else {
        return Ok(None);
    };
    let Some(role) = user.console_role.as_deref().and_then(Role::parse) else {
        return Ok(None);
    };
    Ok(Some(HalfSigned {
        user,
        role,
        session,
        token_hash: hash,
    }))
}

fn here(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

impl FromRequestParts<Arc<Console>> for HalfSigned {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        load(parts, console)
            .await?
            .ok_or_else(|| ConsoleError::SignInNeeded { next: here(parts) })
    }
}

/// Someone fully signed in: a page handler's proof of who is asking.
pub struct Signed(pub HalfSigned);

impl std::ops::Deref for Signed {
    type Target = HalfSigned;
    fn deref(&self) -> &HalfSigned {
        &self.0
    }
}

impl Signed {
    pub fn require(&self, permission: Permission) -> Result<(), ConsoleError> {
        if self.role.can(permission) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

impl FromRequestParts<Arc<Console>> for Signed {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let half = HalfSigned::from_request_parts(parts, console)
            .await
            .map_err(IntoResponse::into_response)?;
        if half.complete() {
            return Ok(Signed(half));
        }
        let next = crate::views::query_escape(&here(parts));
        let to = if half.user.has_second_factor() {
            format!("/login/second-factor?next={next}")
        } else {
            format!("/account/second-factor?next={next}")
        };
        Err(crate::views::redirect(&to))
    }
}

/// Someone fully signed in, calling the JSON API; unsafe methods must
/// carry the session's CSRF token in `X-CSRF-Token`.
pub struct ApiSigned(pub HalfSigned);

impl std::ops::Deref for ApiSigned {
    type Target = HalfSigned;
    fn deref(&self) -> &HalfSigned {
        &self.0
    }
}

impl ApiSigned {
    pub fn require(&self, permission: Permission) -> Result<(), crate::api::ApiError> {
        if self.role.can(permission) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden.into())
        }
    }
}

impl FromRequestParts<Arc<Console>> for ApiSigned {
    type Rejection = crate::api::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let half = load(parts, console)
            .await?
            .filter(HalfSigned::complete)
            .ok_or(ConsoleError::SignInNeeded {
                next: String::new(),
            })?;
        if !matches!(parts.method, Method::GET | Method::HEAD) {
            let token = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            half.check_csrf(token)?;
        }
        Ok(ApiSigned(half))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_sign_in_down_by_account_and_address() {
        let guard = SignInGuard::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..FREE_FAILURES - 1 {
            guard.failed("Alice", ip);
        }
        assert!(guard.check("alice", ip).is_ok());
        guard.failed("alice", ip);
        assert!(matches!(
            guard.check("alice", ip),
            Err(ConsoleError::Locked(_))
        ));
        // The same address guessing at another account is slowed too...
        assert!(guard.check("bob", ip).is_err());
        // ...and the same account from another address.
        assert!(guard.check("alice", "192.0.2.2".parse().unwrap()).is_err());
        guard.succeeded("alice", ip);
        assert!(guard.check("alice", ip).is_ok());
        assert_eq!(lock_for(FREE_FAILURES + 1), Duration::from_secs(2));
        assert_eq!(lock_for(100), MAX_LOCK);
        assert!(lock_for(u32::MAX) <= MAX_LOCK);
    }

    #[test]
    fn a_totp_code_works_once_and_only_near_its_time() {
        let guard = SignInGuard::default();
        let secret = new_totp_secret();
        let totp = totp(&secret, "a").unwrap();
        let now = 1_800_000_000u64;
        let code = totp.generate(now);
        assert!(!guard.check_code(1, &secret, &totp.generate(now - 300), now));
        assert!(guard.check_code(1, &secret, &code, now));
        assert!(!guard.check_code(1, &secret, &code, now), "replayed");
        assert!(guard.check_code(1, &secret, &totp.generate(now + 30), now));
        assert!(!guard.check_code(2, "not base32!", &code, now));
        assert!(!guard.check_code(2, &secret, "", now));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "xtutela_session=bad; tutela_session=good; other=1"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("good"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
