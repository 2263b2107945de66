//! The spill journal: an append-only file of events that could not go to
//! the database yet (queue full, database down). Replayed when it can.
//!
//! A record is `[length u32 LE][crc32 u32 LE][postcard bytes]`. A process
//! killed mid-write leaves a torn last record; reading stops there and
//! reports it, so a crash never poisons the records before it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::event::AccessEvent;

/// Bytes of records gathered before they are written.
const PENDING_LIMIT: usize = 64 << 10;

/// The largest record accepted: a 64 KiB URL and friends fit easily.
const MAX_RECORD: u32 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal I/O on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot encode an event: {0}")]
    Encode(#[from] postcard::Error),
    /// A write failed (a full disk, say). The records still in the buffer
    /// were discarded with the file's torn tail; the next append starts a
    /// new file so that records after the tear stay readable.
    #[error("journal write failed on {}: {source}; {lost_buffered} buffered events lost", path.display())]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: io::Error,
        lost_buffered: u64,
    },
}

impl JournalError {
    /// Events that had been accepted (counted as spilled) and are now lost.
    pub fn lost_buffered(&self) -> u64 {
        match self {
            JournalError::WriteFailed { lost_buffered, .. } => *lost_buffered,
            _ => 0,
        }
    }
}

/// The file spilled events are appended to.
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Whole records not yet handed to the OS. Written in one call, so a
    /// failed write loses exactly these and no more.
    pending: Vec<u8>,
    records: u64,
    /// Records appended since the last successful flush.
    unflushed: u64,
    /// A write failed; start a new file before the next append.
    broken: bool,
    /// When the oldest pending record was appended.
    pending_since: std::time::Instant,
    /// The longest a record waits in the buffer once another is appended.
    max_delay: std::time::Duration,
    next_seq: u64,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Journal {
    /// Opens a new spill file in `dir`; files left by an earlier run stay
    /// for [`Journal::pending_files`] to replay.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let next_seq = Self::files(dir)?
            .iter()
            .filter_map(|p| seq_of(p))
            .max()
            .map_or(0, |s| s + 1);
        let (path, file) = Self::create(dir, next_seq)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            path,
            file,
            pending: Vec::with_capacity(PENDING_LIMIT),
            records: 0,
            unflushed: 0,
            broken: false,
            pending_since: std::time::Instant::now(),
            max_delay: std::time::Duration::from_millis(250),
            next_seq: next_seq + 1,
        })
    }

    /// The longest a record may wait in the buffer while others arrive.
    pub fn set_max_delay(&mut self, max_delay: std::time::Duration) {
        self.max_delay = max_delay;
    }

    fn create(dir: &Path, seq: u64) -> Result<(PathBuf, File), JournalError> {
        let path = dir.join(format!("spill-{seq:012}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok((path, file))
    }

    fn files(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| seq_of(p).is_some())
            .collect();
        files.sort();
        Ok(files)
    }

    pub fn append(&mut self, event: &AccessEvent) -> Result<(), JournalError> {
        if self.broken {
            self.start_new_file()?;
        }
        let payload = postcard::to_stdvec(event)?;
        let mut record = Vec::with_capacity(8 + payload.len());
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        record.extend_from_slice(&payload);
        if self.pending.is_empty() {
            self.pending_since = std::time::Instant::now();
        }
        self.pending.extend_from_slice(&record);
        self.records += 1;
        self.unflushed += 1;
        if self.pending.len() >= PENDING_LIMIT || self.pending_since.elapsed() >= self.max_delay {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes `events` to a file of their own and hands it to the OS before
    /// they go to the database: if the process dies mid-commit, the next
    /// start replays them. Returns the file, to remove once committed.
    pub fn write_ahead(&mut self, events: &[AccessEvent]) -> Result<PathBuf, JournalError> {
        if self.records > 0 || self.broken {
            self.flush()?;
            self.start_new_file()?;
        }
        for e in events {
            self.append(e)?;
        }
        self.flush()?;
        let path = self.path.clone();
        self.start_new_file()?;
        Ok(path)
    }

    /// Hands buffered records to the OS, where a killed process no longer
    /// loses them. Also done whenever the buffer has waited `max_delay`.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        if self.broken {
            return Ok(());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.file.write_all(&self.pending) {
            Ok(()) => {
                self.pending.clear();
                self.unflushed = 0;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Gives up on the buffer after a failed write: what it held is lost,
    /// and retrying would only append after a torn record.
    fn fail(&mut self, source: io::Error) -> JournalError {
        self.broken = true;
        let lost_buffered = self.unflushed;
        self.unflushed = 0;
        self.pending.clear();
        JournalError::WriteFailed {
            path: self.path.clone(),
            source,
            lost_buffered,
        }
    }

    fn start_new_file(&mut self) -> Result<(), JournalError> {
        let (path, file) = Self::create(&self.dir, self.next_seq)?;
        self.next_seq += 1;
        self.path = path;
        self.file = file;
        self.records = 0;
        self.broken = false;
        Ok(())
    }

    /// Records in the current file.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Closes the current file (if it has records) and starts a new one,
    /// returning every closed file in order, ready to replay.
    pub fn rotate(&mut self) -> Result<Vec<PathBuf>, JournalError> {
        if self.records > 0 || self.broken {
            self.flush()?;
            self.start_new_file()?;
        }
        Ok(Self::files(&self.dir)?
            .into_iter()
            .filter(|p| *p != self.path)
            .collect())
    }
}

fn seq_of(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix("spill-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// What reading a journal file found.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub events: Vec<AccessEvent>,
    /// Bytes at the end that did not form a whole, valid record.
    pub torn_bytes: u64,
}

/// Reads every whole record of a journal file.
pub fn read_file(path: &Path) -> Result<ReadOutcome, JournalError> {
    let file = File::open(path).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut r = BufReader::new(file);
    let mut out = ReadOutcome::default();
    let mut consumed = 0u64;
    loop {
        let mut header = [0u8; 8];
        match r.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_err(path)(e)),
        }
        let n = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if n > MAX_RECORD {
            break;
        }
        let mut payload = vec![0u8; n as usize];
        if r.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            break;
        }
        // A record is whole (its CRC matched), so a decoding that does not
        // use every byte is an older layout, not a newer one with junk.
        let decoded = match postcard::take_from_bytes::<AccessEvent>(&payload) {
            Ok((e, [])) => Some(e),
            _ => postcard::from_bytes::<crate::event::AccessEventV1>(&payload)
                .ok()
                .map(AccessEvent::from),
        };
        match decoded {
            Some(e) => out.events.push(e),
            None => break,
        }
        consumed += 8 + n as u64;
    }
    out.torn_bytes = len - consumed;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventRef, Protocol};

    fn event(page_view: bool) -> AccessEvent {
        AccessEvent {
            reference: EventRef(42),
            time_us: 1_764_000_000_000_000,
            site: None,
            device: None,
            client_ip: "10.0.0.1".into(),
            user: Some("alice".into()),
            group: Some("pupils".into()),
            protocol: Protocol::Http,
            host: b"example.com".to_vec(),
            url: Some(b"http://example.com/".to_vec()),
            search: None,
            action: "allow".into(),
            categories: vec![],
            rule: "default".into(),
            count: 1,
            page_view,
        }
    }

    fn record(payload: &[u8]) -> Vec<u8> {
        let mut r = (payload.len() as u32).to_le_bytes().to_vec();
        r.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        r.extend_from_slice(payload);
        r
    }

    #[test]
    fn journals_from_before_page_views_still_replay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.journal");
        let new = postcard::to_allocvec(&event(true)).unwrap();
        // The older layout is the same fields without the last one (a bool
        // is one trailing byte).
        let old = &new[..new.len() - 1];
        let mut bytes = record(old);
        bytes.extend(record(&new));
        std::fs::write(&path, bytes).unwrap();
        let out = read_file(&path).unwrap();
        assert_eq!(out.events, vec![event(false), event(true)]);
        assert_eq!(out.torn_bytes, 0);
    }
}
