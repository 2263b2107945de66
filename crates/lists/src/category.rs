//! Categories: names, display names, and compact sets of them.

use std::collections::HashMap;
use std::fmt;

/// The most categories one index can hold. A set of them is a fixed-size
/// bitmask, so a verdict carries its categories without allocating.
pub const MAX_CATEGORIES: usize = 256;

/// A category's position in its [`Categories`] registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryId(pub u16);

/// A set of categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategoryMask([u64; MAX_CATEGORIES / 64]);

impl CategoryMask {
    pub const EMPTY: CategoryMask = CategoryMask([0; MAX_CATEGORIES / 64]);

    pub fn single(id: CategoryId) -> Self {
        let mut m = Self::EMPTY;
        m.insert(id);
        m
    }
    pub fn insert(&mut self, id: CategoryId) {
        let i = id.0 as usize;
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub fn contains(&self, id: CategoryId) -> bool {
        let i = id.0 as usize;
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    pub fn union(self, other: Self) -> Self {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        out
    }
    pub fn intersection(self, other: Self) -> Self {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        out
    }
    pub fn difference(self, other: Self) -> Self {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= !b;
        }
        out
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    pub fn intersects(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).any(|(a, b)| a & b != 0)
    }
    pub fn iter(&self) -> impl Iterator<Item = CategoryId> + '_ {
        (0..MAX_CATEGORIES)
            .filter(|i| self.0[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| CategoryId(i as u16))
    }
}

/// Whether a category holds sites to keep from pupils (`black`) or sites
/// that are fine for them (`white`), as its publisher marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Usage {
    Black,
    White,
}

/// What is known about one category.
#[derive(Debug, Clone)]
pub struct CategoryInfo {
    /// The short name used in configuration (`adult`, `social_networks`).
    pub name: String,
    /// A name for people (`Adult (X)`), from UT1's `global_usage` where given.
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub usage: Usage,
}

/// The category registry of one index.
#[derive(Debug, Clone, Default)]
pub struct Categories {
    infos: Vec<CategoryInfo>,
    by_name: HashMap<String, CategoryId>,
    aliases: HashMap<String, CategoryId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("more than {MAX_CATEGORIES} categories")]
pub struct TooManyCategories;

impl Categories {
    /// The id of `name`, registering it if new.
    pub fn intern(&mut self, name: &str, usage: Usage) -> Result<CategoryId, TooManyCategories> {
        if let Some(id) = self.get(name) {
            return Ok(id);
        }
        if self.infos.len() >= MAX_CATEGORIES {
            return Err(TooManyCategories);
        }
        let id = CategoryId(self.infos.len() as u16);
        self.infos.push(CategoryInfo {
            name: name.to_string(),
            display_name: None,
            description: None,
            usage,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    /// Makes `alias` another name for `target` (UT1 ships `porn` as `adult`).
    pub fn add_alias(&mut self, alias: &str, target: CategoryId) {
        if !self.by_name.contains_key(alias) {
            self.aliases.insert(alias.to_string(), target);
        }
    }

    pub fn get(&self, name: &str) -> Option<CategoryId> {
        self.by_name
            .get(name)
            .or_else(|| self.aliases.get(name))
            .copied()
    }

    pub fn info(&self, id: CategoryId) -> Option<&CategoryInfo> {
        self.infos.get(id.0 as usize)
    }

    pub fn info_mut(&mut self, id: CategoryId) -> Option<&mut CategoryInfo> {
        self.infos.get_mut(id.0 as usize)
    }

    pub fn name(&self, id: CategoryId) -> &str {
        self.info(id).map(|i| i.name.as_str()).unwrap_or("?")
    }

    pub fn names(&self, mask: &CategoryMask) -> Vec<&str> {
        mask.iter().map(|id| self.name(id)).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (CategoryId, &CategoryInfo)> {
        self.infos
            .iter()
            .enumerate()
            .map(|(i, info)| (CategoryId(i as u16), info))
    }

    pub fn aliases(&self) -> impl Iterator<Item = (&str, CategoryId)> {
        self.aliases.iter().map(|(k, v)| (k.as_str(), *v))
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }
}

impl fmt::Display for CategoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
