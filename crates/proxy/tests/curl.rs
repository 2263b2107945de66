//! The proxy end to end: a real listener on 127.0.0.1, real origins (plain
//! HTTP and TLS) and `curl -x` as the client.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{page, rustls_pemfile_certs, url, Running};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tutela_proxy::ListenLimits;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_pages_stream_and_blocked_ones_get_the_block_page() {
    let t = Running::start(ListenLimits::default()).await;
    let port = t.origin.port();

    let (code, body, err, _) = t.curl(&[&url("allowed.example", port, "/page.html")]).await;
    assert_eq!(code, 200, "{err}");
    assert_eq!(body, page(), "the whole page, unchanged");

    // Keep-alive: two URLs on one connection.
    let (code, body, err, _) = t
        .curl(&[
            "-v",
            &url("allowed.example", port, "/a"),
            "--next",
            "-x",
            &t.proxy_url(),
            "-w",
            "\n%{http_code}",
            &url("allowed.example", port, "/b"),
        ])
        .await;
    assert_eq!(code, 200, "{err}");
    assert!(body.contains("GET /b"), "{body}");
    assert!(err.contains("Re-using existing connection"), "{err}");

    for u in [
        url("blocked.example", port, "/"),
        url(
            "www.blocked.example",
            port,
            "/some/page?q=%3Cscript%3E&x='y'",
        ),
    ] {
        let (code, body, _, _) = t.curl(&[&u]).await;
        assert_eq!(code, 403, "{u}");
        assert!(body.contains("This page is blocked"), "{body}");
        assert!(body.contains("adult"), "the category is named: {body}");
        assert!(body.contains("group-block-category"), "the rule: {body}");
        assert!(body.contains("pupils"), "the group: {body}");
        assert!(
            body.contains("http://console.school.example/review?url="),
            "{body}"
        );
        assert!(!body.contains("'y'"), "escaped: {body}");
    }

    // Expression lists see the path too.
    let (code, body, _, _) = t
        .curl(&[&url("allowed.example", port, "/games/casino-42/play")])
        .await;
    assert_eq!(code, 403, "{body}");
    let (code, _, _, _) = t
        .curl(&[&url("allowed.example", port, "/games/casino/play")])
        .await;
    assert_eq!(code, 200);

    let events = t.events().await;
    let blocked: Vec<_> = events.iter().filter(|e| e.action == "block").collect();
    assert_eq!(blocked.len(), 3, "{events:?}");
    assert!(blocked.iter().all(|e| e.categories == vec!["adult"]));
    assert!(blocked.iter().any(|e| e.url.as_deref()
        == Some(
            format!("http://www.blocked.example:{port}/some/page?q=%3Cscript%3E&x='y'").as_bytes()
        )));
    assert_eq!(events.iter().filter(|e| e.action == "allow").count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_block_page_names_the_reference_that_was_logged() {
    let t = Running::start(ListenLimits::default()).await;
    let (code, body, _, _) = t
        .curl(&["-D", "-", &url("blocked.example", t.origin.port(), "/")])
        .await;
    assert_eq!(code, 403);
    let header = body
        .lines()
        .find_map(|l| l.strip_prefix("x-tutela-reference: "))
        .expect("reference header")
        .trim()
        .to_string();
    assert!(body.contains(&format!("<code>{header}</code>")), "{body}");
    let events = t.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reference.to_string(), header);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safe_search_is_forced_in_the_request() {
    let t = Running::start(ListenLimits::default()).await;
    let port = t.origin.port();
    let (code, body, err, _) = t
        .curl(&[&url("www.google.com", port, "/search?q=cats&safe=off")])
        .await;
    assert_eq!(code, 200, "{err}");
    assert!(
        body.contains("origin saw: GET /search?q=cats&safe=active\n"),
        "{body}"
    );
    let (code, body, _, _) = t
        .curl(&[&url("www.youtube.com", port, "/results?search_query=cats")])
        .await;
    assert_eq!(code, 200);
    assert!(body.contains("youtube-restrict: Strict"), "{body}");
    let events = t.events().await;
    let google = events
        .iter()
        .find(|e| e.host == b"www.google.com")
        .expect("google event");
    assert_eq!(google.action, "safesearch");
    assert_eq!(google.search.as_deref(), Some("cats"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_decided_on_the_host_and_on_the_tls_server_name() {
    let t = Running::start(ListenLimits::default()).await;
    let tls_port = t.tls.port().to_string();
    let ca = t.ca.to_str().unwrap().to_string();

    // Allowed: a real TLS conversation through the tunnel.
    let (code, body, err, _) = t
        .curl(&[
            "--cacert",
            &ca,
            &format!("https://secure.example:{tls_port}/"),
        ])
        .await;
    assert_eq!(code, 200, "{err}");
    assert_eq!(body, "secure hello\nGET / HTTP/1.1\n");

    // Blocked: the tunnel is refused with a 403.
    let (_, _, err, exit) = t.curl(&["https://blocked.example/"]).await;
    assert_ne!(exit, 0);
    assert!(err.contains("403"), "{err}");

    // Only allowed ports.
    let (_, _, err, exit) = t.curl(&["https://secure.example:22/"]).await;
    assert_ne!(exit, 0);
    assert!(err.contains("403"), "{err}");

    // Domain fronting: CONNECT to one name, TLS for another.
    let fronted = {
        let mut s = TcpStream::connect(t.server.addr).await.unwrap();
        s.write_all(
            format!("CONNECT secure.example:{tls_port} HTTP/1.1\r\nHost: secure.example:{tls_port}\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut head = [0u8; 1024];
        let n = s.read(&mut head).await.unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile_certs(&t.ca) {
            roots.add(cert).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = rustls::pki_types::ServerName::try_from("other.example").unwrap();
        connector.connect(name, s).await
    };
    assert!(fronted.is_err(), "a fronted handshake must not complete");

    // Not TLS at all inside the tunnel.
    let mut s = TcpStream::connect(t.server.addr).await.unwrap();
    s.write_all(
        format!("CONNECT secure.example:{tls_port} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut head = [0u8; 1024];
    let _ = s.read(&mut head).await.unwrap();
    s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.unwrap();
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("the proxy closes the tunnel")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing from the origin");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(t.proxy.stats.counts().tunnels, 3);
    let events = t.events().await;
    let rules: Vec<(&str, &str, &[u8])> = events
        .iter()
        .map(|e| (e.action.as_str(), e.rule.as_str(), e.host.as_slice()))
        .collect();
    assert!(
        rules.contains(&("allow", "default", b"secure.example".as_slice())),
        "{rules:?}"
    );
    assert!(
        rules.contains(&(
            "block",
            "group-block-category",
            b"blocked.example".as_slice()
        )),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("block", "circumvention", b"other.example".as_slice())),
        "{rules:?}"
    );
    assert_eq!(
        rules
            .iter()
            .filter(|r| r.1 == "circumvention" && r.2 == b"secure.example")
            .count(),
        1,
        "the tunnel that was not TLS: {rules:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_group_gets_another_answer_and_strangers_none() {
    let t = Running::start(ListenLimits::default()).await;
    let u = url("blocked.example", t.origin.port(), "/");
    let (code, _, _, _) = t.curl(&[&u]).await;
    assert_eq!(code, 403, "pupils");
    let (code, body, err, _) = t.curl(&["--interface", "127.0.0.2", &u]).await;
    assert_eq!(code, 200, "staff: {err}");
    assert!(body.contains("origin saw"));
    let (code, body, _, _) = t.curl(&["--interface", "127.0.0.9", &u]).await;
    assert_eq!(code, 403, "not a served client");
    assert!(body.contains("does not serve"), "{body}");
    let events = t.events().await;
    let staff = events
        .iter()
        .find(|e| e.client_ip == "127.0.0.2")
        .expect("staff event");
    assert_eq!(
        (staff.group.as_deref(), staff.site.as_deref()),
        (Some("staff"), Some("main"))
    );
    assert!(!events.iter().any(|e| e.client_ip == "127.0.0.9"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_loopback_and_metadata_are_out_of_reach() {
    let t = Running::start(ListenLimits::default()).await;
    let console_port = t.console.port();
    // Even with loopback allowed for tests, the console stays out of reach,
    // however its address is written.
    for u in [
        format!("http://127.0.0.1:{console_port}/admin"),
        format!("http://2130706433:{console_port}/admin"),
        format!("http://0x7f.1:{console_port}/admin"),
        format!("http://[::ffff:127.0.0.1]:{console_port}/admin"),
        format!("http://rebind.example:{console_port}/admin"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let (code, body, err, _) = t.curl(&[&u]).await;
        assert_eq!(code, 403, "{u}: {body} {err}");
        assert!(!body.contains("admin!"), "{u}");
    }
    let (_, _, err, exit) = t
        .curl(&[&format!("https://127.0.0.1:{console_port}/")])
        .await;
    assert_ne!(exit, 0, "{err}");
    assert!(t.proxy.stats.counts().refused_destinations >= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_the_listener_stays_up() {
    let t = Running::start(ListenLimits {
        max_header_bytes: 8192,
        ..ListenLimits::default()
    })
    .await;
    for garbage in [
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET http://a b c HTTP/1.1\r\n\r\n".to_vec(),
        b"GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET http://%00/ HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        format!(
            "GET http://a.example/ HTTP/1.1\r\nX: {}\r\n\r\n",
            "y".repeat(20_000)
        )
        .into_bytes(),
        vec![0xff; 3000],
    ] {
        let mut s = TcpStream::connect(t.server.addr).await.unwrap();
        s.write_all(&garbage).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        let head = String::from_utf8_lossy(&out);
        assert!(
            head.starts_with("HTTP/1.1 400") || head.starts_with("HTTP/1.1 431"),
            "{:?} -> {head}",
            String::from_utf8_lossy(&garbage[..garbage.len().min(60)])
        );
    }
    let (code, _, err, _) = t
        .curl(&[&url("allowed.example", t.origin.port(), "/page.html")])
        .await;
    assert_eq!(code, 200, "still serving: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_starve_the_proxy() {
    let t = Running::start(ListenLimits {
        max_connections: 10_000,
        max_connections_per_client: 200,
        header_timeout: Duration::from_secs(2),
        max_header_bytes: 32 * 1024,
    })
    .await;
    // A slowloris from one address: thousands of connections that never
    // finish a request.
    let mut idle = Vec::new();
    for _ in 0..3000 {
        if let Ok(mut s) = TcpStream::connect(t.server.addr).await {
            let _ = s
                .write_all(b"GET http://allowed.example/ HTTP/1.1\r\n")
                .await;
            idle.push(s);
        }
    }
    // Another client is served at once.
    let started = std::time::Instant::now();
    let (code, _, err, _) = t
        .curl(&[
            "--interface",
            "127.0.0.2",
            &url("allowed.example", t.origin.port(), "/page.html"),
        ])
        .await;
    assert_eq!(code, 200, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // And the idle ones are closed by the header deadline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = 0;
    for s in idle.iter_mut().take(200) {
        let mut b = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut b)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, 200, "every slow connection was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspected_https_is_filtered_by_url_and_blocks_show_the_page() {
    let t = Running::start(ListenLimits::default()).await;
    let tls_port = t.tls.port().to_string();
    let tutela_ca = t.tutela_ca.to_str().unwrap().to_string();
    let origin_ca = t.ca.to_str().unwrap().to_string();
    let inspected = |path: &str| {
        vec![
            "--interface".to_string(),
            "127.0.0.3".to_string(),
            "--cacert".to_string(),
            tutela_ca.clone(),
            format!("https://secure.example:{tls_port}{path}"),
        ]
    };
    let run = |args: Vec<String>| {
        let t = &t;
        async move {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            t.curl(&refs).await
        }
    };

    // The origin's page, through the proxy's own certificate, re-encrypted
    // to the origin (verified with its CA).
    let (code, body, err, _) = run(inspected("/public?q=1")).await;
    assert_eq!(code, 200, "{err}");
    assert_eq!(body, "secure hello\nGET /public?q=1 HTTP/1.1\n");
    // HTTP/2 from the browser, HTTP/1.1 to an origin that offers only that.
    let mut h2 = inspected("/public?v=2");
    h2.splice(
        0..0,
        [
            "--http2".to_string(),
            "-o".to_string(),
            "/dev/null".to_string(),
            "-w".to_string(),
            "%{http_version}\n".to_string(),
        ],
    );
    let (_, body, err, _) = run(h2).await;
    assert!(
        body.starts_with('2'),
        "HTTP/2 inside the inspected tunnel: {body} {err}"
    );
    // A URL-prefix rule sees the path inside HTTPS.
    let (code, body, err, _) = run(inspected("/private/diary")).await;
    assert_eq!(code, 403, "{err}");
    assert!(body.contains("This page is blocked"), "{body}");
    assert!(body.contains("secure.example/private"), "{body}");
    // A blocked host: decrypted only to show the block page.
    let (code, body, err, _) = run(vec![
        "--interface".into(),
        "127.0.0.3".into(),
        "--cacert".into(),
        tutela_ca.clone(),
        format!("https://blocked.example:{tls_port}/anything"),
    ])
    .await;
    assert_eq!(code, 403, "{err}");
    assert!(body.contains("adult"), "{body}");
    // Never-inspect sites keep their own certificate: only the origin's CA
    // verifies.
    let (code, body, err, _) = run(vec![
        "--interface".into(),
        "127.0.0.3".into(),
        "--cacert".into(),
        origin_ca.clone(),
        format!("https://bank.example:{tls_port}/account"),
    ])
    .await;
    assert_eq!(code, 200, "{err}");
    assert!(body.starts_with("secure hello"), "{body}");
    // Groups without inspection are never decrypted.
    let (code, _, err, _) = t
        .curl(&[
            "--cacert",
            &origin_ca,
            &format!("https://secure.example:{tls_port}/private/diary"),
        ])
        .await;
    assert_eq!(code, 200, "not inspected, so the path is not seen: {err}");

    let counts = t.proxy.stats.counts();
    assert_eq!(counts.inspected, 3, "{counts:?}");
    let events = t.events().await;
    let urls: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| {
            let url = String::from_utf8_lossy(e.url.as_deref()?).to_string();
            Some((e.action.clone(), url))
        })
        .collect();
    assert!(
        urls.contains(&(
            "allow".into(),
            format!("https://secure.example:{tls_port}/public?q=1")
        )),
        "{urls:?}"
    );
    assert!(
        urls.contains(&(
            "block".into(),
            format!("https://secure.example:{tls_port}/private/diary")
        )),
        "{urls:?}"
    );
    let https = events
        .iter()
        .find(|e| e.url.is_some() && e.protocol.as_str() == "https")
        .expect("an inspected event");
    assert_eq!(https.group.as_deref(), Some("inspected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_serves_its_pac_file_and_ca_certificate() {
    let t = Running::start(ListenLimits::default()).await;
    let get = |path: &str| {
        let url = format!("http://{}{path}", t.server.addr);
        async move {
            let out = tokio::process::Command::new("curl")
                .args(["-s", "-w", "\n%{http_code}", &url])
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    };
    let pac = get("/proxy.pac").await;
    assert!(
        pac.contains(&format!("return \"PROXY {}\";", t.server.addr)),
        "{pac}"
    );
    assert!(
        !pac.contains("DIRECT\";\n}"),
        "no way round the proxy: {pac}"
    );
    let pem = get("/tutela-ca.pem").await;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert_eq!(
        pem.trim_end().rsplit_once('\n').map(|(p, _)| p.trim_end()),
        Some(std::fs::read_to_string(&t.tutela_ca).unwrap().trim_end())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_names_the_user_and_their_group() {
    use tutela_policy::AccountConfig;
    let mut p = support::policy();
    p.accounts = vec![
        AccountConfig {
            username: "alice".into(),
            password_hash: tutela_proxy::auth::hash_password("correct horse").unwrap(),
            group: Some("staff".into()),
            expires: Some("2999-01-01T00:00:00Z".into()),
        },
        AccountConfig {
            username: "bob".into(),
            password_hash: tutela_proxy::auth::hash_password("battery staple").unwrap(),
            group: None,
            expires: None,
        },
        // A guest whose access has ended.
        AccountConfig {
            username: "guest-1".into(),
            password_hash: tutela_proxy::auth::hash_password("visiting day").unwrap(),
            group: Some("staff".into()),
            expires: Some("2026-01-01T00:00:00Z".into()),
        },
    ];
    let t = Running::with(ListenLimits::default(), p, |o| {
        o.authentication = tutela_proxy::Authentication::Required;
    })
    .await;
    let u = url("blocked.example", t.origin.port(), "/");

    let (code, _, _, _) = t.curl(&[&u]).await;
    assert_eq!(code, 407, "no credentials");
    let (code, _, _, _) = t.curl(&["--proxy-user", "alice:wrong", &u]).await;
    assert_eq!(code, 407, "wrong password");
    let (code, _, _, _) = t.curl(&["--proxy-user", "mallory:correct horse", &u]).await;
    assert_eq!(code, 407, "unknown user");
    let (code, _, _, _) = t.curl(&["--proxy-user", "guest-1:visiting day", &u]).await;
    assert_eq!(code, 407, "an expired guest");
    // Alice is staff, whose policy allows this site; Bob is a pupil.
    for _ in 0..2 {
        let (code, body, err, _) = t.curl(&["--proxy-user", "alice:correct horse", &u]).await;
        assert_eq!(code, 200, "{body} {err}");
    }
    let (code, body, _, _) = t.curl(&["--proxy-user", "bob:battery staple", &u]).await;
    assert_eq!(code, 403, "{body}");
    // CONNECT signs in too.
    let (_, _, err, exit) = t
        .curl(&[
            "--cacert",
            t.ca.to_str().unwrap(),
            &format!("https://secure.example:{}/", t.tls.port()),
        ])
        .await;
    assert_ne!(exit, 0);
    assert!(err.contains("407"), "{err}");

    let events = t.events().await;
    let alice: Vec<_> = events
        .iter()
        .filter(|e| e.user.as_deref() == Some("alice"))
        .collect();
    assert_eq!(alice.len(), 2, "{events:?}");
    assert!(alice
        .iter()
        .all(|e| e.group.as_deref() == Some("staff") && e.action == "allow"));
    let bob = events
        .iter()
        .find(|e| e.user.as_deref() == Some("bob"))
        .expect("bob's event");
    assert_eq!(
        (bob.group.as_deref(), bob.action.as_str()),
        (Some("pupils"), "block")
    );
    assert_eq!(
        events.len(),
        3,
        "refused sign-ins decide nothing: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_certificates_must_verify_except_on_the_exception_list() {
    // The origin's CA is not trusted here: only the exception list lets a
    // site through.
    let t = Running::with(ListenLimits::default(), support::policy(), |o| {
        o.origin_roots = Vec::new();
        o.certificate_exceptions = vec!["secure.example".into()];
    })
    .await;
    let tutela_ca = t.tutela_ca.to_str().unwrap().to_string();
    let get = |host: &str| {
        let url = format!("https://{host}:{}/page", t.tls.port());
        let ca = tutela_ca.clone();
        let t = &t;
        async move {
            t.curl(&["--interface", "127.0.0.3", "--cacert", &ca, &url])
                .await
        }
    };
    let (code, body, err, _) = get("secure.example").await;
    assert_eq!(code, 200, "excepted: {body} {err}");
    let (code, body, _, _) = get("other.example").await;
    assert_eq!(code, 502, "not excepted, so not trusted: {body}");
    assert!(body.contains("Cannot reach other.example"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_sees_the_host_that_was_decided() {
    let t = Running::start(ListenLimits::default()).await;
    let port = t.origin.port();
    // A Host header naming a blocked site on the same server is replaced.
    let (code, body, _, _) = t
        .curl(&[
            "-H",
            "Host: blocked.example",
            &url("allowed.example", port, "/echo"),
        ])
        .await;
    assert_eq!(code, 200);
    assert!(
        body.contains(&format!("host: allowed.example:{port}\n")),
        "{body}"
    );
    assert!(!body.contains("blocked.example"), "{body}");
}

/// CONNECT to an address, then a ClientHello naming `sni` (none for an IP
/// name): whether a TLS handshake completes through the tunnel.
async fn connect_by_address(t: &Running, sni: &str) -> bool {
    let tls_port = t.tls.port();
    let mut s = TcpStream::connect(t.server.addr).await.unwrap();
    s.write_all(format!("CONNECT 127.0.0.1:{tls_port} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 1024];
    let n = s.read(&mut head).await.unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&t.ca) {
        roots.add(cert).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from(sni.to_string()).unwrap();
    connector.connect(name, s).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_to_an_address_must_name_a_site_that_lives_there() {
    let t = Running::start(ListenLimits::default()).await;
    // secure.example resolves to 127.0.0.1 here: allowed.
    assert!(connect_by_address(&t, "secure.example").await);
    // A name that does not live at the address: fronting.
    assert!(!connect_by_address(&t, "elsewhere.invalid").await);
    // No name at all (an IP server name sends no SNI).
    assert!(!connect_by_address(&t, "127.0.0.1").await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = t.events().await;
    let circumvention = events
        .iter()
        .filter(|e| e.rule == "circumvention" && e.host == b"127.0.0.1")
        .count();
    assert_eq!(circumvention, 2, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_tunnels_count_against_the_client_limit() {
    let t = Running::start(ListenLimits {
        max_connections_per_client: 2,
        ..ListenLimits::default()
    })
    .await;
    let tls_port = t.tls.port();
    let mut tunnels = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(t.server.addr).await.unwrap();
        s.write_all(
            format!("CONNECT secure.example:{tls_port} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut head = [0u8; 1024];
        let n = s.read(&mut head).await.unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
        tunnels.push(s);
    }
    let (code, _, _, _) = t
        .curl(&[&url("allowed.example", t.origin.port(), "/")])
        .await;
    assert_eq!(
        code, 0,
        "a third connection from the same address is refused"
    );
    drop(tunnels);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (code, _, err, _) = t
        .curl(&[&url("allowed.example", t.origin.port(), "/")])
        .await;
    assert_eq!(code, 200, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_views_are_told_from_page_assets() {
    let t = Running::start(ListenLimits::default()).await;
    let port = t.origin.port();
    for (path, header) in [
        ("/page", "Sec-Fetch-Dest: document"),
        ("/logo.png", "Sec-Fetch-Dest: image"),
        ("/frame", "Sec-Fetch-Dest: iframe"),
        ("/old-browser", "Accept: text/html,application/xhtml+xml"),
        ("/script-fetch", "Accept: */*"),
    ] {
        let (code, _, err, _) = t
            .curl(&["-H", header, &url("allowed.example", port, path)])
            .await;
        assert_eq!(code, 200, "{err}");
    }
    let events = t.events().await;
    let mut views: Vec<(String, bool)> = events
        .iter()
        .map(|e| {
            let url = String::from_utf8_lossy(e.url.as_deref().unwrap_or_default()).to_string();
            let path = url.rsplit('/').next().unwrap_or_default().to_string();
            (path, e.page_view)
        })
        .collect();
    views.sort();
    assert_eq!(
        views,
        vec![
            ("frame".to_string(), false),
            ("logo.png".to_string(), false),
            ("old-browser".to_string(), true),
            ("page".to_string(), true),
            ("script-fetch".to_string(), false),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_guessing_is_locked_out() {
    use tutela_policy::AccountConfig;
    let mut p = support::policy();
    p.accounts = vec![AccountConfig {
        username: "alice".into(),
        password_hash: tutela_proxy::auth::hash_password("correct horse").unwrap(),
        group: None,
        expires: None,
    }];
    let t = Running::with(ListenLimits::default(), p, |o| {
        o.authentication = tutela_proxy::Authentication::Required;
    })
    .await;
    let u = url("allowed.example", t.origin.port(), "/");
    for i in 0..10 {
        let guess = format!("alice:guess{i}");
        let (code, _, _, _) = t.curl(&["--proxy-user", &guess, &u]).await;
        assert_eq!(code, 407);
    }
    let (code, _, _, _) = t.curl(&["--proxy-user", "alice:correct horse", &u]).await;
    assert_eq!(code, 407, "this address is locked out for now");
    let (code, _, err, _) = t
        .curl(&[
            "--interface",
            "127.0.0.2",
            "--proxy-user",
            "alice:correct horse",
            &u,
        ])
        .await;
    assert_eq!(code, 200, "another address is not: {err}");
}

/// A CONNECT tunnel through to the TLS origin, TLS done, ready to idle.
async fn open_tunnel(t: &Running) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(t.server.addr).await.unwrap();
    let host = format!("secure.example:{}", t.tls.port());
    s.write_all(format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).await.unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    let mut roots = rustls::RootCertStore::empty();
    for c in support::rustls_pemfile_certs(&t.ca) {
        roots.add(c).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("secure.example").unwrap();
    connector
        .connect(name, s)
        .await
        .expect("TLS through the tunnel")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_is_closed_after_the_limit_and_not_before() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Running::with(ListenLimits::default(), support::policy(), |o| {
        o.tunnel_idle_timeout = Duration::from_millis(800);
    })
    .await;
    // Quiet for less than the limit: still open, and the request goes
    // through (the test origin answers one request and closes).
    let mut quiet = open_tunnel(&t).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    quiet
        .write_all(b"GET / HTTP/1.1\r\nHost: secure.example\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = quiet.read(&mut buf).await.expect("the tunnel is open");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Idle: closed soon after the limit.
    let mut idle = open_tunnel(&t).await;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf)).await;
    let closed = matches!(read, Ok(Ok(0)) | Ok(Err(_)));
    assert!(closed, "the idle tunnel should be closed, got {read:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert!(t.proxy.stats.counts().tunnels_idle >= 1);
}
