//! A real console on a loopback port over a real SQLite store, and an HTTP
//! client that signs in as a browser does (password, then TOTP code).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tutela_console::{Console, ConsoleOptions, Role};
use tutela_lists::{HostName, Index, IndexBuilder, Usage};
use tutela_policy::config::GroupConfig;
use tutela_policy::{Engine, PolicyConfig, Snapshot};
use tutela_store::people::{self, NewUser};
use tutela_store::{Backend, StoreConfig};

pub struct Harness {
    pub base: String,
    pub console: Arc<Console>,
    pub reloads: Arc<AtomicUsize>,
    /// Times the console told the monitor to reload.
    pub monitor_reloads: Arc<AtomicUsize>,
    pub store: StoreConfig,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn policy() -> PolicyConfig {
    let mut p = PolicyConfig::default();
    p.groups.insert(
        "pupils".into(),
        GroupConfig {
            block_categories: vec!["adult".into()],
            ..GroupConfig::default_pupils()
        },
    );
    p
}

fn index() -> Index {
    let mut b = IndexBuilder::new(4);
    let adult = b.categories_mut().intern("adult", Usage::Black).unwrap();
    b.add_domain(&HostName::parse("blocked.example").unwrap(), adult)
        .unwrap();
    b.finish()
}

fn illegal() -> Index {
    let mut b = IndexBuilder::new(4);
    let c = b
        .categories_mut()
        .intern("child_abuse", Usage::Black)
        .unwrap();
    b.add_domain(&HostName::parse("illegal.example").unwrap(), c)
        .unwrap();
    b.finish()
}

impl Harness {
    pub async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreConfig::Sqlite(dir.path().join("tutela.db"));
        let connect: tutela_console::Connect = {
            let store = store.clone();
            Arc::new(move || {
                let mut db = store.open()?;
                db.migrate()?;
                Ok(db)
            })
        };
        // Migrated before anything else touches it.
        connect().unwrap();
        let snapshot = Snapshot::build(&policy(), Arc::new(index()), Arc::new(illegal())).unwrap();
        let engine = Arc::new(Engine::new(snapshot));
        let reloads = Arc::new(AtomicUsize::new(0));
        let reload = {
            let reloads = reloads.clone();
            Arc::new(move || {
                reloads.fetch_add(1, Ordering::SeqCst);
            })
        };
        let monitor_reloads = Arc::new(AtomicUsize::new(0));
        let options = ConsoleOptions {
            // reqwest keeps Secure cookies to HTTPS; the browser test runs
            // with them on.
            secure_cookies: false,
            timezone: jiff::tz::TimeZone::get("Europe/London").unwrap(),
            pac_script: tutela_proxy_pac(),
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n".into()),
            proxy_address: Some("127.0.0.1:3128".into()),
            // The file's policy with the store's groups laid over it, as
            // the binary's policy load does.
            policy: {
                let store = store.clone();
                Arc::new(move || {
                    let mut p = policy();
                    let stored =
                        tutela_store::policies::list(store.open().unwrap().as_mut()).unwrap();
                    tutela_store::policies::apply(stored, &mut p);
                    p
                })
            },
            monitor_reload: Some({
                let n = monitor_reloads.clone();
                Arc::new(move || {
                    n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
            }),
        };
        let console = Console::new(connect, engine, reload, options);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        tokio::spawn(tutela_console::serve(
            console.clone(),
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        Harness {
            base: format!("http://{addr}"),
            console,
            reloads,
            monitor_reloads,
            store,
            _dir: dir,
            _stop: stop,
        }
    }

    pub fn db(&self) -> Box<dyn Backend> {
        self.store.open().unwrap()
    }

    /// A console account made straight in the store, with a TOTP secret.
    pub fn account(&self, username: &str, role: Role) -> Account {
        let password = format!("{username}-correct-horse");
        let secret = tutela_console::auth::new_totp_secret();
        let mut db = self.db();
        let id = people::add_user(
            db.as_mut(),
            &NewUser {
                username: username.into(),
                display_name: Some(format!("{username} name")),
                kind: "staff".into(),
                console_role: Some(role.as_str().into()),
                password_hash: Some(people::hash_password(&password).unwrap()),
                ..Default::default()
            },
            1,
        )
        .unwrap();
        people::set_totp_secret(db.as_mut(), id, &secret).unwrap();
        Account {
            username: username.into(),
            password,
            secret,
        }
    }

    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    /// Signs `account` in with password and code.
    pub async fn signed_in(&self, account: &Account) -> Client {
        let mut c = self.client();
        let r = c.sign_in(account).await;
        assert_eq!(r.status, 303, "password step: {}", r.body);
        let to = r.location();
        assert!(to.starts_with("/login/second-factor"), "{to}");
        let page = c.get(&to).await;
        c.csrf = field(&page.body, "csrf").expect("csrf field");
        let code = code_now(&account.secret);
        let r = c
            .post_form("/login/second-factor", &[("code", &code), ("next", "/")])
            .await;
        assert_eq!(r.status, 303, "code step: {}", r.body);
        let me = c.get("/api/v1/me").await;
        assert_eq!(me.status, 200, "{}", me.body);
        let v: serde_json::Value = serde_json::from_str(&me.body).unwrap();
        c.csrf = v["csrf_token"].as_str().unwrap().to_string();
        c
    }
}

fn tutela_proxy_pac() -> Option<String> {
    Some("function FindProxyForURL(url, host) { return \"PROXY 127.0.0.1:3128\"; }\n".into())
}

pub struct Account {
    pub username: String,
    pub password: String,
    pub secret: String,
}

pub fn code_now(secret: &str) -> String {
    let now = jiff::Timestamp::now().as_second() as u64;
    tutela_console::auth::totp(secret, "x")
        .unwrap()
        .generate(now)
}

/// The value of the hidden input `name` in a page.
pub fn field(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

impl Client {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Reply {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let r = req.send().await.unwrap();
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !val.is_empty() && !v.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), val.to_string()));
            }
        }
        Reply {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A form post carrying this session's CSRF token.
    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(fields);
        let body = serde_urlencoded(&all);
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    /// A file upload (`multipart/form-data`) with this session's CSRF
    /// token, the fields and a `file`.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: &str,
    ) -> Reply {
        let boundary = "----tutela-test-boundary";
        let mut body = String::new();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(fields);
        for (k, v) in all {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"export.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
        ));
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(req).await
    }

    /// A form post exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded(fields));
        self.send(req).await
    }

    pub async fn post_json(&mut self, path: &str, body: &serde_json::Value, csrf: bool) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if csrf {
            req = req.header("x-csrf-token", self.csrf.clone());
        }
        self.send(req).await
    }

    /// The password step of signing in.
    pub async fn sign_in(&mut self, account: &Account) -> Reply {
        self.sign_in_with(&account.username, &account.password)
            .await
    }

    pub async fn sign_in_with(&mut self, username: &str, password: &str) -> Reply {
        let page = self.get("/login").await;
        let pre = field(&page.body, "pre").expect("pre field");
        self.post_raw(
            "/login",
            &[
                ("pre", &pre),
                ("username", username),
                ("password", password),
                ("next", "/"),
            ],
        )
        .await
    }
}

pub fn serde_urlencoded(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC),
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}
