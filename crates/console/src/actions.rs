//! What the console does, once for the pages and the API alike: each
//! function checks its input, changes the store, and writes the audit log.

use serde::Deserialize;
use tutela_policy::{Explanation, Identity, Target};
use tutela_store::people::{self, NewUser};
use tutela_store::unblock::{self, NewUnblock, Unblock, UnblockFilter, UnblockStatus};
use tutela_store::{AccessEvent, AuditEntry, EventQuery};

use crate::auth::{now_us, HalfSigned};
use crate::roles::Role;
use crate::views::parse_when;
use crate::{Console, ConsoleError};

/// Longest a temporary unblock may last.
pub const MAX_UNBLOCK_DAYS: i64 = 366;

fn bad(message: impl Into<String>) -> ConsoleError {
    ConsoleError::BadRequest(message.into())
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The policy's verdict on `url` for `group` (the default group if none).
pub fn check(
    console: &Console,
    url: &str,
    group: Option<&str>,
) -> Result<Explanation, ConsoleError> {
    let snapshot = console.engine.snapshot();
    if let Some(g) = group {
        if snapshot.group_named(g).is_none() {
            return Err(bad(format!("there is no group {g:?}")));
        }
    }
    let target = Target::parse(url.trim()).map_err(|e| bad(format!("{url:?}: {e}")))?;
    let identity = Identity { group, user: None };
    let verdict = snapshot.decide(&identity, &target, jiff::Timestamp::now());
    Ok(snapshot.explain(url.trim(), &verdict))
}

/// A log search as a form or query string gives it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogSearch {
    pub user: Option<String>,
    pub ip: Option<String>,
    pub device: Option<String>,
    /// The school site.
    pub site: Option<String>,
    /// A website, with the names under it.
    pub host: Option<String>,
    pub group: Option<String>,
    pub category: Option<String>,
    pub action: Option<String>,
    pub search: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    /// `time_us:reference` of the last row already shown.
    pub before: Option<String>,
    pub limit: Option<usize>,
}

impl LogSearch {
    pub fn query(&self, tz: &jiff::tz::TimeZone) -> Result<EventQuery, ConsoleError> {
        let time = |t: &Option<String>| non_empty(t).map(|t| parse_when(&t, tz)).transpose();
        let before = match non_empty(&self.before) {
            Some(b) => {
                let (t, r) = b
                    .split_once(':')
                    .ok_or_else(|| bad("`before` is time:reference"))?;
                Some((
                    t.parse().map_err(|_| bad("`before` is time:reference"))?,
                    r.parse().map_err(|_| bad("`before` is time:reference"))?,
                ))
            }
            None => None,
        };
        Ok(EventQuery {
            user: non_empty(&self.user),
            ip: non_empty(&self.ip),
            device: non_empty(&self.device),
            site: non_empty(&self.site),
            host: non_empty(&self.host).map(|s| s.to_lowercase()),
            group: non_empty(&self.group),
            since_us: time(&self.since).map_err(bad)?,
            until_us: time(&self.until).map_err(bad)?,
            action: non_empty(&self.action),
            category: non_empty(&self.category),
            search: non_empty(&self.search),
            limit: self.limit.unwrap_or(100).clamp(1, 1000),
            before,
        })
    }
}

pub async fn search_logs(
    console: &Console,
    query: EventQuery,
) -> Result<Vec<AccessEvent>, ConsoleError> {
    console.db(move |db| db.query_events(&query)).await
}

/// A temporary-unblock request as a form or the API gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct UnblockInput {
    pub staff_name: String,
    /// `YYYY-MM-DD`; today if empty.
    #[serde(default)]
    pub requested_on: Option<String>,
    pub url: String,
    /// What to allow; the URL's host if empty.
    #[serde(default)]
    pub site: Option<String>,
    pub reason: String,
    /// When it reverts: RFC 3339, a date, or `YYYY-MM-DDTHH:MM`.
    pub revert_at: String,
    pub audience: String,
    /// A group name, or empty for everyone.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub event_ref: Option<String>,
}

