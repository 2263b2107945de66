//! An immutable, compiled policy, and `decide`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tutela_lists::format::{parse_line, Format, Line};
use tutela_lists::{CategoryMask, Index, IndexBuilder, Usage};

use crate::config::{
    DeviceConfig, DnsBlock, GroupConfig, OverrideAction, PolicyConfig, Role, SafeSearchConfig,
    ScheduleConfig, CIRCUMVENTION,
};
use crate::safesearch::{enforce, engine_of};
use crate::target::Target;
use crate::verdict::{Action, Rule, Verdict};

/// Why a policy could not be built. Each names the part of the config at
/// fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy.timezone: unknown time zone `{0}`")]
    TimeZone(String),
    #[error("policy.default_group: no group named `{0}`")]
    DefaultGroup(String),
    #[error("{place}: no group named `{group}`")]
    UnknownGroup { place: String, group: String },
    #[error("{place}: bad site `{site}`: {reason}")]
    Site {
        place: String,
        site: String,
        reason: String,
    },
    #[error("{place}: bad time `{value}` (want HH:MM)")]
    Time { place: String, value: String },
    #[error("{place}: bad day `{value}` (want mon..sun, weekdays, weekends or all)")]
    Day { place: String, value: String },
    #[error("{place}: bad timestamp `{value}` (want RFC 3339): {reason}")]
    Timestamp {
        place: String,
        value: String,
        reason: String,
    },
    #[error("{place}: a DoH token needs at least 16 characters from A-Z, a-z, 0-9, - and _")]
    DeviceToken { place: String },
    #[error("{place}: this DoH token is already another device's")]
    DuplicateToken { place: String },
    #[error("{place}: `{category}` is an illegal-content tier list; nothing can allow it")]
    IllegalAllowed { place: String, category: String },
}

/// Who is asking.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<'a> {
    /// The group name; unknown or absent means the default group.
    pub group: Option<&'a str>,
    pub user: Option<&'a str>,
}

/// Compiled site lists of a group or window: one category, "listed".
struct Sites(Index);

impl Sites {
    fn build(place: &str, sites: &[String]) -> Result<Sites, PolicyError> {
        let mut b = IndexBuilder::new(sites.len());
        let id = b
            .categories_mut()
            .intern("listed", Usage::Black)
            .map_err(|e| site_error(place, "", e.to_string()))?;
        for site in sites {
            match parse_line(Format::Urls, site) {
                Ok(Line::Domain(host)) => b
                    .add_domain(&host, id)
                    .map_err(|e| site_error(place, site, e.to_string()))?,
                Ok(Line::UrlPrefix(host, path)) => b.add_url_prefix(&host, &path, id),
                Ok(_) => return Err(site_error(place, site, "empty".into())),
                Err(e) => return Err(site_error(place, site, e.to_string())),
            }
        }
        Ok(Sites(b.finish()))
    }

    fn is_empty(&self) -> bool {
        self.0.domain_count() == 0 && self.0.url_prefix_count() == 0
    }

    /// The entry that lists `target`, if one does.
    fn find(&self, target: &Target) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let m = self.0.lookup(target.key(), target.path());
        m.hits.first().map(|h| h.entry.to_string())
    }
}

fn site_error(place: &str, site: &str, reason: String) -> PolicyError {
    PolicyError::Site {
        place: place.to_string(),
        site: site.to_string(),
        reason,
    }
}

struct Window {
    days: [bool; 7],
    from: Time,
    to: Time,
    allow: CategoryMask,
    block: CategoryMask,
    allow_sites: Sites,
    block_sites: Sites,
}

impl Window {
    fn active(&self, weekday: Weekday, time: Time) -> bool {
        let day = weekday.to_monday_zero_offset() as usize;
        if self.from <= self.to {
            self.days[day] && self.from <= time && time < self.to
        } else {
            // Past midnight: the part after midnight belongs to the day before.
            let yesterday = (day + 6) % 7;
            (self.days[day] && time >= self.from) || (self.days[yesterday] && time < self.to)
        }
    }
}

/// A device known by its DoH token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub user: Option<String>,
    pub group: usize,
    pub site: Option<String>,
}

/// A person who signs in to the proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// An argon2id hash in PHC form.
    pub password_hash: String,
    pub group: usize,
    /// No sign-in from then on.
    pub expires: Option<Timestamp>,
}

