//! Searching the access log, and exporting it as CSV.

use std::io::Write;

use crate::event::AccessEvent;

/// A search of the access log. Every filter is optional; results come
/// newest first, `limit` at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub user: Option<String>,
    pub ip: Option<String>,
    pub device: Option<String>,
    /// The school site.
    pub site: Option<String>,
    /// A website: this host or any name under it (`example.com` finds
    /// `www.example.com`).
    pub host: Option<String>,
    pub group: Option<String>,
    /// Inclusive, microseconds since the Unix epoch.
    pub since_us: Option<i64>,
    /// Exclusive.
    pub until_us: Option<i64>,
    pub action: Option<String>,
    pub category: Option<String>,
    /// Text within the search terms, case-insensitive.
    pub search: Option<String>,
    /// Page size; capped at [`MAX_PAGE`].
    pub limit: usize,
    /// Continue after this (time, reference), from the last row of the
    /// previous page.
    pub before: Option<(i64, i64)>,
}

pub const MAX_PAGE: usize = 10_000;

impl EventQuery {
    pub fn page_size(&self) -> usize {
        match self.limit {
            0 => 100,
            n => n.min(MAX_PAGE),
        }
    }
}

/// A value bound to a `?` placeholder of shared SQL, or read from a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    Null,
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

impl SqlValue {
    pub fn text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl From<&str> for SqlValue {
    fn from(t: &str) -> Self {
        SqlValue::Text(t.to_string())
    }
}

impl From<String> for SqlValue {
    fn from(t: String) -> Self {
        SqlValue::Text(t)
    }
}

impl From<i64> for SqlValue {
    fn from(i: i64) -> Self {
        SqlValue::Int(i)
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// `?` → `$1`, `$2`…, for PostgreSQL. Shared SQL never has `?` inside a
/// literal.
pub(crate) fn numbered_placeholders(sql: &str) -> String {
    let mut numbered = String::with_capacity(sql.len() + 8);
    for (n, piece) in sql.split('?').enumerate() {
        if n > 0 {
            numbered.push_str(&format!("${n}"));
        }
        numbered.push_str(piece);
    }
    numbered
}

/// The filters of `q` as SQL conditions, each starting ` AND `, with `?` for
/// each value in order: one piece for both dialects. `ilike` is the
/// dialect's case-insensitive LIKE (`LIKE` in SQLite, `ILIKE` in PostgreSQL).
pub(crate) fn conditions(q: &EventQuery, ilike: &str) -> (String, Vec<SqlValue>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    let text = [
        ("user_name", &q.user),
        ("client_ip", &q.ip),
        ("device", &q.device),
        ("site", &q.site),
        ("group_name", &q.group),
        ("action", &q.action),
    ];
    for (column, value) in text {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            values.push(SqlValue::Text(v.clone()));
        }
    }
    if let Some(h) = &q.host {
        // Hosts are stored as bytes; `substr` and `length` count bytes on
        // both dialects' byte types.
        let host = h.trim().trim_end_matches('.').to_ascii_lowercase();
        let suffix = format!(".{host}").into_bytes();
        let n = suffix.len() as i64;
        sql.push_str(
            " AND (host = ? OR (length(host) > ? AND substr(host, length(host) - ? + 1) = ?))",
        );
        values.extend([
            SqlValue::Bytes(host.into_bytes()),
            SqlValue::Int(n),
            SqlValue::Int(n),
            SqlValue::Bytes(suffix),
        ]);
    }
    if let Some(t) = q.since_us {
        sql.push_str(" AND time_us >= ?");
        values.push(SqlValue::Int(t));
    }
    if let Some(t) = q.until_us {
        sql.push_str(" AND time_us < ?");
        values.push(SqlValue::Int(t));
    }
    if let Some(c) = &q.category {
        sql.push_str(" AND categories LIKE ? ESCAPE '\\'");
        values.push(SqlValue::Text(like_escape(&format!(",{c},"))));
    }
    if let Some(s) = &q.search {
        sql.push_str(&format!(" AND search {ilike} ? ESCAPE '\\'"));
        values.push(SqlValue::Text(like_escape(s)));
    }
    if let Some((t, r)) = q.before {
        // A row comparison both dialects read straight off a (time, ref) index.
        sql.push_str(" AND (time_us, reference) < (?, ?)");
        values.extend([SqlValue::Int(t), SqlValue::Int(r)]);
    }
    (sql, values)
}

/// `%`, `_` and `\` in user text are literal in a LIKE pattern.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Categories are stored as `,a,b,` so one LIKE finds a whole name.
pub(crate) fn categories_column(categories: &[String]) -> String {
    let mut s = String::from(",");
    for c in categories {
        s.push_str(c);
        s.push(',');
    }
    s
}

pub(crate) fn parse_categories(column: &str) -> Vec<String> {
    column
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A cell that a spreadsheet would run as a formula gets a leading `'`.
/// Control characters are escaped, so no cell can carry a terminal escape
/// or a line break a naive reader splits on.
pub fn neutralise_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r', '|', '%']) {
        out.push('\'');
    }
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn bytes_cell(b: &[u8]) -> String {
    neutralise_cell(&String::from_utf8_lossy(b))
}

pub const CSV_HEADER: [&str; 16] = [
    "reference",
    "time",
    "site",
    "device",
    "client_ip",
    "user",
    "group",
    "protocol",
    "host",
    "url",
    "search",
    "action",
    "categories",
    "rule",
    "count",
    "page_view",
];

/// Writes events as CSV, header first.
pub fn write_csv(out: impl Write, events: &[AccessEvent]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    for e in events {
        let time = jiff::Timestamp::from_microsecond(e.time_us)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| e.time_us.to_string());
        let opt = |s: &Option<String>| s.as_deref().map(neutralise_cell).unwrap_or_default();
        w.write_record([
            e.reference.to_string(),
            time,
            opt(&e.site),
            opt(&e.device),
            neutralise_cell(&e.client_ip),
            opt(&e.user),
            opt(&e.group),
            e.protocol.as_str().to_string(),
            bytes_cell(&e.host),
            e.url.as_deref().map(bytes_cell).unwrap_or_default(),
            opt(&e.search),
            neutralise_cell(&e.action),
            neutralise_cell(&e.categories.join(" ")),
            neutralise_cell(&e.rule),
            e.count.to_string(),
            e.page_view.to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise_cell("+1"), "'+1");
        assert_eq!(neutralise_cell("-2"), "'-2");
        assert_eq!(neutralise_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_cell("\tx"), "'\\tx");
        assert_eq!(neutralise_cell("a\u{1b}[31m"), "a\\u{1b}[31m");
        assert_eq!(neutralise_cell("plain"), "plain");
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_escape("50%_\\"), "%50\\%\\_\\\\%");
    }
}