fn site_of(url: &str) -> Option<String> {
    let with_scheme = if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    url::Url::parse(&with_scheme)
        .ok()?
        .host_str()
        .map(|h| h.trim_start_matches("www.").to_string())
}

pub async fn request_unblock(
    console: &Console,
    who: &HalfSigned,
    input: UnblockInput,
) -> Result<i64, ConsoleError> {
    let tz = &console.options.timezone;
    let now = now_us();
    let required = [
        ("staff member's name", &input.staff_name),
        ("URL", &input.url),
        ("reason", &input.reason),
        ("year groups or staff using the site", &input.audience),
    ];
    for (what, value) in required {
        if value.trim().is_empty() {
            return Err(bad(format!("the {what} is missing")));
        }
        if value.len() > 2000 {
            return Err(bad(format!("the {what} is too long")));
        }
    }
    let url = input.url.trim().to_string();
    let site = non_empty(&input.site)
        .or_else(|| site_of(&url))
        .ok_or_else(|| bad("cannot tell the site from the URL; fill in the site"))?
        .to_lowercase();
    tutela_policy::validate_site(&site).map_err(|e| bad(e.to_string()))?;
    let group = non_empty(&input.group);
    let snapshot = console.engine.snapshot();
    if let Some(g) = &group {
        if snapshot.group_named(g).is_none() {
            return Err(bad(format!("there is no group {g:?}")));
        }
    }
    // The illegal tier is never unblocked, for anyone.
    for candidate in [url.as_str(), site.as_str()] {
        if let Ok(target) = Target::parse(candidate) {
            let v = snapshot.decide(&Identity::default(), &target, jiff::Timestamp::now());
            if v.rule == tutela_policy::Rule::Illegal {
                return Err(bad(
                    "this site is on the illegal-content list, which nobody can unblock",
                ));
            }
        }
    }
    let revert_us = parse_when(&input.revert_at, tz).map_err(bad)?;
    if revert_us <= now {
        return Err(bad("the reversion date must be in the future"));
    }
    if revert_us - now > MAX_UNBLOCK_DAYS * 86_400_000_000 {
        return Err(bad(format!(
            "a temporary unblock lasts at most {MAX_UNBLOCK_DAYS} days"
        )));
    }
    let requested_on = match non_empty(&input.requested_on) {
        Some(d) => d
            .parse::<jiff::civil::Date>()
            .map_err(|_| bad("the request date is YYYY-MM-DD"))?
            .to_string(),
        None => jiff::Timestamp::now()
            .to_zoned(tz.clone())
            .date()
            .to_string(),
    };
    let request = NewUnblock {
        staff_name: input.staff_name.trim().to_string(),
        requested_on,
        url,
        site,
        reason: input.reason.trim().to_string(),
        revert_us,
        audience: input.audience.trim().to_string(),
        group,
        event_ref: non_empty(&input.event_ref),
    };
    let actor = who.actor();
    console
        .db(move |db| {
            let id = unblock::add(db, &request, &actor, now)?;
            db.append_audit(&AuditEntry {
                time_us: now,
                actor,
                action: "unblock.request".into(),
                object: format!("unblock:{id}"),
                before: None,
                after: serde_json::to_string(&request).ok(),
                reason: Some(request.reason.clone()),
            })?;
            Ok(id)
        })
        .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Refuse,
}

pub async fn decide_unblock(
    console: &Console,
    who: &HalfSigned,
    id: i64,
    decision: Decision,
    note: String,
) -> Result<Unblock, ConsoleError> {
    let now = now_us();
    let actor = who.actor();
    let to = match decision {
        Decision::Approve => UnblockStatus::Approved,
        Decision::Refuse => UnblockStatus::Refused,
    };
    let note = note.trim().chars().take(2000).collect::<String>();
    let decided = console
        .db(move |db| {
            let Some(current) = unblock::get(db, id)? else {
                return Ok(Err(ConsoleError::NotFound));
            };
            if current.status != UnblockStatus::Pending {
                return Ok(Err(bad(format!(
                    "this request is already {}",
                    current.status.as_str()
                ))));
            }
            if to == UnblockStatus::Approved && current.request.revert_us <= now {
                return Ok(Err(bad(
                    "its reversion date has passed; ask for a new request",
                )));
            }
            if !unblock::decide(db, id, UnblockStatus::Pending, to, &actor, &note, now)? {
                return Ok(Err(bad("someone else decided this request first")));
            }
            db.append_audit(&AuditEntry {
                time_us: now,
                actor: actor.clone(),
                action: format!("unblock.{}", to.as_str()),
                object: format!("unblock:{id}"),
                before: Some("pending".into()),
                after: Some(to.as_str().into()),
                reason: Some(note.clone()),
            })?;
            Ok(unblock::get(db, id)?.ok_or(ConsoleError::NotFound))
        })
        .await??;
    if to == UnblockStatus::Approved {
        console.reload_policy();
    }
    Ok(decided)
}

