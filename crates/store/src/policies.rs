//! Group policies edited in the console. Each is a whole group in the
//! configuration's shape, stored as JSON; the policy load lays them over the
//! configuration file's groups (a stored group of the same name wins).

use tutela_policy::config::GroupConfig;
use tutela_policy::PolicyConfig;

use crate::{Backend, SqlValue, StoreError};

/// Stores `group` under `name`, replacing any earlier version.
pub fn save(
    db: &mut dyn Backend,
    name: &str,
    group: &GroupConfig,
    by: &str,
    now_us: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(group).map_err(|e| StoreError::Invalid(e.to_string()))?;
    db.execute(
        "INSERT INTO group_policies (name, config, updated_us, updated_by) VALUES (?, ?, ?, ?) \
         ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_us = excluded.updated_us, updated_by = excluded.updated_by",
        &[name.into(), json.into(), now_us.into(), by.into()],
    )?;
    Ok(())
}

/// A stored group: its name, its configuration if it still reads, and who
/// changed it last, when.
#[derive(Debug, Clone)]
pub struct StoredGroup {
    pub name: String,
    pub config: Result<GroupConfig, String>,
    pub updated_us: i64,
    pub updated_by: String,
}

pub fn list(db: &mut dyn Backend) -> Result<Vec<StoredGroup>, StoreError> {
    db.rows(
        "SELECT name, config, updated_us, updated_by FROM group_policies ORDER BY name",
        &[],
    )?
    .iter()
    .map(|r| {
        let bad = || StoreError::Invalid("unexpected group_policies row".into());
        let json = r.get(1).and_then(SqlValue::text).ok_or_else(bad)?;
        Ok(StoredGroup {
            name: r
                .first()
                .and_then(SqlValue::text)
                .ok_or_else(bad)?
                .to_string(),
            config: serde_json::from_str(json).map_err(|e| e.to_string()),
            updated_us: r.get(2).and_then(SqlValue::int).unwrap_or(0),
            updated_by: r.get(3).and_then(SqlValue::text).unwrap_or("").to_string(),
        })
    })
    .collect()
}

/// Lays the stored groups over `policy`; a stored group that no longer
/// reads is skipped with a warning, so one bad row never stops filtering.
pub fn apply(stored: Vec<StoredGroup>, policy: &mut PolicyConfig) {
    for g in stored {
        match g.config {
            Ok(config) => {
                policy.groups.insert(g.name, config);
            }
            Err(e) => tracing::warn!(group = %g.name, "stored group policy skipped: {e}"),
        }
    }
}
