//! The web console and its JSON API: where IT, the Online Safety Lead and
//! the DSL see and change things without editing files.
//!
//! Server-rendered HTML (maud, which escapes every value it is given) that
//! works without JavaScript, every asset embedded; sign-in with argon2id
//! passwords, server-side sessions and TOTP; roles ([`roles`]); log
//! search; the policy's URL check; change control for temporary unblocks,
//! which revert by themselves. The console owns no policy: it reads the
//! running [`Engine`], and asks the binary to rebuild the snapshot when an
//! unblock starts or ends.

mod actions;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod import;
pub mod pages;
pub mod roles;
mod views;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tutela_policy::Engine;
use tutela_store::{Backend, StoreError};

pub use roles::{Permission, Role};

/// What the console needs from the rest of Tutela.
pub struct ConsoleOptions {
    /// Send cookies with `Secure` (off only for plain-HTTP tests that
    /// cannot use loopback).
    pub secure_cookies: bool,
    /// The school's time zone, for showing and reading times.
    pub timezone: jiff::tz::TimeZone,
    /// The proxy auto-config script devices are pointed at, if the proxy
    /// runs.
    pub pac_script: Option<String>,
    /// The inspection CA certificate (PEM) devices install, if any.
    pub ca_pem: Option<String>,
    /// `host:port` of the filtering proxy, for the set-up notes.
    pub proxy_address: Option<String>,
    /// The policy in force as configured: the file plus what the store
    /// holds (the binary's policy load). Called off the async threads.
    pub policy: PolicySource,
    /// Tells the monitor that lexicons or exclusions changed, when it runs.
    pub monitor_reload: Option<Reload>,
}

/// Reads the configured policy; see [`ConsoleOptions::policy`].
pub type PolicySource = Arc<dyn Fn() -> tutela_policy::PolicyConfig + Send + Sync>;

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            secure_cookies: true,
            timezone: jiff::tz::TimeZone::UTC,
            pac_script: None,
            ca_pem: None,
            proxy_address: None,
            policy: Arc::new(tutela_policy::PolicyConfig::default),
            monitor_reload: None,
        }
    }
}

/// Asks for the policy snapshot to be rebuilt from the configuration and
/// the store (an unblock started or ended).
pub type Reload = Arc<dyn Fn() + Send + Sync>;

/// Opens (and migrates) a store connection.
pub type Connect = Arc<dyn Fn() -> Result<Box<dyn Backend>, StoreError> + Send + Sync>;

/// The console's shared state.
pub struct Console {
    /// Connected on first use and again after a database error, so the
    /// console starts (and filtering goes on) while the database is down.
    db: Arc<Mutex<Option<Box<dyn Backend>>>>,
    connect: Connect,
    pub engine: Arc<Engine>,
    reload: Reload,
    pub options: ConsoleOptions,
    pub(crate) sign_in: auth::SignInGuard,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    #[error("sign in first")]
    SignInNeeded { next: String },
    #[error("your role does not allow this")]
    Forbidden,
    #[error("the form has expired; go back, reload the page and try again")]
    BadCsrf,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("too many failed sign-ins: try again in {0} seconds")]
    Locked(u64),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("the database is not available: {0}")]
    Unavailable(String),
}

impl ConsoleError {
    pub fn status(&self) -> StatusCode {
        match self {
            ConsoleError::Store(_) | ConsoleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ConsoleError::SignInNeeded { .. } => StatusCode::UNAUTHORIZED,
            ConsoleError::Forbidden | ConsoleError::BadCsrf => StatusCode::FORBIDDEN,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
            ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Pages show errors as pages; a missing sign-in goes to the sign-in page.
impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        if let ConsoleError::SignInNeeded { next } = &self {
            return views::redirect(&format!("/login?next={}", views::query_escape(next)));
        }
        if matches!(
            self,
            ConsoleError::Store(_) | ConsoleError::Internal(_) | ConsoleError::Unavailable(_)
        ) {
            tracing::error!("console: {self}");
        }
        let status = self.status();
        let title = status.canonical_reason().unwrap_or("Error");
        let message = match &self {
            // The detail is in the server's log, not on the page.
            ConsoleError::Store(_) | ConsoleError::Internal(_) => {
                "Something went wrong on the server; the error is in its log.".to_string()
            }
            ConsoleError::Unavailable(_) => {
                "The database is not available just now. Filtering goes on; try again in a minute."
                    .to_string()
            }
            other => other.to_string(),
        };
        (
            status,
            views::bare_page(title, views::error_body(title, &message)),
        )
            .into_response()
    }
}

impl Console {
    pub fn new(
        connect: Connect,
        engine: Arc<Engine>,
        reload: Reload,
        options: ConsoleOptions,
    ) -> Arc<Console> {
        Arc::new(Console {
            db: Arc::new(Mutex::new(None)),
            connect,
            engine,
            reload,
            options,
            sign_in: auth::SignInGuard::default(),
        })
    }

