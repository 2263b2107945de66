//! A real PostgreSQL restart in the middle of ingest. The test runs its own
//! throw-away cluster (initdb + pg_ctl as the `postgres` user), so restarting
//! it cannot disturb the shared server other tests use.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::event;
use tutela_store::{EventQuery, StoreConfig, Writer, WriterConfig};

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists() && p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn as_postgres(bin: &Path, tool: &str, args: &[&str]) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join(tool))
        .args(args)
        .output()
        .map(|o| {
            if !o.status.success() {
                eprintln!("{tool} failed: {}", String::from_utf8_lossy(&o.stderr));
            }
            o.status.success()
        })
        .unwrap_or(false)
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let bin = pg_bin()?;
        let dir = tempfile::tempdir().ok()?;
        let chown = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .status()
            .ok()?;
        if !chown.success() {
            return None;
        }
        let data = dir.path().join("data");
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        if !as_postgres(
            &bin,
            "initdb",
            &["-D", data.to_str()?, "-A", "trust", "-U", "postgres"],
        ) {
            return None;
        }
        let cluster = Cluster {
            bin,
            data,
            port,
            _dir: dir,
        };
        cluster.ctl(&["start"]).then_some(cluster)
    }

    fn ctl(&self, action: &[&str]) -> bool {
        pg_ctl(&self.bin, &self.data, self.port, action)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

fn pg_ctl(bin: &Path, data: &Path, port: u16, action: &[&str]) -> bool {
    let parent = data.parent().unwrap_or(data);
    let opts = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {}",
        parent.display()
    );
    let log = parent.join("log");
    let (data, log) = (data.display().to_string(), log.display().to_string());
    let mut args = vec!["-D", &data, "-o", &opts, "-l", &log, "-w"];
    args.extend_from_slice(action);
    as_postgres(bin, "pg_ctl", &args)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.ctl(&["stop", "-m", "immediate"]);
    }
}

#[test]
fn postgres_restart_mid_ingest_resumes_with_no_loss() {
    let Some(cluster) = Cluster::start() else {
        eprintln!("\n*** SKIPPED postgres_restart_mid_ingest: needs PostgreSQL server binaries, root and a `postgres` user ***\n");
        return;
    };
    let store = StoreConfig::Postgres {
        url: cluster.url(),
        schema: None,
    };
    store.open().unwrap().migrate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = WriterConfig {
        flush_interval: Duration::from_millis(50),
        reconnect_every: Duration::from_millis(100),
        retention_days: 0,
        ..WriterConfig::new(dir.path().join("journal"))
    };
    let connect_to = store.clone();
    let writer = Writer::start(config, Box::new(move || connect_to.open())).unwrap();
    let sink = writer.sink().unwrap();
    let t = jiff::Timestamp::now().as_microsecond();
    let n = 40_000i64;
    let restarter = std::thread::spawn({
        let (bin, data, port) = (cluster.bin.clone(), cluster.data.clone(), cluster.port);
        move || {
            std::thread::sleep(Duration::from_millis(500));
            pg_ctl(&bin, &data, port, &["restart", "-m", "fast"])
        }
    });
    for i in 0..n {
        sink.record(event(i, t + i));
        if i % 1_000 == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(restarter.join().unwrap(), "pg_ctl restart failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    while (writer.stats().written + writer.stats().replayed) < n as u64 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(sink);
    let stats = writer.shutdown();
    assert!(
        stats.database_errors > 0,
        "the restart was not noticed: {stats:?}"
    );
    assert_eq!(stats.dropped, 0, "{stats:?}");
    let mut db = store.open().unwrap();
    let mut refs: Vec<i64> = db
        .query_all(&EventQuery::default())
        .unwrap()
        .iter()
        .map(|e| e.reference.0)
        .collect();
    refs.sort();
    assert_eq!(refs, (0..n).collect::<Vec<_>>(), "{stats:?}");
}