impl Account {
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// One group, compiled.
pub struct Group {
    pub name: String,
    pub role: Role,
    pub dns_block: DnsBlock,
    pub tls_inspection: bool,
    allow: CategoryMask,
    block: CategoryMask,
    allow_sites: Sites,
    block_sites: Sites,
    walled_garden: bool,
    safesearch: SafeSearchConfig,
    windows: Vec<Window>,
}

struct Override {
    sites: Sites,
    action: OverrideAction,
    group: Option<usize>,
    user: Option<String>,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
}

/// Names that make clients give up on their own encrypted DNS and fall back
/// to the school's: Firefox's DoH canary, and iCloud Private Relay.
pub const CIRCUMVENTION_CANARIES: &[&str] = &[
    "use-application-dns.net",
    "mask.icloud.com",
    "mask-h2.icloud.com",
];

/// A compiled policy. Immutable; swapped whole by [`crate::Engine`].
pub struct Snapshot {
    pub(crate) generation: u64,
    index: Arc<Index>,
    illegal: Arc<Index>,
    groups: Vec<Group>,
    group_by_name: HashMap<String, usize>,
    default_group: usize,
    overrides: Vec<Override>,
    /// Every override's sites together, to skip the overrides quickly.
    override_sites: Sites,
    identities: Vec<(ipnet::IpNet, usize, Option<String>)>,
    devices: HashMap<String, Device>,
    accounts: HashMap<String, Account>,
    timezone: TimeZone,
    warnings: Vec<String>,
}

fn masks(
    index: &Index,
    illegal: &Index,
    place: &str,
    names: &[String],
    allowing: bool,
    warnings: &mut Vec<String>,
) -> Result<CategoryMask, PolicyError> {
    let mut mask = CategoryMask::EMPTY;
    let mut unknown = Vec::new();
    for name in names {
        if allowing && illegal.categories().get(name).is_some() {
            return Err(PolicyError::IllegalAllowed {
                place: place.to_string(),
                category: name.clone(),
            });
        }
        match index.categories().get(name) {
            Some(id) => mask.insert(id),
            None => unknown.push(name.as_str()),
        }
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "{place}: no loaded list has the categories {}; they match nothing for now",
            unknown.join(", ")
        ));
    }
    Ok(mask)
}

fn parse_time(place: &str, value: &str) -> Result<Time, PolicyError> {
    let err = || PolicyError::Time {
        place: place.to_string(),
        value: value.to_string(),
    };
    let (h, m) = value.split_once(':').ok_or_else(err)?;
    let h: i8 = h.trim().parse().map_err(|_| err())?;
    let m: i8 = m.trim().parse().map_err(|_| err())?;
    if h == 24 && m == 0 {
        return Ok(Time::MAX);
    }
    Time::new(h, m, 0, 0).map_err(|_| err())
}

fn parse_days(place: &str, days: &[String]) -> Result<[bool; 7], PolicyError> {
    let mut out = [false; 7];
    if days.is_empty() {
        return Ok([true; 7]);
    }
    for d in days {
        let range: &[usize] = match d.to_ascii_lowercase().as_str() {
            "mon" | "monday" => &[0],
            "tue" | "tuesday" => &[1],
            "wed" | "wednesday" => &[2],
            "thu" | "thursday" => &[3],
            "fri" | "friday" => &[4],
            "sat" | "saturday" => &[5],
            "sun" | "sunday" => &[6],
            "weekdays" => &[0, 1, 2, 3, 4],
            "weekends" => &[5, 6],
            "all" => &[0, 1, 2, 3, 4, 5, 6],
            _ => {
                return Err(PolicyError::Day {
                    place: place.to_string(),
                    value: d.clone(),
                })
            }
        };
        for &i in range {
            out[i] = true;
        }
    }
    Ok(out)
}