    /// Runs `f` on the store off the async threads, one at a time.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ConsoleError> {
        let (db, connect) = (self.db.clone(), self.connect.clone());
        tokio::task::spawn_blocking(move || {
            let mut guard = db
                .lock()
                .map_err(|_| ConsoleError::Internal("store lock poisoned".into()))?;
            if guard.is_none() {
                *guard = Some(connect().map_err(|e| ConsoleError::Unavailable(e.to_string()))?);
            }
            let Some(backend) = guard.as_mut() else {
                return Err(ConsoleError::Internal("no store connection".into()));
            };
            let result = f(backend.as_mut());
            if let Err(StoreError::Postgres(_)) = &result {
                // The connection may be gone; the next call makes a new one.
                *guard = None;
            }
            result.map_err(ConsoleError::from)
        })
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?
    }

    pub(crate) fn reload_policy(&self) {
        (self.reload)();
    }

    /// The monitor reads lexicons and exclusions again.
    pub(crate) fn reload_monitor(&self) {
        if let Some(reload) = &self.options.monitor_reload {
            reload();
        }
    }

    /// Every page and API route.
    pub fn router(self: &Arc<Console>) -> Router {
        let pages = Router::new()
            .route("/", get(pages::dashboard))
            .route("/setup", get(pages::setup_form).post(pages::setup))
            .route("/login", get(pages::login_form).post(pages::login))
            .route(
                "/login/second-factor",
                get(pages::second_factor_form).post(pages::second_factor),
            )
            .route(
                "/account/second-factor",
                get(pages::enrol_form).post(pages::enrol),
            )
            .route("/logout", post(pages::logout))
            .route("/logs", get(pages::logs))
            .route("/logs.csv", get(pages::logs_csv))
            .route("/timeline", get(pages::timeline))
            .route("/check", get(pages::check))
            .route("/review", get(pages::review))
            .route(
                "/unblocks",
                get(pages::unblocks).post(pages::request_unblock),
            )
            .route("/unblocks.csv", get(pages::unblocks_csv))
            .route("/unblocks/new", get(pages::unblock_form))
            .route("/unblocks/{id}/decide", post(pages::decide_unblock))
            .route("/alerts", get(alerts::alerts_page))
            .route(
                "/alerts/exclusions",
                get(alerts::exclusions_page).post(alerts::add_exclusion),
            )
            .route("/alerts/exclusions/{id}/end", post(alerts::end_exclusion))
            .route("/alerts/{id}", get(alerts::alert_page))
            .route("/alerts/{id}/triage", post(alerts::triage_form))
            .route("/lexicons", get(alerts::lexicons_page))
            .route(
                "/lexicons/spellings.toml",
                get(alerts::spellings_page).post(alerts::save_spellings),
            )
            .route(
                "/lexicons/{lang}/{theme}",
                get(alerts::lexicon_page).post(alerts::save_lexicon),
            )
            .route("/audit", get(pages::audit))
            .route("/users", get(pages::users).post(pages::add_user))
            .route(
                "/users/import",
                get(pages::import_form).post(pages::import_check),
            )
            .route("/users/import/confirm", post(pages::import_confirm))
            .route("/users/{id}/change", post(pages::change_account))
            .route("/policies", get(pages::policies).post(pages::create_group))
            .route(
                "/policies/{name}",
                get(pages::group_form).post(pages::save_group),
            )
            .route("/network", get(pages::network))
            .route(
                "/network/{item}/{id}/remove",
                post(pages::remove_from_network),
            )
            .route("/network/subnets", post(pages::add_subnet))
            .route("/network/devices", post(pages::add_device))
            .route("/devices/setup", get(pages::device_setup))
            .route("/proxy.pac", get(pages::pac))
            .route("/tutela-ca.pem", get(pages::ca_certificate))
            .route("/assets/style.css", get(views::stylesheet));
        let api = Router::new()
            .route("/api/v1/me", get(api::me))
            .route("/api/v1/logs", get(api::logs))
            .route("/api/v1/check", get(api::check))
            .route(
                "/api/v1/unblocks",
                get(api::unblocks).post(api::request_unblock),
            )
            .route("/api/v1/unblocks/{id}/decide", post(api::decide_unblock))
            .route("/api/v1/alerts", get(alerts::api_alerts))
            .route("/api/v1/alerts/{id}", get(alerts::api_alert))
            .route("/api/v1/alerts/{id}/triage", post(alerts::api_triage))
            .route("/api/v1/audit", get(api::audit))
            .route("/api/v1/users", get(api::users).post(api::add_user))
            .route("/api/v1/users/import", post(api::import_users))
            .route("/api/v1/users/{id}/change", post(api::change_account))
            .route("/api/v1/policies", get(api::policies))
            .route("/api/v1/policies/{name}", post(api::save_group))
            .route("/api/v1/network", get(api::network))
            .route(
                "/api/v1/network/{item}/{id}/remove",
                post(api::remove_from_network),
            )
            .route("/api/v1/network/subnets", post(api::add_subnet))
            .route("/api/v1/network/devices", post(api::add_device))
            .route("/api/openapi.json", get(api::openapi));
        pages
            .merge(api)
            .fallback(|| async { ConsoleError::NotFound })
            // MIS exports of a whole school fit; the import checks its own cap.
            .layer(axum::extract::DefaultBodyLimit::max(8 * 1024 * 1024))
            .layer(axum::middleware::from_fn(same_origin_only))
            .layer(axum::middleware::from_fn(security_headers))
            .with_state(self.clone())
    }

