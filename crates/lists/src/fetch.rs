//! Fetching lists over HTTP(S), and the on-disk cache of last good copies.
//!
//! Layout under the cache folder, one folder per source:
//! `current` (the last good copy: a file, or a UT1 tree), `incoming` (a fresh
//! copy not yet known to be good) and `meta.json` (ETag, Last-Modified, and
//! the size and time of a local source when it was copied). A fresh copy
//! replaces `current` only after it has been read and found non-empty, so a
//! broken update never costs the last good list.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest download accepted, compressed.
const MAX_DOWNLOAD: u64 = 2 << 30;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("URL sources need a data directory to cache into")]
    NoCache,
    #[error("not fetched yet, and fetching is off")]
    NotFetched,
    #[error("HTTP request failed: {0}")]
    Http(String),
    #[error("server answered {0}")]
    Status(u16),
    #[error("server answered 304 Not Modified but there is no cached copy")]
    NotModifiedWithoutCopy,
    #[error("download larger than {MAX_DOWNLOAD} bytes")]
    TooLarge,
    #[error("cache I/O on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("bad archive: {0}")]
    Archive(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Meta {
    url: Option<String>,
    etag: Option<String>,
    last_modified: Option<String>,
    local_path: Option<PathBuf>,
    local_len: Option<u64>,
    local_mtime_ns: Option<u128>,
}

/// The cache of list copies.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A copy of a list that is about to be read.
#[derive(Debug)]
pub enum Candidate {
    /// The cached last good copy (the server said 304, or fetching is off).
    Current(PathBuf),
    /// A fresh download in `incoming`; [`Candidate::commit`] makes it current.
    New {
        source_dir: PathBuf,
        incoming: PathBuf,
        meta: Box<MetaUpdate>,
    },
}

/// What `meta.json` will say once a new copy is committed.
#[derive(Debug)]
pub struct MetaUpdate(Meta);

impl Candidate {
    pub fn path(&self) -> &Path {
        match self {
            Candidate::Current(p) => p,
            Candidate::New { incoming, .. } => incoming,
        }
    }

    /// Makes a fresh copy the last good one.
    pub fn commit(self) -> Result<(), FetchError> {
        match self {
            Candidate::Current(_) => Ok(()),
            Candidate::New {
                source_dir,
                incoming,
                meta,
            } => commit(&source_dir, &incoming, &meta.0),
        }
    }

    /// Drops a fresh copy that turned out to be bad.
    pub fn discard(&self) {
        if let Candidate::New { incoming, .. } = self {
            remove_any(incoming);
        }
    }
}

fn commit(source_dir: &Path, incoming: &Path, meta: &Meta) -> Result<(), FetchError> {
    let current = source_dir.join("current");
    let previous = source_dir.join("previous");
    remove_any(&previous);
    if current.exists() {
        fs::rename(&current, &previous).map_err(io_err(&current))?;
    }
    fs::rename(incoming, &current).map_err(io_err(incoming))?;
    remove_any(&previous);
    write_meta(source_dir, meta)
}

fn write_meta(source_dir: &Path, meta: &Meta) -> Result<(), FetchError> {
    let path = source_dir.join("meta.json");
    let tmp = source_dir.join("meta.json.tmp");
    let text = serde_json::to_vec_pretty(meta).map_err(|e| FetchError::Io {
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    fs::write(&tmp, text).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))
}

fn remove_any(path: &Path) {
    let _ = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
}

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    fn source_dir(&self, name: &str) -> PathBuf {
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(safe)
    }

    fn meta(&self, name: &str) -> Meta {
        fs::read(self.source_dir(name).join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The last good copy of `name`, if there is one.
    pub fn last_good(&self, name: &str) -> Option<PathBuf> {
        let p = self.source_dir(name).join("current");
        p.exists().then_some(p)
    }

    /// Keeps a copy of a local list that just loaded well, unless the
    /// cached copy is already of the same size and time.
    pub fn remember_local(&self, name: &str, path: &Path) -> Result<(), FetchError> {
        let md = fs::metadata(path).map_err(io_err(path))?;
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos());
        let mut meta = self.meta(name);
        let same = meta.local_path.as_deref() == Some(path)
            && meta.local_len == Some(md.len())
            && meta.local_mtime_ns == mtime
            && self.last_good(name).is_some();
        if same {
            return Ok(());
        }
        let dir = self.source_dir(name);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let incoming = dir.join("incoming");
        remove_any(&incoming);
        copy_any(path, &incoming)?;
        meta.local_path = Some(path.to_path_buf());
        meta.local_len = Some(md.len());
        meta.local_mtime_ns = mtime;
        commit(&dir, &incoming, &meta)
    }

    /// Fetches `url` with a conditional GET. On 304 the cached copy is the
    /// candidate; on 200 the body (unpacked, for an archive) is.
    pub fn fetch(
        &self,
        name: &str,
        url: &str,
        is_archive: bool,
        timeout: Option<Duration>,
    ) -> Result<Candidate, FetchError> {
        let dir = self.source_dir(name);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let meta = self.meta(name);
        let current = self.last_good(name);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout.unwrap_or(Duration::from_secs(300))))
            .build();
        let agent = ureq::Agent::new_with_config(config);
        let mut request = agent.get(url);
        if current.is_some() && meta.url.as_deref() == Some(url) {
            if let Some(etag) = &meta.etag {
                request = request.header("If-None-Match", etag);
            }
            if let Some(lm) = &meta.last_modified {
                request = request.header("If-Modified-Since", lm);
            }
        }
        let mut response = request
            .call()
            .map_err(|e| FetchError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        if status == 304 {
            return current
                .map(Candidate::Current)
                .ok_or(FetchError::NotModifiedWithoutCopy);
        }
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        let header = |n: &str| {
            response
                .headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let new_meta = Meta {
            url: Some(url.to_string()),
            etag: header("etag"),
            last_modified: header("last-modified"),
            ..Default::default()
        };
        let download = dir.join("download.part");
        {
            let mut file = fs::File::create(&download).map_err(io_err(&download))?;
            let mut body = response
                .body_mut()
                .with_config()
                .limit(MAX_DOWNLOAD + 1)
                .reader();
            let copied =
                io::copy(&mut body, &mut file).map_err(|e| FetchError::Http(e.to_string()))?;
            if copied > MAX_DOWNLOAD {
                remove_any(&download);
                return Err(FetchError::TooLarge);
            }
            file.flush().map_err(io_err(&download))?;
            file.sync_all().map_err(io_err(&download))?;
        }
        let incoming = dir.join("incoming");
        remove_any(&incoming);
        if is_archive {
            let unpacked = unpack_tar_gz(&download, &incoming);
            remove_any(&download);
            unpacked?;
        } else {
            fs::rename(&download, &incoming).map_err(io_err(&download))?;
        }
        Ok(Candidate::New {
            source_dir: dir,
            incoming,
            meta: Box::new(MetaUpdate(new_meta)),
        })
    }
}

fn unpack_tar_gz(archive: &Path, into: &Path) -> Result<(), FetchError> {
    let file = fs::File::open(archive).map_err(io_err(archive))?;
    let gz = flate2::read::GzDecoder::new(io::BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    fs::create_dir_all(into).map_err(io_err(into))?;
    let entries = tar
        .entries()
        .map_err(|e| FetchError::Archive(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| FetchError::Archive(e.to_string()))?;
        // Only plain files and folders; links in a downloaded archive could
        // point anywhere. UT1's alias links become small files naming their
        // target, which is how the tree reader expects aliases.
        let kind = entry.header().entry_type();
        if kind.is_symlink() {
            if let (Ok(path), Ok(Some(target))) = (entry.path(), entry.link_name()) {
                let path = path.into_owned();
                let target = target.to_string_lossy().trim_end_matches('/').to_string();
                if let Some(dest) = safe_join(into, &path) {
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent).map_err(io_err(parent))?;
                    }
                    fs::write(&dest, target).map_err(io_err(&dest))?;
                }
            }
            continue;
        }
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        // unpack_in refuses paths that climb out of `into`.
        entry
            .unpack_in(into)
            .map_err(|e| FetchError::Archive(e.to_string()))?;
    }
    Ok(())
}

