//! The policy part of the configuration file, as written by people.
//!
//! Every field has a default, so an empty file is a working policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Groups, overrides, identity mappings and the time zone they are read in.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// IANA time zone for schedules (`Europe/London`).
    pub timezone: String,
    /// The group of clients that no mapping names.
    pub default_group: String,
    /// The built-in groups (`pupils`, `staff`, `guests`) are always there; a
    /// group of the same name in the file replaces one of them whole.
    #[serde(deserialize_with = "with_default_groups")]
    pub groups: BTreeMap<String, GroupConfig>,
    /// Temporary or individual allows and blocks, above group rules.
    pub overrides: Vec<OverrideConfig>,
    /// Which subnets belong to which group and site.
    pub identities: Vec<IdentityMapping>,
    /// Devices that carry their own identity, such as a laptop's DoH token.
    pub devices: Vec<DeviceConfig>,
    /// People who sign in to the proxy (the store's users with a password
    /// are added to these).
    pub accounts: Vec<AccountConfig>,
}

fn default_groups() -> BTreeMap<String, GroupConfig> {
    let mut groups = BTreeMap::new();
    groups.insert("pupils".to_string(), GroupConfig::default_pupils());
    groups.insert("staff".to_string(), GroupConfig::default_staff());
    groups.insert("guests".to_string(), GroupConfig::default_guests());
    groups
}

fn with_default_groups<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, GroupConfig>, D::Error> {
    let mut groups = default_groups();
    groups.extend(BTreeMap::<String, GroupConfig>::deserialize(d)?);
    Ok(groups)
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            timezone: "Europe/London".into(),
            default_group: "pupils".into(),
            groups: default_groups(),
            overrides: Vec::new(),
            identities: Vec::new(),
            devices: Vec::new(),
            accounts: Vec::new(),
        }
    }
}

/// Who a group is for. Pupils and guests get circumvention blocking by
/// default; staff do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Pupil,
    Staff,
    Guest,
}

/// Safe-search enforcement for one engine. Strict unless a group says
/// otherwise: a new group is safe until someone decides it need not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SafeSearchMode {
    Off,
    /// YouTube's moderate restriction. Google, Bing and DuckDuckGo have
    /// one enforced mode only, so for them this means strict.
    Moderate,
    #[default]
    Strict,
}

/// Safe search per engine; `safesearch = "strict"` sets all four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct SafeSearchConfig {
    pub google: SafeSearchMode,
    pub bing: SafeSearchMode,
    pub duckduckgo: SafeSearchMode,
    pub youtube: SafeSearchMode,
}

impl SafeSearchConfig {
    pub fn all(mode: SafeSearchMode) -> Self {
        SafeSearchConfig {
            google: mode,
            bing: mode,
            duckduckgo: mode,
            youtube: mode,
        }
    }
}

impl<'de> Deserialize<'de> for SafeSearchConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct PerEngine {
            #[serde(default)]
            google: SafeSearchMode,
            #[serde(default)]
            bing: SafeSearchMode,
            #[serde(default)]
            duckduckgo: SafeSearchMode,
            #[serde(default)]
            youtube: SafeSearchMode,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            All(SafeSearchMode),
            PerEngine(PerEngine),
        }
        Ok(match Either::deserialize(d)? {
            Either::All(mode) => SafeSearchConfig::all(mode),
            Either::PerEngine(p) => SafeSearchConfig {
                google: p.google,
                bing: p.bing,
                duckduckgo: p.duckduckgo,
                youtube: p.youtube,
            },
        })
    }
}

/// One group's policy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    pub description: String,
    pub role: Role,
    pub block_categories: Vec<String>,
    pub allow_categories: Vec<String>,
    /// Domains (with subdomains) or `host/path` prefixes always allowed.
    pub allow_sites: Vec<String>,
    pub block_sites: Vec<String>,
    /// Allow only what `allow_sites` and `allow_categories` name.
    pub walled_garden: bool,
    /// Block the DoH, VPN and proxy categories. Unset: on for pupils and
    /// guests, off for staff.
    pub block_circumvention: Option<bool>,
    pub safesearch: SafeSearchConfig,
    /// Windows of the week that change the rules above.
    pub schedule: Vec<ScheduleConfig>,
    /// How the DNS filter answers a blocked name.
    pub dns_block: DnsBlock,
    /// Let the proxy decrypt this group's HTTPS (except never-inspect
    /// sites), so it can filter by full URL and show block pages. Off
    /// unless a group asks: devices must first trust the school's CA.
    pub tls_inspection: bool,
}

