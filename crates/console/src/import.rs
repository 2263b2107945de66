//! Importing pupils and staff from a school MIS export (CSV). Every row is
//! checked before anything is written; a file with errors imports nothing
//! unless the user confirms the valid rows, and then those go in together
//! or not at all.

use std::collections::HashSet;

use serde::Serialize;
use tutela_store::people::NewUser;

/// Largest file accepted.
pub const MAX_BYTES: usize = 5 * 1024 * 1024;
/// Most rows in one import.
pub const MAX_ROWS: usize = 20_000;

/// One row that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The line in the file (the header is line 1).
    pub line: u64,
    pub message: String,
}

/// What a file holds once checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportPlan {
    /// Rows that can be imported.
    #[serde(skip)]
    pub valid: Vec<NewUser>,
    pub valid_rows: usize,
    /// Usernames of the valid rows, for the preview.
    pub usernames: Vec<String>,
    pub errors: Vec<RowError>,
    /// Columns the file has that the import does not read.
    pub ignored_columns: Vec<String>,
}

/// A file-wide problem: nothing could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is larger than {} MB", MAX_BYTES / 1024 / 1024)]
    TooLarge,
    #[error("the file is empty")]
    Empty,
    #[error("the header row has no {0} column (accepted names: {1})")]
    MissingColumn(&'static str, &'static str),
    #[error("the file has more than {MAX_ROWS} rows; split it")]
    TooManyRows,
    #[error("the header row cannot be read: {0}")]
    BadHeader(String),
}

/// Column names as MIS exports spell them (SIMS, Arbor, Bromcom...),
/// compared without case, spaces, dashes or underscores.
const USERNAME: &[&str] = &[
    "username",
    "user",
    "login",
    "userid",
    "email",
    "emailaddress",
    "upn",
];
const KIND: &[&str] = &["kind", "type", "role", "usertype", "persontype"];
const DISPLAY: &[&str] = &["displayname", "name", "fullname", "preferredname"];
const FORENAME: &[&str] = &[
    "forename",
    "firstname",
    "legalforename",
    "preferredforename",
    "givenname",
];
const SURNAME: &[&str] = &[
    "surname",
    "lastname",
    "legalsurname",
    "preferredsurname",
    "familyname",
];
const YEAR: &[&str] = &["yeargroup", "year", "nc year", "ncyear", "yr"];

fn squash(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers
        .iter()
        .position(|h| names.iter().any(|n| squash(n) == *h))
}

/// `pupil` or `staff` from what exports write.
fn kind_of(text: &str) -> Option<&'static str> {
    match squash(text).as_str() {
        "pupil" | "student" | "learner" | "child" => Some("pupil"),
        "staff" | "teacher" | "employee" | "support" | "teachingstaff" | "supportstaff" => {
            Some("staff")
        }
        _ => None,
    }
}

/// Text that can be shown and stored: no control characters, not too
/// long.
fn clean(field: &str, what: &str, max: usize) -> Result<String, String> {
    let t = field.trim();
    if t.chars().any(char::is_control) {
        return Err(format!("the {what} has a control character"));
    }
    if t.chars().count() > max {
        return Err(format!("the {what} is longer than {max} characters"));
    }
    Ok(t.to_string())
}