pub async fn list_unblocks(
    console: &Console,
    filter: UnblockFilter,
) -> Result<Vec<Unblock>, ConsoleError> {
    console.db(move |db| unblock::list(db, &filter)).await
}

/// A user as a form or the API gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct UserInput {
    /// For a guest, empty makes a temporary ID (`guest-…`).
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `pupil`, `staff` or `guest`.
    pub kind: String,
    #[serde(default)]
    pub year_group: Option<String>,
    /// A console role, or empty for none.
    #[serde(default)]
    pub console_role: Option<String>,
    /// Needed for a console role or proxy sign-in.
    #[serde(default)]
    pub password: Option<String>,
    /// When a guest stops working.
    #[serde(default)]
    pub expires: Option<String>,
}

pub const MIN_PASSWORD: usize = 12;

pub fn check_username(username: &str) -> Result<(), ConsoleError> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "a username is 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

pub fn check_password(password: &str) -> Result<(), ConsoleError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(bad(format!(
            "a password has at least {MIN_PASSWORD} characters"
        )));
    }
    if password.len() > 1024 {
        return Err(bad("the password is too long"));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, ConsoleError> {
    tokio::task::spawn_blocking(move || people::hash_password(&password))
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?
        .map_err(ConsoleError::Internal)
}

/// A user just added; a guest's generated ID and password are shown once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AddedUser {
    pub id: i64,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

/// `n` characters from an alphabet with no look-alikes (no 0/o, 1/l).
fn readable_random(n: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub async fn add_user(
    console: &Console,
    who: &HalfSigned,
    mut input: UserInput,
) -> Result<AddedUser, ConsoleError> {
    let mut generated_password = None;
    if input.kind == "guest" {
        // Temporary IDs, as the schools' policies describe for trainee
        // teachers and visitors.
        if input.username.trim().is_empty() {
            input.username = format!("guest-{}", readable_random(6));
        }
        if non_empty(&input.password).is_none() && non_empty(&input.console_role).is_none() {
            let p = readable_random(14);
            input.password = Some(p.clone());
            generated_password = Some(p);
        }
    }
    let username = input.username.trim().to_string();
    check_username(&username)?;
    if !matches!(input.kind.as_str(), "pupil" | "staff" | "guest") {
        return Err(bad("a user is a pupil, staff or a guest"));
    }
    let role = match non_empty(&input.console_role) {
        Some(r) => Some(Role::parse(&r).ok_or_else(|| bad(format!("there is no role {r:?}")))?),
        None => None,
    };
    if role.is_some() && input.kind == "pupil" {
        return Err(bad("pupils cannot sign in to the console"));
    }
    let password = non_empty(&input.password);
    if role.is_some() && password.is_none() {
        return Err(bad("a console account needs a password"));
    }
    let expires_us = match non_empty(&input.expires) {
        Some(e) => Some(parse_when(&e, &console.options.timezone).map_err(bad)?),
        None => None,
    };
    if input.kind == "guest" && expires_us.is_none() {
        return Err(bad("a guest account needs an expiry date"));
    }
    let password_hash = match password {
        Some(p) => {
            check_password(&p)?;
            Some(hash(p).await?)
        }
        None => None,
    };
    let user = NewUser {
        username: username.clone(),
        display_name: non_empty(&input.display_name),
        kind: input.kind.clone(),
        console_role: role.map(|r| r.as_str().to_string()),
        password_hash,
        expires_us,
        year_group: non_empty(&input.year_group),
    };
    let actor = who.actor();
    let now = now_us();
    let id = console
        .db(move |db| {
            let id = people::add_user(db, &user, now)?;
            // Never the password or its hash.
            let after = serde_json::json!({
                "username": user.username,
                "display_name": user.display_name,
                "kind": user.kind,
                "console_role": user.console_role,
                "year_group": user.year_group,
                "expires_us": user.expires_us,
                "password": user.password_hash.is_some(),
            });
            db.append_audit(&AuditEntry {
                time_us: now,
                actor,
                action: "user.add".into(),
                object: format!("user:{}", user.username),
                before: None,
                after: Some(after.to_string()),
                reason: None,
            })?;
            Ok(id)
        })
        .await
        .map_err(|e| match e {
            ConsoleError::Store(tutela_store::StoreError::Invalid(m)) => bad(m),
            other => other,
        })?;
    Ok(AddedUser {
        id,
        username,
        generated_password,
    })
}

pub async fn audit(console: &Console, limit: usize) -> Result<Vec<AuditEntry>, ConsoleError> {
    console.db(move |db| db.audit_log(limit)).await
}

/// What an import did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportOutcome {
    #[serde(flatten)]
    pub plan: crate::import::ImportPlan,
    /// Users added (0 for a preview, or a refused file).
    pub imported: usize,
}

/// Checks a CSV export and, unless `dry_run`, imports it: all rows if all
/// are valid, only the valid ones if `confirm_partial`, else nothing.
pub async fn import_users(
    console: &Console,
    who: &HalfSigned,
    data: Vec<u8>,
    default_kind: &str,
    confirm_partial: bool,
    dry_run: bool,
) -> Result<ImportOutcome, ConsoleError> {
    if !matches!(default_kind, "pupil" | "staff") {
        return Err(bad("the default kind is pupil or staff"));
    }
    let default_kind = default_kind.to_string();
    let actor = who.actor();
    let now = now_us();
    console
        .db(move |db| {
            let existing: std::collections::HashSet<String> =
                people::users(db)?.into_iter().map(|u| u.username).collect();
            let plan = match crate::import::plan(&data, &default_kind, &|u| existing.contains(u)) {
                Ok(p) => p,
                Err(e) => return Ok(Err(bad(e.to_string()))),
            };
            if dry_run {
                return Ok(Ok(ImportOutcome { plan, imported: 0 }));
            }
            if !plan.errors.is_empty() && !confirm_partial {
                return Ok(Err(bad(format!(
                    "{} rows have errors, so nothing was imported; fix the file, or confirm that only the {} valid rows should be imported",
                    plan.errors.len(),
                    plan.valid_rows
                ))));
            }
            let imported = people::add_users(db, &plan.valid, now)?;
            db.append_audit(&AuditEntry {
                time_us: now,
                actor,
                action: "users.import".into(),
                object: "users".into(),
                before: None,
                after: Some(
                    serde_json::json!({
                        "imported": imported,
                        "usernames": plan.usernames,
                        "rows_with_errors": plan.errors.len(),
                    })
                    .to_string(),
                ),
                reason: None,
            })?;
            Ok(Ok(ImportOutcome { plan, imported }))
        })
        .await?
}

/// A subnet mapping as a form or the API gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct SubnetInput {
    /// `10.0.7.0/24`, or one address.
    pub subnet: String,
    pub group: String,
    #[serde(default)]
    pub site: Option<String>,
}

