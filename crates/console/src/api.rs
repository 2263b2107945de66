//! The JSON API: what the pages do, with the same permissions (the same
//! [`crate::actions`] behind both). Sign in through the pages; send the
//! session cookie, and for POST the session's CSRF token in
//! `X-CSRF-Token` (`GET /api/v1/me` returns it). `GET /api/openapi.json`
//! describes every route.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tutela_store::people;

use crate::actions::{self, Decision, LogSearch, UnblockInput, UserInput};
use crate::auth::ApiSigned;
use crate::pages::UnblockListQuery;
use crate::roles::Permission;
use crate::{Console, ConsoleError};

/// The OpenAPI description, kept beside the code; a test checks that it
/// and the router list the same routes.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Errors as `{"error": "..."}` with the matching status.
pub struct ApiError(pub ConsoleError);

impl From<ConsoleError> for ApiError {
    fn from(e: ConsoleError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match &self.0 {
            ConsoleError::Store(_) | ConsoleError::Internal(_) => {
                tracing::error!("console API: {}", self.0);
                "internal error; see the server's log".to_string()
            }
            ConsoleError::Unavailable(_) => {
                tracing::error!("console API: {}", self.0);
                "the database is not available".to_string()
            }
            other => other.to_string(),
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

type St = State<Arc<Console>>;
type ApiResult = Result<Json<Value>, ApiError>;

pub async fn me(who: ApiSigned) -> ApiResult {
    let permissions: Vec<Permission> = Permission::ALL
        .into_iter()
        .filter(|p| who.role.can(*p))
        .collect();
    Ok(Json(json!({
        "username": who.user.username,
        "display_name": who.user.display_name,
        "role": who.role,
        "permissions": permissions,
        "csrf_token": who.session.csrf_token,
    })))
}

pub async fn logs(
    State(console): St,
    who: ApiSigned,
    Query(search): Query<LogSearch>,
) -> ApiResult {
    who.require(Permission::SearchLogs)?;
    let query = search.query(&console.options.timezone)?;
    let events = actions::search_logs(&console, query).await?;
    let next = events
        .last()
        .filter(|_| events.len() == search.limit.unwrap_or(100).clamp(1, 1000))
        .map(|e| format!("{}:{}", e.time_us, e.reference.0));
    Ok(Json(json!({
        "events": events.iter().map(|e| e.to_json()).collect::<Vec<_>>(),
        "next_before": next,
    })))
}

#[derive(Deserialize)]
pub struct CheckQuery {
    url: String,
    #[serde(default)]
    group: Option<String>,
}

pub async fn check(State(console): St, who: ApiSigned, Query(q): Query<CheckQuery>) -> ApiResult {
    who.require(Permission::CheckUrl)?;
    let group = q.group.filter(|g| !g.is_empty());
    let e = actions::check(&console, &q.url, group.as_deref())?;
    Ok(Json(serde_json::to_value(e).unwrap_or(Value::Null)))
}

pub async fn unblocks(
    State(console): St,
    who: ApiSigned,
    Query(q): Query<UnblockListQuery>,
) -> ApiResult {
    who.require(Permission::ViewChanges)?;
    let filter = q.filter(&console.options.timezone)?;
    let list = actions::list_unblocks(&console, filter).await?;
    Ok(Json(json!({ "unblocks": list })))
}

pub async fn request_unblock(
    State(console): St,
    who: ApiSigned,
    Json(input): Json<UnblockInput>,
) -> ApiResult {
    who.require(Permission::RequestUnblock)?;
    let id = actions::request_unblock(&console, &who, input).await?;
    Ok(Json(json!({ "id": id, "status": "pending" })))
}

#[derive(Deserialize)]
pub struct DecideBody {
    decision: Decision,
    #[serde(default)]
    note: String,
}

pub async fn decide_unblock(
    State(console): St,
    who: ApiSigned,
    Path(id): Path<i64>,
    Json(body): Json<DecideBody>,
) -> ApiResult {
    who.require(Permission::DecideUnblock)?;
    let u = actions::decide_unblock(&console, &who, id, body.decision, body.note).await?;
    Ok(Json(serde_json::to_value(u).unwrap_or(Value::Null)))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    limit: Option<usize>,
}

pub async fn audit(State(console): St, who: ApiSigned, Query(q): Query<AuditQuery>) -> ApiResult {
    who.require(Permission::ViewAudit)?;
    let entries = actions::audit(&console, q.limit.unwrap_or(100).clamp(1, 10_000)).await?;
    Ok(Json(json!({ "entries": entries })))
}

pub async fn users(State(console): St, who: ApiSigned) -> ApiResult {
    who.require(Permission::ViewUsers)?;
    let list = console.db(people::users).await?;
    Ok(Json(json!({ "users": list })))
}

pub async fn add_user(
    State(console): St,
    who: ApiSigned,
    Json(input): Json<UserInput>,
) -> ApiResult {
    who.require(Permission::ManageUsers)?;
    let added = actions::add_user(&console, &who, input).await?;
    Ok(Json(serde_json::to_value(added).unwrap_or(Value::Null)))
}

pub async fn openapi() -> Response {
    let mut r = OPENAPI.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[derive(Deserialize)]
pub struct ImportBody {
    /// The CSV file's text.
    csv: String,
    #[serde(default = "pupil")]
    default_kind: String,
    /// Import the valid rows even if some have errors.
    #[serde(default)]
    confirm_partial: bool,
    /// Check only.
    #[serde(default)]
    dry_run: bool,
}

fn pupil() -> String {
    "pupil".into()
}

pub async fn import_users(
    State(console): St,
    who: ApiSigned,
    Json(body): Json<ImportBody>,
) -> ApiResult {
    who.require(Permission::ManageUsers)?;
    let outcome = actions::import_users(
        &console,
        &who,
        body.csv.into_bytes(),
        &body.default_kind,
        body.confirm_partial,
        body.dry_run,
    )
    .await?;
    Ok(Json(serde_json::to_value(outcome).unwrap_or(Value::Null)))
}

pub async fn network(State(console): St, who: ApiSigned) -> ApiResult {
    who.require(Permission::ViewUsers)?;
    let (subnets, mut devices) = console
        .db(|db| {
            Ok((
                tutela_store::identities::subnets(db)?,
                tutela_store::identities::devices(db)?,
            ))
        })
        .await?;
    // Tokens are secrets: only those who manage devices see them.
    if !who.role.can(Permission::ManageUsers) {
        for d in &mut devices {
            d.doh_token = None;
        }
    }
    Ok(Json(json!({ "subnets": subnets, "devices": devices })))
}

pub async fn add_subnet(
    State(console): St,
    who: ApiSigned,
    Json(input): Json<actions::SubnetInput>,
) -> ApiResult {
    who.require(Permission::ManageUsers)?;
    let id = actions::add_subnet(&console, &who, input).await?;
    Ok(Json(json!({ "id": id })))
}

pub async fn remove_from_network(
    State(console): St,
    who: ApiSigned,
    Path((item, id)): Path<(actions::NetworkItem, i64)>,
) -> ApiResult {
    who.require(Permission::ManageUsers)?;
    actions::remove_from_network(&console, &who, item, id).await?;
    Ok(Json(json!({ "removed": id })))
}

pub async fn add_device(
    State(console): St,
    who: ApiSigned,
    Json(input): Json<actions::DeviceInput>,
) -> ApiResult {
    who.require(Permission::ManageUsers)?;
    let (id, token) = actions::add_device(&console, &who, input).await?;
    Ok(Json(json!({ "id": id, "doh_token": token })))
}

pub async fn policies(State(console): St, who: ApiSigned) -> ApiResult {
    who.require(Permission::ViewPolicy)?;
    let policy = actions::configured_policy(&console).await?;
    let snapshot = console.engine.snapshot();
    let illegal: Vec<String> = snapshot
        .illegal()
        .categories()
        .iter()
        .map(|(_, info)| info.name.clone())
        .collect();
    Ok(Json(json!({
        "default_group": policy.default_group,
        "groups": policy.groups,
        "illegal_tier": { "categories": illegal, "editable": false },
    })))
}

pub async fn save_group(
    State(console): St,
    who: ApiSigned,
    Path(name): Path<String>,
    Json(group): Json<tutela_policy::config::GroupConfig>,
) -> ApiResult {
    who.require(Permission::EditPolicy)?;
    let warnings = actions::save_group(&console, &who, &name, group).await?;
    Ok(Json(json!({ "saved": name, "warnings": warnings })))
}

#[derive(Deserialize)]
pub struct AccountChangeBody {
    change: actions::AccountChange,
}

pub async fn change_account(
    State(console): St,
    who: ApiSigned,
    Path(id): Path<i64>,
    Json(body): Json<AccountChangeBody>,
) -> ApiResult {
    who.require(Permission::ManageUsers)?;
    actions::change_account(&console, &who, id, body.change).await?;
    Ok(Json(json!({ "changed": id })))
}