/// Reads and checks `data`. `taken` says whether a username is already in
/// the store. `default_kind` applies when the file has no kind column.
pub fn plan(
    data: &[u8],
    default_kind: &str,
    taken: &dyn Fn(&str) -> bool,
) -> Result<ImportPlan, ImportError> {
    if data.len() > MAX_BYTES {
        return Err(ImportError::TooLarge);
    }
    // Excel's UTF-8 files start with a byte-order mark.
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    if data.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ImportError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data);
    let headers: Vec<String> = reader
        .byte_headers()
        .map_err(|e| ImportError::BadHeader(e.to_string()))?
        .iter()
        .map(|h| squash(&String::from_utf8_lossy(h)))
        .collect();
    let username = find(&headers, USERNAME).ok_or(ImportError::MissingColumn(
        "username",
        "username, user, login, email, UPN",
    ))?;
    let kind = find(&headers, KIND);
    let display = find(&headers, DISPLAY);
    let forename = find(&headers, FORENAME);
    let surname = find(&headers, SURNAME);
    let year = find(&headers, YEAR);
    let used: HashSet<usize> = [Some(username), kind, display, forename, surname, year]
        .into_iter()
        .flatten()
        .collect();
    let raw_headers = reader
        .byte_headers()
        .map(|h| {
            h.iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut out = ImportPlan {
        ignored_columns: raw_headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !used.contains(i))
            .map(|(_, h)| h.clone())
            .collect(),
        ..Default::default()
    };
    let width = headers.len();
    let mut seen = HashSet::new();
    for (n, record) in reader.byte_records().enumerate() {
        if n >= MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let line = n as u64 + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                out.errors.push(RowError {
                    line,
                    message: format!("cannot be read: {e}"),
                });
                continue;
            }
        };
        let line = record.position().map_or(line, |p| p.line());
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let row = (|| -> Result<NewUser, String> {
            if record.len() != width {
                return Err(format!(
                    "has {} fields where the header has {width} (a cut-off or shifted row?)",
                    record.len()
                ));
            }
            let field = |i: Option<usize>, what: &str| -> Result<String, String> {
                match i.and_then(|i| record.get(i)) {
                    Some(bytes) => {
                        let text = std::str::from_utf8(bytes).map_err(|_| {
                            format!("the {what} is not UTF-8 text (save the file as CSV UTF-8)")
                        })?;
                        clean(text, what, 200)
                    }
                    None => Ok(String::new()),
                }
            };
            let name = field(Some(username), "username")?.to_lowercase();
            crate::actions::check_username(&name).map_err(|e| format!("username {name:?}: {e}"))?;
            let kind_text = field(kind, "kind")?;
            let kind = if kind_text.is_empty() {
                default_kind
            } else {
                kind_of(&kind_text)
                    .ok_or_else(|| format!("kind {kind_text:?} is not pupil or staff"))?
            };
            let display = {
                let d = field(display, "name")?;
                if d.is_empty() {
                    let full = format!(
                        "{} {}",
                        field(forename, "forename")?,
                        field(surname, "surname")?
                    );
                    full.trim().to_string()
                } else {
                    d
                }
            };
            let year = field(year, "year group")?;
            if !seen.insert(name.clone()) {
                return Err(format!("username {name:?} is in the file twice"));
            }
            if taken(&name) {
                return Err(format!("username {name:?} already exists"));
            }
            Ok(NewUser {
                username: name,
                display_name: Some(display).filter(|d| !d.is_empty()),
                kind: kind.to_string(),
                year_group: Some(year).filter(|y| !y.is_empty()),
                ..Default::default()
            })
        })();
        match row {
            Ok(user) => {
                out.usernames.push(user.username.clone());
                out.valid.push(user);
            }
            Err(message) => out.errors.push(RowError { line, message }),
        }
    }
    out.valid_rows = out.valid.len();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn a_sims_style_export_is_read_by_its_own_column_names() {
        let csv = "\u{feff}UPN,Legal Forename,Legal Surname,Year,Reg Group\nA123,Ada,Lovelace,Year 7,7L\nB456,Alan,Turing,Year 8,8T\n";
        let p = plan(csv.as_bytes(), "pupil", &none).unwrap();
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.usernames, vec!["a123", "b456"]);
        assert_eq!(p.valid[0].display_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(p.valid[0].year_group.as_deref(), Some("Year 7"));
        assert_eq!(p.valid[0].kind, "pupil");
        assert_eq!(p.ignored_columns, vec!["Reg Group"]);
    }

    #[test]
    fn every_bad_row_is_reported_by_line_and_the_good_ones_kept() {
        let csv = b"username,name,type\nok1,One,pupil\nbad name,Two,pupil\nok1,Dup,staff\nok3,Three,wizard\nok4,Four\nok5,Fi\x07ve,staff\nok6,\xff\xfe,staff\ntaken,T,staff\nok9,Nine,Teacher\n";
        let p = plan(csv, "pupil", &|u| u == "taken").unwrap();
        let lines: Vec<u64> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9], "{:?}", p.errors);
        assert!(p.errors[0].message.contains("bad name"));
        assert!(p.errors[1].message.contains("twice"));
        assert!(p.errors[3].message.contains("fields"), "a cut-off row");
        assert!(p.errors[5].message.contains("UTF-8"));
        assert!(p.errors[6].message.contains("already exists"));
        assert_eq!(p.usernames, vec!["ok1", "ok9"]);
        assert_eq!(p.valid[1].kind, "staff");
    }

    #[test]
    fn files_that_cannot_be_read_say_why() {
        assert_eq!(plan(b"", "pupil", &none).unwrap_err(), ImportError::Empty);
        assert!(matches!(
            plan(b"forename,surname\nA,B\n", "pupil", &none),
            Err(ImportError::MissingColumn("username", _))
        ));
        let big = vec![b'a'; MAX_BYTES + 1];
        assert_eq!(
            plan(&big, "pupil", &none).unwrap_err(),
            ImportError::TooLarge
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_a_plan_or_an_error_never_a_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let mut file = b"username,name,kind,year\n".to_vec();
            file.extend_from_slice(&data);
            if let Ok(p) = plan(&file, "pupil", &none) {
                proptest::prop_assert_eq!(p.valid.len(), p.usernames.len());
                for u in &p.valid {
                    proptest::prop_assert!(crate::actions::check_username(&u.username).is_ok());
                }
            }
            let _ = plan(&data, "staff", &none);
        }
    }
}