/// A device as a form or the API gives it.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceInput {
    pub name: String,
    /// The username of whoever uses it.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub site: Option<String>,
}

pub(crate) fn audit_entry(
    actor: String,
    action: &str,
    object: String,
    before: Option<String>,
    after: Option<String>,
) -> AuditEntry {
    AuditEntry {
        time_us: now_us(),
        actor,
        action: action.into(),
        object,
        before,
        after,
        reason: None,
    }
}

pub async fn add_subnet(
    console: &Console,
    who: &HalfSigned,
    input: SubnetInput,
) -> Result<i64, ConsoleError> {
    let text = input.subnet.trim();
    let subnet: ipnet::IpNet = text
        .parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            bad(format!(
                "{text:?} is not a subnet like 10.0.7.0/24 or an address"
            ))
        })?;
    let subnet = subnet.trunc().to_string();
    let group = input.group.trim().to_string();
    if console.engine.snapshot().group_named(&group).is_none() {
        return Err(bad(format!("there is no group {group:?}")));
    }
    let site = non_empty(&input.site);
    if let Some(s) = &site {
        clean_name(s, "site")?;
    }
    let actor = who.actor();
    let id = console
        .db(move |db| {
            let id = tutela_store::identities::add_subnet(db, &subnet, &group, site.as_deref())?;
            let after =
                serde_json::json!({"subnet": subnet, "group": group, "site": site}).to_string();
            db.append_audit(&audit_entry(
                actor,
                "subnet.add",
                format!("subnet:{id}"),
                None,
                Some(after),
            ))?;
            Ok(id)
        })
        .await?;
    console.reload_policy();
    Ok(id)
}

