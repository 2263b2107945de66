//! The outcome of one decision.

use tutela_lists::CategoryMask;

use crate::safesearch::SafeSearch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Block,
    /// Allow, but only through the engine's safe mode.
    SafeSearch,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::SafeSearch => "safesearch",
        }
    }
}

/// Which rule decided, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The illegal-content tier. Nothing overrides it.
    Illegal,
    /// A temporary or individual override (its index in the policy).
    Override(usize),
    /// A built-in circumvention rule (DoH canary, iCloud Private Relay).
    Circumvention,
    GroupAllowSite,
    GroupAllowCategory,
    GroupBlockSite,
    GroupBlockCategory,
    /// The group allows only what it lists.
    WalledGarden,
    Default,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Illegal => "illegal-tier",
            Rule::Override(_) => "override",
            Rule::Circumvention => "circumvention",
            Rule::GroupAllowSite => "group-allow-site",
            Rule::GroupAllowCategory => "group-allow-category",
            Rule::GroupBlockSite => "group-block-site",
            Rule::GroupBlockCategory => "group-block-category",
            Rule::WalledGarden => "walled-garden",
            Rule::Default => "default",
        }
    }
}

/// A decision, with everything needed to explain and log it.
///
/// Category ids refer to the snapshot that made the verdict (the illegal
/// tier's own registry when `rule` is [`Rule::Illegal`]); use
/// [`crate::Snapshot::category_names`] and [`crate::Snapshot::reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    /// Every category the target is in.
    pub categories: CategoryMask,
    /// The categories that made the decision (a subset of `categories`).
    pub deciding: CategoryMask,
    pub rule: Rule,
    /// The list or rule entry that matched, as normalised.
    pub entry: Option<Box<str>>,
    /// Set when `action` is [`Action::SafeSearch`].
    pub safesearch: Option<SafeSearch>,
    /// The group whose policy applied.
    pub group: usize,
    /// The snapshot generation that decided.
    pub generation: u64,
}

impl Verdict {
    pub fn is_blocked(&self) -> bool {
        self.action == Action::Block
    }
}
