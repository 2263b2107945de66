//! Users as the console sees them (pupils, staff and guests, some of whom
//! may sign in to the console in a role) and the console's server-side
//! sessions. One piece of SQL serves both backends.

use crate::{Backend, SqlValue, StoreError};

/// An argon2id hash of `password` in PHC form, as accounts store it.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash no password matches, to spend the same work on unknown users.
pub fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("tutela: no such user").unwrap_or_default())
        .clone()
}

/// Whether `password` matches the PHC-form `hash`; a malformed hash
/// matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: Option<String>,
    /// `pupil`, `staff` or `guest`.
    pub kind: String,
    /// The console role, if the user may sign in to the console.
    pub console_role: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// A base32 TOTP secret, once enrolled.
    #[serde(skip)]
    pub totp_secret: Option<String>,
    pub disabled: bool,
    /// Guests stop working at this time.
    pub expires_us: Option<i64>,
    pub year_group: Option<String>,
    pub created_us: i64,
}

impl User {
    pub fn has_second_factor(&self) -> bool {
        self.totp_secret.is_some()
    }

    /// Enabled and not past its expiry.
    pub fn is_active(&self, now_us: i64) -> bool {
        !self.disabled && self.expires_us.is_none_or(|e| now_us < e)
    }
}

const USER_COLUMNS: &str = "id, username, display_name, role, console_role, password_hash, \
     totp_secret, disabled, expires_us, year_group, created_us";

fn text(v: &SqlValue) -> Option<String> {
    v.text().map(str::to_string)
}

fn user_from(row: &[SqlValue]) -> Result<User, StoreError> {
    let bad = || StoreError::Invalid("unexpected users row".into());
    if row.len() != 11 {
        return Err(bad());
    }
    Ok(User {
        id: row[0].int().ok_or_else(bad)?,
        username: text(&row[1]).ok_or_else(bad)?,
        display_name: text(&row[2]),
        kind: text(&row[3]).unwrap_or_default(),
        console_role: text(&row[4]),
        password_hash: text(&row[5]),
        totp_secret: text(&row[6]),
        disabled: row[7].int().unwrap_or(0) != 0,
        expires_us: row[8].int(),
        year_group: text(&row[9]),
        created_us: row[10].int().unwrap_or(0),
    })
}

/// A user to add.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub kind: String,
    pub console_role: Option<String>,
    pub password_hash: Option<String>,
    pub expires_us: Option<i64>,
    pub year_group: Option<String>,
}

/// How many users may sign in to the console in `role`.
pub fn count_console_role(db: &mut dyn Backend, role: &str) -> Result<i64, StoreError> {
    let rows = db.rows(
        "SELECT count(*) FROM users WHERE console_role = ?",
        &[role.into()],
    )?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::int)
        .unwrap_or(0))
}

pub fn user_named(db: &mut dyn Backend, username: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?");
    db.rows(&sql, &[username.into()])?
        .first()
        .map(|r| user_from(r))
        .transpose()
}

pub fn user_by_id(db: &mut dyn Backend, id: i64) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
    db.rows(&sql, &[id.into()])?
        .first()
        .map(|r| user_from(r))
        .transpose()
}

/// Every user, by username.
pub fn users(db: &mut dyn Backend) -> Result<Vec<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
    db.rows(&sql, &[])?.iter().map(|r| user_from(r)).collect()
}

/// Adds a user; a taken username is [`StoreError::Invalid`].
pub fn add_user(db: &mut dyn Backend, user: &NewUser, now_us: i64) -> Result<i64, StoreError> {
    if user_named(db, &user.username)?.is_some() {
        return Err(StoreError::Invalid(format!(
            "the username {:?} is taken",
            user.username
        )));
    }
    let rows = db.rows(
        "INSERT INTO users (username, display_name, role, console_role, password_hash, expires_us, year_group, created_us) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        &[
            user.username.as_str().into(),
            user.display_name.clone().into(),
            user.kind.as_str().into(),
            user.console_role.clone().into(),
            user.password_hash.clone().into(),
            user.expires_us.into(),
            user.year_group.clone().into(),
            now_us.into(),
        ],
    )?;
    crate::returned_id(&rows)
}