/// The DNS answer to a blocked name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DnsBlock {
    /// The block page's address, so a browser shows why (the default).
    #[default]
    Page,
    /// `0.0.0.0` and `::`: nothing is reached and nothing is shown.
    Null,
    Nxdomain,
    Refused,
}

/// Categories that harm pupils; the defaults block them.
pub const PUPIL_BLOCKED: &[&str] = &[
    "adult",
    "agressif",
    "cryptojacking",
    "dangerous_material",
    "dating",
    "ddos",
    "drogue",
    "gambling",
    "hacking",
    "lingerie",
    "malware",
    "mixed_adult",
    "phishing",
    "sect",
    "stalkerware",
    "violence",
    "warez",
];

/// Categories that get round the filter.
pub const CIRCUMVENTION: &[&str] = &["doh", "vpn", "proxy", "residential-proxies"];

impl GroupConfig {
    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    pub fn default_pupils() -> Self {
        GroupConfig {
            description: "Pupils: age-appropriate filtering, safe search on".into(),
            role: Role::Pupil,
            block_categories: Self::strings(PUPIL_BLOCKED),
            safesearch: SafeSearchConfig::all(SafeSearchMode::Strict),
            ..Default::default()
        }
    }

    pub fn default_staff() -> Self {
        GroupConfig {
            description: "Staff: fewer blocks than pupils".into(),
            role: Role::Staff,
            block_categories: Self::strings(&[
                "adult",
                "cryptojacking",
                "ddos",
                "malware",
                "phishing",
                "stalkerware",
            ]),
            safesearch: SafeSearchConfig {
                youtube: SafeSearchMode::Moderate,
                ..SafeSearchConfig::all(SafeSearchMode::Strict)
            },
            ..Default::default()
        }
    }

    pub fn default_guests() -> Self {
        GroupConfig {
            description: "Guest Wi-Fi: as pupils".into(),
            role: Role::Guest,
            ..Self::default_pupils()
        }
    }
}

/// A weekly window: on `days`, from `from` until `to` (local time,
/// `HH:MM`; a window may run past midnight).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// `mon`..`sun`, or `weekdays`, `weekends`, `all`.
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
    pub allow_categories: Vec<String>,
    pub block_categories: Vec<String>,
    pub allow_sites: Vec<String>,
    pub block_sites: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverrideAction {
    Allow,
    Block,
}

/// A temporary or individual change, as change control records it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideConfig {
    /// A domain (with subdomains) or a `host/path` prefix.
    pub site: String,
    pub action: OverrideAction,
    /// Limit to one group; neither `group` nor `user` means everyone.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// RFC 3339; active from then (always, if absent).
    #[serde(default)]
    pub from: Option<String>,
    /// RFC 3339; reverts then (never, if absent).
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub requested_by: Option<String>,
}

/// A device with its own identity. Its DoH token (`/dns-query/<token>`)
/// says who is asking wherever the device is, so laptops are filtered
/// off-site too.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub name: String,
    /// A secret of at least 16 characters from `[A-Za-z0-9_-]`.
    pub doh_token: String,
    /// The device's owner.
    #[serde(default)]
    pub user: Option<String>,
    /// The owner's group; the default group if unset.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub site: Option<String>,
}

impl DeviceConfig {
    /// Whether `token` is long and plain enough to be a DoH token: a URL
    /// path segment that cannot be guessed.
    pub fn token_is_valid(token: &str) -> bool {
        token.len() >= 16
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }
}

/// A person who signs in to the proxy with a password.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub username: String,
    /// An argon2id hash in PHC form (`$argon2id$v=19$...`); never the
    /// password itself.
    pub password_hash: String,
    /// The user's group; the default group if unset.
    #[serde(default)]
    pub group: Option<String>,
    /// RFC 3339; the account stops signing in then (guests).
    #[serde(default)]
    pub expires: Option<String>,
}

impl std::fmt::Debug for AccountConfig {
    // Hashes stay out of logs and error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("username", &self.username)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// A subnet's group and site.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityMapping {
    pub subnet: ipnet::IpNet,
    pub group: String,
    #[serde(default)]
    pub site: Option<String>,
}
