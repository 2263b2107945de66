//! Starting the web console, and keeping the policy in step with what is
//! changed there.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tutela_console::{Console, ConsoleOptions};
use tutela_policy::Engine;

use crate::config::{parse_duration, Config};
use crate::policy_load::rebuild;

/// The running console and its helpers.
pub struct ConsoleListener {
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl ConsoleListener {
    pub async fn start(
        config: Arc<Config>,
        engine: Arc<Engine>,
        proxy_address: std::net::SocketAddr,
        ca_pem: Option<String>,
        monitor_reload: Option<tutela_console::Reload>,
    ) -> Result<ConsoleListener> {
        // Connected on first use: the console starts, and filtering goes
        // on, while the database is down.
        let connect: tutela_console::Connect = {
            let store = config.store_config();
            Arc::new(move || {
                let mut db = store.open()?;
                db.migrate()?;
                Ok(db)
            })
        };
        let timezone = jiff::tz::TimeZone::get(&config.policy.timezone)
            .with_context(|| format!("policy.timezone = {:?}", config.policy.timezone))?;
        let proxy_host = proxy_address.to_string();
        let options = ConsoleOptions {
            secure_cookies: config.console.secure_cookies,
            timezone,
            pac_script: tutela_proxy::pac_script(&proxy_host),
            ca_pem,
            proxy_address: Some(proxy_host),
            policy: {
                let config = config.clone();
                Arc::new(move || crate::policy_load::with_stored_policy(&config))
            },
            monitor_reload,
        };
        // A change in the console asks for a rebuild; several asks while one
        // runs make one more.
        let changed = Arc::new(Notify::new());
        let reload = {
            let changed = changed.clone();
            Arc::new(move || changed.notify_one())
        };
        let console = Console::new(connect, engine.clone(), reload, options);
        let rebuilder = {
            let (config, engine) = (config.clone(), engine.clone());
            tokio::spawn(async move {
                loop {
                    changed.notified().await;
                    let (config, current) = (config.clone(), engine.snapshot());
                    match tokio::task::spawn_blocking(move || rebuild(&config, &current)).await {
                        Ok(Ok(next)) => {
                            let generation = engine.install(next);
                            tracing::info!(generation, "policy rebuilt after a console change");
                        }
                        Ok(Err(e)) => {
                            tracing::error!("policy rebuild failed, keeping the current one: {e:#}")
                        }
                        Err(e) => tracing::error!("policy rebuild task failed: {e}"),
                    }
                }
            })
        };
        let every = parse_duration(&config.console.revert_check)
            .with_context(|| format!("console.revert_check = {:?}", config.console.revert_check))?;
        let housekeeping = {
            let console = console.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(e) = console.housekeeping().await {
                        tracing::error!("console housekeeping failed: {e}");
                    }
                    tokio::time::sleep(every).await;
                }
            })
        };
        let listener = tokio::net::TcpListener::bind(config.listeners.console)
            .await
            .with_context(|| {
                format!(
                    "cannot listen for the console on {}",
                    config.listeners.console
                )
            })?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let server = {
            let console = console.clone();
            tokio::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = tutela_console::serve(console, listener, shutdown).await {
                    tracing::error!("console stopped: {e}");
                }
            })
        };
        tracing::info!(listen = %addr, "console listening");
        Ok(ConsoleListener {
            addr,
            stop: Some(stop),
            tasks: vec![rebuilder, housekeeping, server],
        })
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = self.tasks.pop();
        for t in &self.tasks {
            t.abort();
        }
        if let Some(server) = server {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), server).await;
        }
    }
}