/// Adds every user or none: one transaction.
pub fn add_users(
    db: &mut dyn Backend,
    users: &[NewUser],
    now_us: i64,
) -> Result<usize, StoreError> {
    crate::in_transaction(db, |db| {
        for u in users {
            add_user(db, u, now_us)?;
        }
        Ok(users.len())
    })
}

pub fn set_totp_secret(db: &mut dyn Backend, user_id: i64, secret: &str) -> Result<(), StoreError> {
    db.execute(
        "UPDATE users SET totp_secret = ? WHERE id = ?",
        &[secret.into(), user_id.into()],
    )?;
    Ok(())
}

/// Clears a user's second factor: they enrol again at their next sign-in.
pub fn clear_totp_secret(db: &mut dyn Backend, user_id: i64) -> Result<(), StoreError> {
    db.execute(
        "UPDATE users SET totp_secret = NULL WHERE id = ?",
        &[user_id.into()],
    )?;
    Ok(())
}

pub fn set_disabled(db: &mut dyn Backend, user_id: i64, disabled: bool) -> Result<(), StoreError> {
    db.execute(
        "UPDATE users SET disabled = ? WHERE id = ?",
        &[i64::from(disabled).into(), user_id.into()],
    )?;
    Ok(())
}

/// A signed-in (or half signed-in) console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    /// The synchroniser token every form and unsafe API call must carry.
    pub csrf_token: String,
    /// Whether the second factor was given (or is not needed).
    pub second_factor_done: bool,
    pub created_us: i64,
    pub seen_us: i64,
}

/// Stores a session under the hash of its token; the token itself is
/// never stored.
pub fn add_session(
    db: &mut dyn Backend,
    token_hash: &str,
    session: &Session,
) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO console_sessions (token_hash, user_id, csrf_token, second_factor_done, created_us, seen_us) \
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            token_hash.into(),
            session.user_id.into(),
            session.csrf_token.as_str().into(),
            i64::from(session.second_factor_done).into(),
            session.created_us.into(),
            session.seen_us.into(),
        ],
    )?;
    Ok(())
}

pub fn session(db: &mut dyn Backend, token_hash: &str) -> Result<Option<Session>, StoreError> {
    let rows = db.rows(
        "SELECT user_id, csrf_token, second_factor_done, created_us, seen_us FROM console_sessions WHERE token_hash = ?",
        &[token_hash.into()],
    )?;
    Ok(rows.first().and_then(|r| {
        Some(Session {
            user_id: r.first()?.int()?,
            csrf_token: r.get(1)?.text()?.to_string(),
            second_factor_done: r.get(2)?.int()? != 0,
            created_us: r.get(3)?.int()?,
            seen_us: r.get(4)?.int()?,
        })
    }))
}

pub fn touch_session(
    db: &mut dyn Backend,
    token_hash: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    db.execute(
        "UPDATE console_sessions SET seen_us = ? WHERE token_hash = ?",
        &[now_us.into(), token_hash.into()],
    )?;
    Ok(())
}

pub fn complete_second_factor(db: &mut dyn Backend, token_hash: &str) -> Result<(), StoreError> {
    db.execute(
        "UPDATE console_sessions SET second_factor_done = 1 WHERE token_hash = ?",
        &[token_hash.into()],
    )?;
    Ok(())
}

pub fn end_session(db: &mut dyn Backend, token_hash: &str) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM console_sessions WHERE token_hash = ?",
        &[token_hash.into()],
    )?;
    Ok(())
}

/// Ends every session of a user (disabled, or a changed password).
pub fn end_sessions_of(db: &mut dyn Backend, user_id: i64) -> Result<(), StoreError> {
    db.execute(
        "DELETE FROM console_sessions WHERE user_id = ?",
        &[user_id.into()],
    )?;
    Ok(())
}

/// Ends sessions idle since before `idle_before_us` or started before
/// `started_before_us`.
pub fn end_stale_sessions(
    db: &mut dyn Backend,
    idle_before_us: i64,
    started_before_us: i64,
) -> Result<u64, StoreError> {
    db.execute(
        "DELETE FROM console_sessions WHERE seen_us < ? OR created_us < ?",
        &[idle_before_us.into(), started_before_us.into()],
    )
}
