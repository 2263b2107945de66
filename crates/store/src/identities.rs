//! Identity mappings and devices as the console manages them: subnets
//! (a VLAN's or a room's) mapped to a group and school site, and devices
//! with their DoH tokens. The policy load reads them back
//! ([`crate::SUBNETS_SQL`], [`crate::DEVICES_SQL`]).

use crate::{Backend, SqlValue, StoreError};

fn id_of(db: &mut dyn Backend, table: &str, name: &str) -> Result<i64, StoreError> {
    let found = db.rows(
        &format!("SELECT id FROM {table} WHERE name = ?"),
        &[name.into()],
    )?;
    if let Some(id) = found
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::int)
    {
        return Ok(id);
    }
    let sql = if table == "sites" {
        "INSERT INTO sites (name, created_us) VALUES (?, ?) RETURNING id".to_string()
    } else {
        format!("INSERT INTO {table} (name) VALUES (?) RETURNING id")
    };
    let params: Vec<SqlValue> = if table == "sites" {
        vec![name.into(), jiff::Timestamp::now().as_microsecond().into()]
    } else {
        vec![name.into()]
    };
    db.rows(&sql, &params)?
        .first()
        .and_then(|r| r.first())
        .and_then(SqlValue::int)
        .ok_or_else(|| StoreError::Invalid(format!("no id for {table} {name:?}")))
}

/// A stored subnet mapping with its id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubnetRow {
    pub id: i64,
    pub subnet: String,
    pub group: String,
    pub site: Option<String>,
}

pub fn add_subnet(
    db: &mut dyn Backend,
    subnet: &str,
    group: &str,
    site: Option<&str>,
) -> Result<i64, StoreError> {
    let group_id = id_of(db, "groups", group)?;
    let site_id = match site {
        Some(s) => Some(id_of(db, "sites", s)?),
        None => None,
    };
    let rows = db.rows(
        "INSERT INTO identity_mappings (subnet, site_id, group_id) VALUES (?, ?, ?) RETURNING id",
        &[subnet.into(), site_id.into(), group_id.into()],
    )?;
    crate::returned_id(&rows)
}

pub fn subnets(db: &mut dyn Backend) -> Result<Vec<SubnetRow>, StoreError> {
    db.rows(
        "SELECT m.id, m.subnet, g.name, s.name FROM identity_mappings m \
         JOIN groups g ON g.id = m.group_id LEFT JOIN sites s ON s.id = m.site_id ORDER BY m.id",
        &[],
    )?
    .iter()
    .map(|r| {
        let bad = || StoreError::Invalid("unexpected identity_mappings row".into());
        Ok(SubnetRow {
            id: r.first().and_then(SqlValue::int).ok_or_else(bad)?,
            subnet: r
                .get(1)
                .and_then(SqlValue::text)
                .ok_or_else(bad)?
                .to_string(),
            group: r
                .get(2)
                .and_then(SqlValue::text)
                .ok_or_else(bad)?
                .to_string(),
            site: r.get(3).and_then(SqlValue::text).map(str::to_string),
        })
    })
    .collect()
}

/// Removes a mapping; false if there was none.
pub fn remove_subnet(db: &mut dyn Backend, id: i64) -> Result<bool, StoreError> {
    Ok(db.execute("DELETE FROM identity_mappings WHERE id = ?", &[id.into()])? == 1)
}

/// A stored device with its id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRow {
    pub id: i64,
    pub name: String,
    pub owner: Option<String>,
    pub site: Option<String>,
    /// Shown to those who manage devices, to set up the device.
    pub doh_token: Option<String>,
}

/// Adds a device; `owner` must be an existing username.
pub fn add_device(
    db: &mut dyn Backend,
    name: &str,
    owner: Option<&str>,
    site: Option<&str>,
    doh_token: &str,
    now_us: i64,
) -> Result<i64, StoreError> {
    let owner_id = match owner {
        Some(o) => Some(
            crate::people::user_named(db, o)?
                .ok_or_else(|| StoreError::Invalid(format!("there is no user {o:?}")))?
                .id,
        ),
        None => None,
    };
    let site_id = match site {
        Some(s) => Some(id_of(db, "sites", s)?),
        None => None,
    };
    let taken = db.rows("SELECT 1 FROM devices WHERE name = ?", &[name.into()])?;
    if !taken.is_empty() {
        return Err(StoreError::Invalid(format!(
            "a device is already called {name:?}"
        )));
    }
    let rows = db.rows(
        "INSERT INTO devices (name, site_id, owner_id, doh_token, created_us) VALUES (?, ?, ?, ?, ?) RETURNING id",
        &[name.into(), site_id.into(), owner_id.into(), doh_token.into(), now_us.into()],
    )?;
    crate::returned_id(&rows)
}

pub fn devices(db: &mut dyn Backend) -> Result<Vec<DeviceRow>, StoreError> {
    db.rows(
        "SELECT d.id, d.name, u.username, s.name, d.doh_token FROM devices d \
         LEFT JOIN users u ON u.id = d.owner_id LEFT JOIN sites s ON s.id = d.site_id ORDER BY d.name",
        &[],
    )?
    .iter()
    .map(|r| {
        let bad = || StoreError::Invalid("unexpected devices row".into());
        let text = |i: usize| r.get(i).and_then(SqlValue::text).map(str::to_string);
        Ok(DeviceRow {
            id: r.first().and_then(SqlValue::int).ok_or_else(bad)?,
            name: text(1).ok_or_else(bad)?,
            owner: text(2),
            site: text(3),
            doh_token: text(4),
        })
    })
    .collect()
}

pub fn remove_device(db: &mut dyn Backend, id: i64) -> Result<bool, StoreError> {
    Ok(db.execute("DELETE FROM devices WHERE id = ?", &[id.into()])? == 1)
}