fn clean_name(text: &str, what: &str) -> Result<(), ConsoleError> {
    if text.is_empty() || text.len() > 100 || text.chars().any(char::is_control) {
        return Err(bad(format!(
            "a {what} name is 1 to 100 characters with no control characters"
        )));
    }
    Ok(())
}

/// Adds a device with a new DoH token; returns its id and token.
pub async fn add_device(
    console: &Console,
    who: &HalfSigned,
    input: DeviceInput,
) -> Result<(i64, String), ConsoleError> {
    let name = input.name.trim().to_string();
    clean_name(&name, "device")?;
    let owner = non_empty(&input.owner);
    let site = non_empty(&input.site);
    if let Some(s) = &site {
        clean_name(s, "site")?;
    }
    let token = crate::auth::random_token();
    let actor = who.actor();
    let stored_token = token.clone();
    let id = console
        .db(move |db| {
            let id = tutela_store::identities::add_device(db, &name, owner.as_deref(), site.as_deref(), &stored_token, now_us())?;
            // The token is a secret: the audit log says one was made, not what.
            let after = serde_json::json!({"name": name, "owner": owner, "site": site, "doh_token": "(new)"}).to_string();
            db.append_audit(&audit_entry(actor, "device.add", format!("device:{name}"), None, Some(after)))?;
            Ok(id)
        })
        .await
        .map_err(|e| match e {
            ConsoleError::Store(tutela_store::StoreError::Invalid(m)) => bad(m),
            other => other,
        })?;
    console.reload_policy();
    Ok((id, token))
}

/// What can be removed from the networks page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkItem {
    Subnets,
    Devices,
}

/// Removes a subnet mapping or a device, audits it, and rebuilds the
/// policy.
pub async fn remove_from_network(
    console: &Console,
    who: &HalfSigned,
    item: NetworkItem,
    id: i64,
) -> Result<(), ConsoleError> {
    use tutela_store::identities;
    let actor = who.actor();
    let removed = console
        .db(move |db| {
            // What the audit log keeps of it: never a device's token.
            let (object, before) = match item {
                NetworkItem::Subnets => {
                    let Some(row) = identities::subnets(db)?.into_iter().find(|r| r.id == id)
                    else {
                        return Ok(false);
                    };
                    identities::remove_subnet(db, id)?;
                    (format!("subnet:{id}"), serde_json::to_string(&row).ok())
                }
                NetworkItem::Devices => {
                    let Some(row) = identities::devices(db)?.into_iter().find(|r| r.id == id)
                    else {
                        return Ok(false);
                    };
                    identities::remove_device(db, id)?;
                    let before =
                        serde_json::json!({"name": row.name, "owner": row.owner, "site": row.site});
                    (format!("device:{}", row.name), Some(before.to_string()))
                }
            };
            let action = match item {
                NetworkItem::Subnets => "subnet.remove",
                NetworkItem::Devices => "device.remove",
            };
            db.append_audit(&audit_entry(actor, action, object, before, None))?;
            Ok(true)
        })
        .await?;
    if !removed {
        return Err(ConsoleError::NotFound);
    }
    console.reload_policy();
    Ok(())
}