fn safe_join(root: &Path, rel: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn copy_any(from: &Path, to: &Path) -> Result<(), FetchError> {
    if from.is_dir() {
        fs::create_dir_all(to).map_err(io_err(to))?;
        for entry in fs::read_dir(from).map_err(io_err(from))? {
            let entry = entry.map_err(io_err(from))?;
            copy_any(&entry.path(), &to.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        let mut src = fs::File::open(from).map_err(io_err(from))?;
        let mut dst = fs::File::create(to).map_err(io_err(to))?;
        io::copy(&mut src, &mut dst).map_err(io_err(to))?;
        // Written files are read back at once; make the copy durable before
        // it replaces the last good one.
        dst.sync_all().map_err(io_err(to))?;
        Ok(())
    }
}

/// Finds the folder of category folders in an unpacked UT1 tree: `path`
/// itself, or its one subfolder (the archive holds `blacklists/...`).
pub fn ut1_root(path: &Path) -> Option<PathBuf> {
    let has_categories = |p: &Path| {
        fs::read_dir(p).ok().is_some_and(|rd| {
            rd.flatten().any(|e| {
                let p = e.path();
                p.is_dir() && (p.join("domains").exists() || p.join("urls").exists())
            })
        })
    };
    if has_categories(path) {
        return Some(path.to_path_buf());
    }
    let subdirs: Vec<PathBuf> = fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match subdirs.as_slice() {
        [only] if has_categories(only) => Some(only.clone()),
        _ => None,
    }
}