fn parse_timestamp(place: &str, value: &Option<String>) -> Result<Option<Timestamp>, PolicyError> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<Timestamp>().map_err(|e| PolicyError::Timestamp {
                place: place.to_string(),
                value: v.to_string(),
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// Whether `site` can be an override or site-list entry: a domain (with
/// its subdomains) or a `host/path` prefix.
pub fn validate_site(site: &str) -> Result<(), PolicyError> {
    Sites::build("site", &[site.to_string()]).map(|_| ())
}

/// A verdict in words: see [`Snapshot::explain`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    pub target: String,
    /// `allow`, `block` or `safesearch`.
    pub action: &'static str,
    /// Every category the target is in.
    pub categories: Vec<String>,
    pub rule: &'static str,
    /// Why, in a sentence.
    pub reason: String,
    /// The list or rule entry that matched.
    pub entry: Option<String>,
    /// The group whose policy applied.
    pub group: String,
    /// The safe host a search engine is sent to.
    pub safesearch: Option<&'static str>,
    /// False for the illegal-content tier, which nobody can override.
    pub overridable: bool,
}

impl Snapshot {
    /// Compiles `config` against the category `index` and the `illegal`
    /// tier. Category names that no list provides are warnings, not errors:
    /// a list may be briefly unavailable.
    pub fn build(
        config: &PolicyConfig,
        index: Arc<Index>,
        illegal: Arc<Index>,
    ) -> Result<Snapshot, PolicyError> {
        let timezone = TimeZone::get(&config.timezone)
            .map_err(|_| PolicyError::TimeZone(config.timezone.clone()))?;
        let mut warnings = Vec::new();
        let mut groups = Vec::new();
        let mut group_by_name = HashMap::new();
        for (name, g) in &config.groups {
            let place = format!("groups.{name}");
            group_by_name.insert(name.clone(), groups.len());
            groups.push(Self::build_group(
                &place,
                name,
                g,
                &index,
                &illegal,
                &mut warnings,
            )?);
        }
        let default_group = *group_by_name
            .get(&config.default_group)
            .ok_or_else(|| PolicyError::DefaultGroup(config.default_group.clone()))?;
        let group_index = |place: &str, name: &str| {
            group_by_name
                .get(name)
                .copied()
                .ok_or_else(|| PolicyError::UnknownGroup {
                    place: place.to_string(),
                    group: name.to_string(),
                })
        };
        let mut overrides = Vec::new();
        let mut all_override_sites = Vec::new();
        for (i, o) in config.overrides.iter().enumerate() {
            let place = format!("overrides[{i}]");
            overrides.push(Override {
                sites: Sites::build(&place, std::slice::from_ref(&o.site))?,
                action: o.action,
                group: o
                    .group
                    .as_deref()
                    .map(|g| group_index(&place, g))
                    .transpose()?,
                user: o.user.clone(),
                from: parse_timestamp(&place, &o.from)?,
                until: parse_timestamp(&place, &o.until)?,
            });
            all_override_sites.push(o.site.clone());
        }
        let mut identities = Vec::new();
        for (i, m) in config.identities.iter().enumerate() {
            let place = format!("identities[{i}]");
            identities.push((m.subnet, group_index(&place, &m.group)?, m.site.clone()));
        }
        let mut devices = HashMap::new();
        for (i, d) in config.devices.iter().enumerate() {
            let place = format!("devices[{i}]");
            if !DeviceConfig::token_is_valid(&d.doh_token) {
                return Err(PolicyError::DeviceToken { place });
            }
            let device = Device {
                name: d.name.clone(),
                user: d.user.clone(),
                group: match &d.group {
                    Some(g) => group_index(&place, g)?,
                    None => default_group,
                },
                site: d.site.clone(),
            };
            if devices.insert(d.doh_token.clone(), device).is_some() {
                return Err(PolicyError::DuplicateToken { place });
            }
        }
        let mut accounts = HashMap::new();
        for (i, a) in config.accounts.iter().enumerate() {
            let place = format!("accounts[{i}]");
            let group = match &a.group {
                Some(g) => group_index(&place, g)?,
                None => default_group,
            };
            let expires = a
                .expires
                .as_deref()
                .map(|t| {
                    t.parse::<Timestamp>().map_err(|e| PolicyError::Timestamp {
                        place: format!("{place}.expires"),
                        value: t.to_string(),
                        reason: e.to_string(),
                    })
                })
                .transpose()?;
            accounts.insert(
                a.username.clone(),
                Account {
                    password_hash: a.password_hash.clone(),
                    group,
                    expires,
                },
            );
        }
        // Longest prefix first, so the first containing subnet is the best.
        identities.sort_by_key(|(net, _, _)| std::cmp::Reverse(net.prefix_len()));
        if illegal.domain_count() == 0 && illegal.url_prefix_count() == 0 {
            warnings.push(
                "illegal-content tier is empty: configure the IWF and CTIRU lists under [[illegal]]"
                    .to_string(),
            );
        }
        Ok(Snapshot {
            generation: 0,
            override_sites: Sites::build("overrides", &all_override_sites)?,
            index,
            illegal,
            groups,
            group_by_name,
            default_group,
            overrides,
            identities,
            devices,
            accounts,
            timezone,
            warnings,
        })
    }

    fn build_group(
        place: &str,
        name: &str,
        g: &GroupConfig,
        index: &Index,
        illegal: &Index,
        warnings: &mut Vec<String>,
    ) -> Result<Group, PolicyError> {
        let mut block = masks(index, illegal, place, &g.block_categories, false, warnings)?;
        let allow = masks(index, illegal, place, &g.allow_categories, true, warnings)?;
        let circumvention = g
            .block_circumvention
            .unwrap_or(matches!(g.role, Role::Pupil | Role::Guest));
        if circumvention {
            for c in CIRCUMVENTION {
                if let Some(id) = index.categories().get(c) {
                    block.insert(id);
                }
            }
        }
        let mut windows = Vec::new();
        for (i, w) in g.schedule.iter().enumerate() {
            windows.push(Self::build_window(
                &format!("{place}.schedule[{i}]"),
                w,
                index,
                illegal,
                warnings,
            )?);
        }
        Ok(Group {
            name: name.to_string(),
            role: g.role,
            dns_block: g.dns_block,
            tls_inspection: g.tls_inspection,
            allow,
            block,
            allow_sites: Sites::build(&format!("{place}.allow_sites"), &g.allow_sites)?,
            block_sites: Sites::build(&format!("{place}.block_sites"), &g.block_sites)?,
            walled_garden: g.walled_garden,
            safesearch: g.safesearch,
            windows,
        })
    }

    fn build_window(
        place: &str,
        w: &ScheduleConfig,
        index: &Index,
        illegal: &Index,
        warnings: &mut Vec<String>,
    ) -> Result<Window, PolicyError> {
        Ok(Window {
            days: parse_days(place, &w.days)?,
            from: parse_time(place, &w.from)?,
            to: parse_time(place, &w.to)?,
            allow: masks(index, illegal, place, &w.allow_categories, true, warnings)?,
            block: masks(index, illegal, place, &w.block_categories, false, warnings)?,
            allow_sites: Sites::build(&format!("{place}.allow_sites"), &w.allow_sites)?,
            block_sites: Sites::build(&format!("{place}.block_sites"), &w.block_sites)?,
        })
    }

    /// Problems worth telling an administrator that did not stop the build.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The compiled category lists and illegal tier, to build a snapshot
    /// with new rules but the same lists.
    pub fn lists(&self) -> (Arc<Index>, Arc<Index>) {
        (self.index.clone(), self.illegal.clone())
    }

    pub fn illegal(&self) -> &Index {
        &self.illegal
    }

    pub fn group(&self, i: usize) -> Option<&Group> {
        self.groups.get(i)
    }

    /// Every group's name, in order.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.name.clone()).collect()
    }

    pub fn group_named(&self, name: &str) -> Option<usize> {
        self.group_by_name.get(name).copied()
    }

    pub fn default_group(&self) -> usize {
        self.default_group
    }

    /// The device whose DoH token this is.
    pub fn device_by_token(&self, token: &str) -> Option<&Device> {
        self.devices.get(token)
    }

    /// The proxy account of `username`, if there is one.
    pub fn account(&self, username: &str) -> Option<&Account> {
        self.accounts.get(username)
    }

    /// The group and site of a client address, by the most specific mapping.
    pub fn identify(&self, ip: IpAddr) -> (usize, Option<&str>) {
        self.mapped(ip).unwrap_or((self.default_group, None))
    }

    /// The group and site of a client address if a mapping names it.
    pub fn mapped(&self, ip: IpAddr) -> Option<(usize, Option<&str>)> {
        let ip = ip.to_canonical();
        self.identities
            .iter()
            .find(|(net, _, _)| net.contains(&ip))
            .map(|(_, g, site)| (*g, site.as_deref()))
    }

    /// The group and site of a client a listener may serve: one a mapping
    /// names, or one inside `allowed` (which gets the default group).
    /// `None` for everyone else, so no listener is ever open to the world.
    pub fn served_client(
        &self,
        ip: IpAddr,
        allowed: &[ipnet::IpNet],
    ) -> Option<(usize, Option<&str>)> {
        let ip = ip.to_canonical();
        self.mapped(ip).or_else(|| {
            allowed
                .iter()
                .any(|n| n.contains(&ip))
                .then_some((self.default_group, None))
        })
    }

    /// Decides what `identity` may do with `target` at `at`.
    ///
    /// Precedence: the illegal tier, then overrides, then the built-in
    /// circumvention rules, then the group's allows, then its blocks, then
    /// its default. An allowed search engine is then held to its safe mode.
    pub fn decide(&self, identity: &Identity<'_>, target: &Target, at: Timestamp) -> Verdict {
        let group_ix = identity
            .group
            .and_then(|g| self.group_by_name.get(g).copied())
            .unwrap_or(self.default_group);
        let key = target.key();
        let path = target.path();
        let verdict = |action, categories, deciding, rule, entry: Option<String>| Verdict {
            action,
            categories,
            deciding,
            rule,
            entry: entry.map(String::into_boxed_str),
            safesearch: None,
            group: group_ix,
            generation: self.generation,
        };

        // 1. The illegal tier: first, and nothing below can undo it.
        let illegal = self.illegal.lookup(key, path);
        if !illegal.is_empty() {
            let entry = illegal.hits.first().map(|h| h.entry.to_string());
            return verdict(
                Action::Block,
                illegal.categories,
                illegal.categories,
                Rule::Illegal,
                entry,
            );
        }

        let matches = self.index.lookup(key, path);
        let categories = matches.categories;

        // 2. Overrides: a user's beats a group's beats everyone's; at the same
        // reach, a block beats an allow.
        if let Some((i, entry)) = self.matching_override(group_ix, identity.user, target, at) {
            let action = match self.overrides[i].action {
                OverrideAction::Allow => Action::Allow,
                OverrideAction::Block => Action::Block,
            };
            let v = verdict(
                action,
                categories,
                CategoryMask::EMPTY,
                Rule::Override(i),
                Some(entry),
            );
            return self.with_safesearch(v, group_ix, target);
        }

        // 3. Built-in circumvention canaries.
        if !key.is_ip && CIRCUMVENTION_CANARIES.contains(&key.key) {
            return verdict(
                Action::Block,
                categories,
                CategoryMask::EMPTY,
                Rule::Circumvention,
                Some(key.key.to_string()),
            );
        }

        let Some(group) = self.groups.get(group_ix) else {
            return verdict(
                Action::Allow,
                categories,
                CategoryMask::EMPTY,
                Rule::Default,
                None,
            );
        };
        let (allow, block, windows) = self.effective(group, at);

        // 4. Group allows.
        let site = group
            .allow_sites
            .find(target)
            .or_else(|| windows.iter().find_map(|w| w.allow_sites.find(target)));
        if let Some(entry) = site {
            let v = verdict(
                Action::Allow,
                categories,
                CategoryMask::EMPTY,
                Rule::GroupAllowSite,
                Some(entry),
            );
            return self.with_safesearch(v, group_ix, target);
        }
        let allowed = categories.intersection(allow);
        if !allowed.is_empty() {
            let entry = matches.hit_for(&allowed).map(|h| h.entry.to_string());
            let v = verdict(
                Action::Allow,
                categories,
                allowed,
                Rule::GroupAllowCategory,
                entry,
            );
            return self.with_safesearch(v, group_ix, target);
        }

        // 5. Group blocks.
        let site = group
            .block_sites
            .find(target)
            .or_else(|| windows.iter().find_map(|w| w.block_sites.find(target)));
        if let Some(entry) = site {
            return verdict(
                Action::Block,
                categories,
                CategoryMask::EMPTY,
                Rule::GroupBlockSite,
                Some(entry),
            );
        }
        let blocked = categories.intersection(block);
        if !blocked.is_empty() {
            let entry = matches.hit_for(&blocked).map(|h| h.entry.to_string());
            return verdict(
                Action::Block,
                categories,
                blocked,
                Rule::GroupBlockCategory,
                entry,
            );
        }

        // 6. The default.
        if group.walled_garden {
            return verdict(
                Action::Block,
                categories,
                CategoryMask::EMPTY,
                Rule::WalledGarden,
                None,
            );
        }
        let v = verdict(
            Action::Allow,
            categories,
            CategoryMask::EMPTY,
            Rule::Default,
            None,
        );
        self.with_safesearch(v, group_ix, target)
    }

    /// The group's category masks at `at`, with active windows applied: a
    /// window's allow lifts the base block, and its block lifts the base allow.
    fn effective<'g>(
        &self,
        group: &'g Group,
        at: Timestamp,
    ) -> (CategoryMask, CategoryMask, Vec<&'g Window>) {
        if group.windows.is_empty() {
            return (group.allow, group.block, Vec::new());
        }
        let local = at.to_zoned(self.timezone.clone());
        let (weekday, time) = (local.weekday(), local.time());
        let (mut allow, mut block) = (group.allow, group.block);
        let mut active = Vec::new();
        for w in group.windows.iter().filter(|w| w.active(weekday, time)) {
            allow = allow.difference(w.block).union(w.allow);
            block = block.difference(w.allow).union(w.block);
            active.push(w);
        }
        (allow, block, active)
    }

    fn matching_override(
        &self,
        group: usize,
        user: Option<&str>,
        target: &Target,
        at: Timestamp,
    ) -> Option<(usize, String)> {
        self.override_sites.find(target)?;
        let mut best: Option<(u8, bool, usize, String)> = None;
        for (i, o) in self.overrides.iter().enumerate() {
            if o.from.is_some_and(|f| at < f) || o.until.is_some_and(|u| at >= u) {
                continue;
            }
            let reach = match (&o.user, o.group) {
                (Some(u), _) if Some(u.as_str()) == user => 3,
                (Some(_), _) => continue,
                (None, Some(g)) if g == group => 2,
                (None, Some(_)) => continue,
                (None, None) => 1,
            };
            let Some(entry) = o.sites.find(target) else {
                continue;
            };
            let is_block = o.action == OverrideAction::Block;
            let better = match &best {
                None => true,
                Some((r, b, _, _)) => (reach, is_block) > (*r, *b),
            };
            if better {
                best = Some((reach, is_block, i, entry));
            }
        }
        best.map(|(_, _, i, e)| (i, e))
    }

    fn with_safesearch(&self, mut v: Verdict, group: usize, target: &Target) -> Verdict {
        if target.key().is_ip {
            return v;
        }
        let Some(g) = self.groups.get(group) else {
            return v;
        };
        if let Some(safe) = engine_of(target.host_str()).and_then(|e| enforce(&g.safesearch, e)) {
            v.action = Action::SafeSearch;
            v.safesearch = Some(safe);
        }
        v
    }

    /// The names of a verdict's categories, from the registry it refers to.
    pub fn category_names(&self, v: &Verdict, mask: &CategoryMask) -> Vec<String> {
        let registry = if v.rule == Rule::Illegal {
            self.illegal.categories()
        } else {
            self.index.categories()
        };
        registry
            .names(mask)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// A verdict spelled out for people and reports, as `tutela check`
    /// and the console's URL check show it.
    pub fn explain(&self, target: &str, v: &Verdict) -> Explanation {
        Explanation {
            target: target.to_string(),
            action: v.action.as_str(),
            categories: self.category_names(v, &v.categories),
            rule: v.rule.as_str(),
            reason: self.reason(v),
            entry: v.entry.as_deref().map(str::to_string),
            group: self
                .group(v.group)
                .map(|g| g.name.clone())
                .unwrap_or_default(),
            safesearch: v.safesearch.map(|s| s.safe_host),
            overridable: v.rule != Rule::Illegal,
        }
    }

    /// A sentence for people: why this verdict.
    pub fn reason(&self, v: &Verdict) -> String {
        let group = self
            .groups
            .get(v.group)
            .map(|g| g.name.as_str())
            .unwrap_or("?");
        let deciding = self.category_names(v, &v.deciding).join(", ");
        let entry = v.entry.as_deref().unwrap_or("");
        let base = match v.rule {
            Rule::Illegal => format!(
                "blocked: on the illegal-content list ({deciding}, entry {entry}); this cannot be overridden"
            ),
            Rule::Override(_) => format!(
                "{} by an override for {entry}",
                if v.action == Action::Block { "blocked" } else { "allowed" }
            ),
            Rule::Circumvention => format!(
                "blocked: {entry} would let the device bypass school filtering"
            ),
            Rule::GroupAllowSite => format!("allowed: {entry} is on the {group} allow list"),
            Rule::GroupAllowCategory => {
                format!("allowed: {deciding} is allowed for {group} (entry {entry})")
            }
            Rule::GroupBlockSite => format!("blocked: {entry} is on the {group} block list"),
            Rule::GroupBlockCategory => {
                format!("blocked: {deciding} is blocked for {group} (entry {entry})")
            }
            Rule::WalledGarden => {
                format!("blocked: {group} may reach only listed sites")
            }
            Rule::Default => format!("allowed: nothing blocks it for {group}"),
        };
        match v.safesearch {
            Some(s) => format!("{base}; safe search enforced via {}", s.safe_host),
            None => base,
        }
    }
}