/// The configured policy (file plus store), read off the async threads.
pub async fn configured_policy(
    console: &Console,
) -> Result<tutela_policy::PolicyConfig, ConsoleError> {
    let source = console.options.policy.clone();
    tokio::task::spawn_blocking(move || source())
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))
}

pub fn check_group_name(name: &str) -> Result<(), ConsoleError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "a group name is 1 to 40 lower-case letters, digits, '-' or '_'",
        ))
    }
}

/// Saves a group's policy after building a trial snapshot with it over the
/// lists in use, so a policy that would not load is never stored.
pub async fn save_group(
    console: &Console,
    who: &HalfSigned,
    name: &str,
    group: tutela_policy::config::GroupConfig,
) -> Result<Vec<String>, ConsoleError> {
    check_group_name(name)?;
    let mut policy = configured_policy(console).await?;
    let before = policy.groups.get(name).cloned();
    policy.groups.insert(name.to_string(), group.clone());
    let (index, illegal) = console.engine.snapshot().lists();
    let trial = tokio::task::spawn_blocking(move || {
        tutela_policy::Snapshot::build(&policy, index, illegal)
    })
    .await
    .map_err(|e| ConsoleError::Internal(e.to_string()))?
    .map_err(|e| bad(format!("this policy cannot be used: {e}")))?;
    let warnings: Vec<String> = trial
        .warnings()
        .iter()
        .filter(|w| w.contains(&format!("groups.{name}")))
        .cloned()
        .collect();
    let (actor, name) = (who.actor(), name.to_string());
    console
        .db(move |db| {
            let now = now_us();
            tutela_store::policies::save(db, &name, &group, &actor, now)?;
            db.append_audit(&AuditEntry {
                time_us: now,
                actor,
                action: if before.is_some() {
                    "policy.update"
                } else {
                    "policy.create"
                }
                .into(),
                object: format!("group:{name}"),
                before: before.and_then(|b| serde_json::to_string(&b).ok()),
                after: serde_json::to_string(&group).ok(),
                reason: None,
            })?;
            Ok(())
        })
        .await?;
    console.reload_policy();
    Ok(warnings)
}

/// What an administrator can do to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountChange {
    /// No sign-in, to the console or the proxy; sessions end.
    Disable,
    Enable,
    /// Their authenticator is lost: they enrol again at the next sign-in.
    ResetSecondFactor,
}

pub async fn change_account(
    console: &Console,
    who: &HalfSigned,
    user_id: i64,
    change: AccountChange,
) -> Result<(), ConsoleError> {
    if user_id == who.user.id && change == AccountChange::Disable {
        return Err(bad("you cannot disable your own account"));
    }
    let actor = who.actor();
    let done = console
        .db(move |db| {
            let Some(user) = people::user_by_id(db, user_id)? else {
                return Ok(false);
            };
            let (action, before, after) = match change {
                AccountChange::Disable => {
                    people::set_disabled(db, user_id, true)?;
                    people::end_sessions_of(db, user_id)?;
                    (
                        "user.disable",
                        user.disabled.to_string(),
                        "true".to_string(),
                    )
                }
                AccountChange::Enable => {
                    people::set_disabled(db, user_id, false)?;
                    (
                        "user.enable",
                        user.disabled.to_string(),
                        "false".to_string(),
                    )
                }
                AccountChange::ResetSecondFactor => {
                    people::clear_totp_secret(db, user_id)?;
                    people::end_sessions_of(db, user_id)?;
                    (
                        "user.reset_second_factor",
                        "enrolled".to_string(),
                        "not enrolled".to_string(),
                    )
                }
            };
            db.append_audit(&AuditEntry {
                time_us: now_us(),
                actor,
                action: action.into(),
                object: format!("user:{}", user.username),
                before: Some(before),
                after: Some(after),
                reason: None,
            })?;
            Ok(true)
        })
        .await?;
    if !done {
        return Err(ConsoleError::NotFound);
    }
    // Proxy sign-in reads enabled accounts from the policy.
    console.reload_policy();
    Ok(())
}