    /// What the binary runs every few seconds: drops sessions that have run
    /// out (so abandoned ones do not pile up), and ends approved unblocks
    /// whose time has come. Returns how many unblocks it ended.
    pub async fn housekeeping(&self) -> Result<usize, ConsoleError> {
        let now = jiff::Timestamp::now().as_microsecond();
        self.db(move |db| {
            tutela_store::people::end_stale_sessions(
                db,
                now - auth::IDLE.as_micros() as i64,
                now - auth::ABSOLUTE.as_micros() as i64,
            )
        })
        .await?;
        self.revert_due_unblocks().await
    }

    /// Ends approved unblocks whose time has come, and rebuilds the policy
    /// if any did.
    pub async fn revert_due_unblocks(&self) -> Result<usize, ConsoleError> {
        let now = jiff::Timestamp::now().as_microsecond();
        let reverted = self
            .db(move |db| {
                let reverted = tutela_store::unblock::revert_due(db, now)?;
                for u in &reverted {
                    db.append_audit(&tutela_store::AuditEntry {
                        time_us: now,
                        actor: "tutela".into(),
                        action: "unblock.revert".into(),
                        object: format!("unblock:{}", u.id),
                        before: Some("approved".into()),
                        after: Some("reverted".into()),
                        reason: Some(format!("reversion date reached for {}", u.request.site)),
                    })?;
                }
                Ok(reverted.len())
            })
            .await?;
        if reverted > 0 {
            tracing::info!(reverted, "temporary unblocks reverted");
            self.reload_policy();
        }
        Ok(reverted)
    }
}

/// Serves the console until `shutdown` resolves.
pub async fn serve(
    console: Arc<Console>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = console
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A form or API call from another site is refused whatever its cookies:
/// browsers say where a request came from in `Origin`.
async fn same_origin_only(request: Request<axum::body::Body>, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN) {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            let origin_host = origin
                .to_str()
                .ok()
                .and_then(|o| url::Url::parse(o).ok())
                .and_then(|u| {
                    let host = u.host_str()?.to_string();
                    Some(match u.port() {
                        Some(p) => format!("{host}:{p}"),
                        None => host,
                    })
                });
            if host.is_none() || origin_host.as_deref() != host {
                return ConsoleError::BadCsrf.into_response();
            }
        }
    }
    next.run(request).await
}

async fn security_headers(request: Request<axum::body::Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // No scripts at all: the pages work without them, and a logged URL
    // that slipped past escaping still could not run.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Console URLs carry pupils' names and sites: never sent to another
    // site. (Not `no-referrer`: browsers then send `Origin: null` on the
    // console's own forms.)
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
