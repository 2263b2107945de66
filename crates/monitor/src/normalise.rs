//! Text as the lexicons see it: lower case, no diacritics, leetspeak read
//! as letters, punctuation as spaces, repeated letters as one, and letters
//! spelled out with spaces (`k i l l`) joined. Lexicon phrases go through
//! the same function, so a rule and the text it should match always meet
//! in the same form.
//!
//! The output starts and ends with a space and has one space between
//! words, so a whole-word phrase is just the phrase with a space each side.
//!
//! Page text is scanned at hundreds of megabytes a second, so it runs
//! through one table-driven loop that also lists where the spaces (word
//! starts) fell, which is all the scanner needs to find candidate phrases.
//! Runs of characters outside ASCII are first folded (accents dropped),
//! and what stays outside ASCII takes a slower path a character at a time;
//! neither changes how the ASCII around it is read.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// What the fast loop does with a byte: a non-zero entry is the byte it
/// becomes (a lower-case letter, or a space for whitespace and
/// punctuation); zero means it needs a closer look in [`special`]: digits,
/// the apostrophe, the leetspeak symbols, the star of a masked word, and
/// anything outside ASCII.
const BYTE_MAP: [u8; 256] = {
    let mut map = [b' '; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphabetic() {
            map[b] = c.to_ascii_lowercase();
        } else if c.is_ascii_digit()
            || c >= 0x80
            || matches!(c, b'\'' | b'@' | b'$' | b'!' | b'|' | b'*')
        {
            map[b] = 0;
        }
        b += 1;
    }
    map
};

/// `last` when the last character written was not ASCII (it is then in
/// [`State::last_char`]); no byte the fast loop writes equals it.
const NOT_ASCII: u8 = 0xff;

/// Leetspeak digits and symbols, read as letters next to a letter.
fn leet(b: u8) -> Option<u8> {
    Some(match b {
        b'0' => b'o',
        b'1' => b'i',
        b'3' => b'e',
        b'4' => b'a',
        b'5' => b's',
        b'7' => b't',
        b'8' => b'b',
        b'@' => b'a',
        b'$' => b's',
        b'!' => b'i',
        b'|' => b'l',
        _ => return None,
    })
}

/// Told where the normalised text has its spaces, as it is written, so a
/// scanner can look for phrases while the text is still in cache.
pub(crate) trait Spaces {
    /// `spaces` are positions in `out` that hold a space and have at least
    /// [`LOOKAHEAD`] bytes after them, in increasing order, each given once.
    fn ready(&mut self, out: &[u8], spaces: &[usize]);
    /// The last few spaces, which may have fewer bytes after them.
    fn tail(&mut self, out: &[u8], spaces: &[usize]);
    /// Forget what was reported: the text is being rewritten.
    fn reset(&mut self);
}

/// A [`Spaces`] that wants nothing, for plain normalisation.
struct Ignore;

impl Spaces for Ignore {
    fn ready(&mut self, _: &[u8], _: &[usize]) {}
    fn tail(&mut self, _: &[u8], _: &[usize]) {}
    fn reset(&mut self) {}
}

/// Normalises `text` into `out` (cleared first), so a caller scanning many
/// texts reuses one buffer.
pub fn normalise_into(text: &str, out: &mut String) {
    normalise_reporting(text, out, &mut Ignore);
}

/// [`normalise_into`] into a new string.
pub fn normalise(text: &str) -> String {
    let mut out = String::new();
    normalise_into(text, &mut out);
    out
}

/// [`normalise_into`], telling `spaces` where the spaces fell.
///
/// Every decision is made from a character's neighbours (leetspeak from
/// the characters either side, a join from the run of one-letter words it
/// is in), never from the text as a whole: one curly quote or em dash on a
/// page must not change how `s3lf h4rm` further down is read.
///
/// Returns whether the text has a masked word (`c*tting`): a `*` touching
/// a letter is kept as `*` for [`crate::spelling::Vocabulary::unmask`].
pub(crate) fn normalise_reporting<S: Spaces>(text: &str, out: &mut String, spaces: &mut S) -> bool {
    let mut buf = std::mem::take(out).into_bytes();
    buf.clear();
    let masked = if text.is_ascii() {
        fast(text.as_bytes(), &mut buf, spaces)
    } else {
        fast(fold(text).as_bytes(), &mut buf, spaces)
    };
    // Only whole characters are ever written, so this cannot fail; were
    // it to, a lossy copy is still text the scanner can read.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    masked
}

/// Decomposes, drops the accents, lower-cases and folds to ASCII where a
/// character outside ASCII has an ASCII letter; other scripts (Arabic,
/// say) stay as they are, lower-cased. ASCII is left for [`fast`].
///
/// Runs of ASCII need none of this (and NFKD never reorders across an
/// ASCII character, which has combining class 0), so only the runs of
/// other characters go through the Unicode machinery.
fn fold(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        // ASCII is copied as it is: [`fast`] lower-cases it.
        let ascii_end = ascii_len(rest.as_bytes());
        folded.push_str(&rest[..ascii_end]);
        rest = &rest[ascii_end..];
        let other_end = rest
            .bytes()
            .position(|b| b.is_ascii())
            .unwrap_or(rest.len());
        let table = common_folds();
        for c in rest[..other_end].chars() {
            match table.get((c as usize).wrapping_sub(COMMON_FROM)) {
                Some(f) => folded.push_str(f),
                None => fold_one(c, &mut folded),
            }
        }
        rest = &rest[other_end..];
    }
    folded
}

/// How many bytes `bytes` begins with that are ASCII, read eight at a
/// time: on a page with a curly quote in every sentence, most of the text
/// is still runs of ASCII between them.
fn ascii_len(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(8);
    let mut n = 0;
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let high = u64::from_le_bytes(b) & HIGH_BITS;
        if high != 0 {
            return n + (high.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + chunks
        .remainder()
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(chunks.remainder().len())
}

/// Folds one character into `out`. Folding a character at a time is the
/// same as folding a run: NFKD only decomposes, and the one thing it does
/// across characters, reordering combining marks, cannot matter when they
/// are all dropped.
fn fold_one(c: char, out: &mut String) {
    for f in std::iter::once(c)
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter_map(fold_char)
    {
        out.push(f);
    }
}

/// The first and one past the last character of the [`common_folds`]
/// table: Latin-1, Latin Extended A and B, the spacing modifiers and
/// combining marks, Greek, Cyrillic, Arabic, and, via the gap, nothing
/// else until General Punctuation (curly quotes, dashes, the ellipsis).
const COMMON_FROM: usize = 0x80;
const COMMON_TO: usize = 0x2070;

/// Every character in `COMMON_FROM..COMMON_TO` already folded, so the
/// typography and accents of ordinary pages skip NFKD: a page with a
/// curly quote in every sentence used to scan at half the speed of one
/// without.
fn common_folds() -> &'static [Box<str>] {
    static TABLE: std::sync::OnceLock<Vec<Box<str>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (COMMON_FROM..COMMON_TO)
            .map(|code| {
                let mut folded = String::new();
                if let Some(c) = u32::try_from(code).ok().and_then(char::from_u32) {
                    fold_one(c, &mut folded);
                }
                folded.into_boxed_str()
            })
            .collect()
    })
}

/// One decomposed, lower-cased character as the lexicons see it, or
/// `None` to drop it. Arabic: NFKD has already split the hamza from its
/// carrier (`أ` → `ا`) and the harakat are combining marks, dropped before
/// this; what is left are letters children write interchangeably and the
/// tatweel that only stretches a word.
fn fold_char(c: char) -> Option<char> {
    Some(match c {
        'ß' => 's',
        'ł' => 'l',
        'ø' => 'o',
        'đ' => 'd',
        '\u{2019}' | '\u{2018}' | '\u{02bc}' => '\'',
        // Tatweel (kashida): `انتحـــار` is `انتحار`.
        '\u{640}' => return None,
        // Taa marbuta as haa, alef maksura as yeh: word endings written
        // either way.
        'ة' => 'ه',
        'ى' => 'ي',
        // Persian yeh and keheh, as Urdu and Persian keyboards type them;
        // alef wasla.
        'ی' => 'ي',
        'ک' => 'ك',
        'ٱ' => 'ا',
        // Arabic-Indic and Extended Arabic-Indic digits.
        '\u{660}'..='\u{669}' => char::from(b'0' + (c as u32 - 0x660) as u8),
        '\u{6f0}'..='\u{6f9}' => char::from(b'0' + (c as u32 - 0x6f0) as u8),
        c => c,
    })
}

/// Input bytes per block: the block's output and space list stay in L1
/// while the scanner looks at them.
const BLOCK: usize = 2048;

/// Bytes after a space the scanner reads before deciding whether a word
/// could start a pattern; spaces nearer the end than this are held back
/// until more text is written.
pub(crate) const LOOKAHEAD: usize = 8;

/// The normaliser's state between bytes.
struct State {
    /// Bytes of output written.
    pos: usize,
    /// Spaces listed in the current block.
    ns: usize,
    /// The last byte written, or [`NOT_ASCII`].
    last: u8,
    /// The last character written, when it was not ASCII.
    last_char: char,
    /// Whether a masked word's `*` was written.
    masked: bool,
}

/// Normalises folded text (or ASCII text as it is) a byte at a time
/// through [`BYTE_MAP`]; returns whether a `*` was kept.
fn fast<S: Spaces>(bytes: &[u8], out: &mut Vec<u8>, sink: &mut S) -> bool {
    // Every byte writes its slot before deciding whether to keep it, and
    // no character is written longer than it was read, so the buffer
    // needs room for one more than the text and its opening space.
    out.resize(bytes.len() + 2, 0);
    // Room for a block's spaces plus the few carried over from the last;
    // sized to the text so a short search term does not pay for a block.
    let mut spaces = vec![0usize; bytes.len().min(BLOCK) + LOOKAHEAD + 4];
    let map = &BYTE_MAP;
    out[0] = b' ';
    let mut st = State {
        pos: 1,
        ns: 1,
        last: b' ',
        last_char: ' ',
        masked: false,
    };
    // Spelled-out letters: a run of three or more one-character words, in
    // any script. Finding one anywhere sends the whole text through
    // [`join_spelled_out`], which joins every such run and no other text,
    // so the result is the same as joining each run where it stands.
    let mut run = 0usize;
    let mut prev_space = 0usize;
    let mut spelled = false;
    let mut checked = 1;
    let mut start = 0;
    while start < bytes.len() {
        let end = (start + BLOCK).min(bytes.len());
        let mut i = start;
        loop {
            i = plain(map, bytes, i, end, out, &mut spaces, &mut st);
            if i >= end {
                break;
            }
            i += if bytes[i] >= 0x80 {
                special_general(bytes, i, out, &mut spaces, &mut st)
            } else {
                special(bytes, i, out, &mut spaces, &mut st);
                1
            };
        }
        if end == bytes.len() && st.last != b' ' {
            out[st.pos] = b' ';
            spaces[st.ns] = st.pos;
            st.ns += 1;
            st.pos += 1;
        }
        for &p in &spaces[checked..st.ns] {
            run = if one_char_word(out, prev_space, p) {
                run + 1
            } else {
                0
            };
            spelled |= run >= 3;
            prev_space = p;
        }
        // Once letters are to be joined, positions move, and the join
        // tells the scanner afresh.
        if !spelled {
            let pos = st.pos;
            let ready = spaces[..st.ns].partition_point(|&p| p + LOOKAHEAD < pos);
            sink.ready(&out[..pos], &spaces[..ready]);
            spaces.copy_within(ready..st.ns, 0);
            st.ns -= ready;
        } else {
            st.ns = 0;
        }
        checked = st.ns;
        start = end;
    }
    out.truncate(st.pos);
    if spelled {
        join_spelled_out(out, sink);
    } else {
        sink.tail(out, &spaces[..st.ns]);
    }
    st.masked
}

/// Whether the word between the spaces at `before` and `after` in `out`
/// is one character: one byte, or a UTF-8 sequence as long as the gap.
#[inline(always)]
fn one_char_word(out: &[u8], before: usize, after: usize) -> bool {
    if after == before + 2 {
        return true;
    }
    let len = match out.get(before + 1) {
        Some(0xf0..) => 4,
        Some(0xe0..) => 3,
        Some(0xc0..) => 2,
        _ => 1,
    };
    after == before + 1 + len
}

/// Letters, whitespace and punctuation from `i` until the first byte that
/// needs [`special`], without a branch on which of them a byte is; returns
/// where it stopped. Kept small so its state stays in registers.
///
/// Most of a page is letters and single spaces with no letter doubled:
/// eight such bytes are lower-cased and copied as one word ([`simple`]),
/// and only eight bytes that are not go through the table a byte at a
/// time.
#[inline(always)]
fn plain(
    map: &[u8; 256],
    bytes: &[u8],
    mut i: usize,
    end: usize,
    out: &mut [u8],
    spaces: &mut [usize],
    st: &mut State,
) -> usize {
    let (mut pos, mut ns, mut last) = (st.pos, st.ns, st.last);
    'text: while i < end {
        while let (Some(chunk), Some(dest)) = (
            bytes.get(i..i + 8).filter(|_| i + 8 <= end),
            out.get_mut(pos..pos + 8),
        ) {
            let x = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or([0x80; 8]));
            let Some((lower, mut space)) = simple(x, last) else {
                break;
            };
            dest.copy_from_slice(&lower.to_le_bytes());
            while space != 0 {
                if let Some(slot) = spaces.get_mut(ns) {
                    *slot = pos + (space.trailing_zeros() / 8) as usize;
                }
                ns += 1;
                space &= space - 1;
            }
            pos += 8;
            last = (lower >> 56) as u8;
            i += 8;
        }
        let stop = (i + 8).min(end);
        for &b in bytes.get(i..stop).unwrap_or_default() {
            let m = map[usize::from(b)];
            if m == 0 {
                break 'text;
            }
            out[pos] = m;
            spaces[ns] = pos;
            let emit = m != last;
            ns += usize::from(emit & (m == b' '));
            pos += usize::from(emit);
            last = m;
            i += 1;
        }
    }
    st.pos = pos;
    st.ns = ns;
    st.last = last;
    i
}

const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const SPACES: u64 = 0x2020_2020_2020_2020;

/// The high bit of each byte of `v` that is not zero.
#[inline(always)]
fn non_zero_bytes(v: u64) -> u64 {
    (((v & LOW_SEVEN).wrapping_add(LOW_SEVEN)) | v) & HIGH_BITS
}

/// Eight input bytes `x` (little-endian) after `last`, if each is a letter
/// or a space and none repeats the one before: then the table would write
/// them all, lower-cased, and this returns them and the high bit of each
/// that is a space.
#[inline(always)]
fn simple(x: u64, last: u8) -> Option<(u64, u64)> {
    if x & HIGH_BITS != 0 {
        return None;
    }
    // Setting 0x20 lower-cases a letter and leaves a space a space; a byte
    // that becomes neither a lower-case letter nor a space was neither
    // (0x00 becomes a space, and the table makes it one too).
    let lower = x | SPACES;
    let at_least_a = (lower.wrapping_add(0x1f1f_1f1f_1f1f_1f1f)) & HIGH_BITS;
    let at_most_z = !(lower.wrapping_add(0x0505_0505_0505_0505)) & HIGH_BITS;
    let space = !non_zero_bytes(lower ^ SPACES) & HIGH_BITS;
    let repeats = !non_zero_bytes(lower ^ ((lower << 8) | u64::from(last))) & HIGH_BITS;
    ((at_least_a & at_most_z) | space == HIGH_BITS && repeats == 0).then_some((lower, space))
}

/// A digit, leetspeak symbol, apostrophe or star at `bytes[i]`.
#[inline(never)]
fn special(bytes: &[u8], i: usize, out: &mut [u8], spaces: &mut [usize], st: &mut State) {
    let b = bytes[i];
    let last = st.last;
    let mapped = if b == b'\'' {
        // "don't" is "dont".
        return;
    } else if b == b'*' {
        // A star in or at the edge of a word masks a letter (`c*tting`,
        // `*uicide`, `s**cide`); kept, each star, for the scanner to read.
        // Elsewhere (`5 * 3`, a footnote) it is punctuation.
        if last.is_ascii_lowercase()
            || last == b'*'
            || bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic())
        {
            out[st.pos] = b'*';
            st.pos += 1;
            st.last = b'*';
            st.masked = true;
            return;
        }
        b' '
    } else if let Some(l) = leet(b) {
        let next_is_letter = bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic());
        // A digit touching a letter is a letter (`h4rm`); a symbol only
        // before one (`$uicide`, `k!ll`), so `harm!!!` stays `harm`.
        let in_word = if b.is_ascii_digit() {
            last.is_ascii_lowercase() || next_is_letter
        } else {
            next_is_letter
        };
        if in_word {
            l
        } else if b.is_ascii_digit() {
            b
        } else {
            b' '
        }
    } else if b.is_ascii_digit() {
        b
    } else {
        b' '
    };
    if mapped == last && (mapped == b' ' || mapped.is_ascii_lowercase()) {
        return;
    }
    out[st.pos] = mapped;
    if mapped == b' ' {
        spaces[st.ns] = st.pos;
        st.ns += 1;
    }
    st.pos += 1;
    st.last = mapped;
}

/// A character outside ASCII starting at `bytes[i]`: letters and digits
/// of any script are kept, the rest is a space. Returns the bytes it read.
#[inline(never)]
fn special_general(
    bytes: &[u8],
    i: usize,
    out: &mut [u8],
    spaces: &mut [usize],
    st: &mut State,
) -> usize {
    let len = match bytes[i] {
        0xf0.. => 4,
        0xe0.. => 3,
        _ => 2,
    };
    let Some(c) = bytes
        .get(i..i + len)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.chars().next())
    else {
        // Not a character start; the text is valid UTF-8, so this is
        // never reached, and skipping a byte is harmless.
        return 1;
    };
    let mapped = if c.is_alphanumeric() { c } else { ' ' };
    let last = if st.last == NOT_ASCII {
        st.last_char
    } else {
        char::from(st.last)
    };
    if mapped == last && !mapped.is_numeric() {
        return len;
    }
    if mapped == ' ' {
        out[st.pos] = b' ';
        spaces[st.ns] = st.pos;
        st.ns += 1;
        st.pos += 1;
        st.last = b' ';
    } else {
        let n = mapped.encode_utf8(&mut out[st.pos..]).len();
        st.pos += n;
        st.last = NOT_ASCII;
        st.last_char = mapped;
    }
    len
}

/// Joins runs of three or more one-character words in place: ` k i l l `
/// → ` kil ` (a letter repeated in the run counts once), and tells `sink`
/// afresh where the spaces now are.
fn join_spelled_out<S: Spaces>(out: &mut Vec<u8>, sink: &mut S) {
    fn one_char(w: &[u8]) -> bool {
        w.len() == 1
            || (w.len() <= 4 && std::str::from_utf8(w).is_ok_and(|s| s.chars().count() == 1))
    }
    sink.reset();
    let mut reporter = Reporter::default();
    // The joined text is never longer than what has been read of the
    // original, so it is written over it: `w` never passes `r`.
    let n = out.len();
    let mut w = 1;
    reporter.space(out, 0, w, sink);
    let mut r = 1;
    // The single-character words seen but not yet written.
    let mut run_from = r;
    let mut run_len = 0;
    while r < n {
        let end = out[r..]
            .iter()
            .position(|&b| b == b' ')
            .map_or(n, |e| r + e);
        let single = end > r && one_char(&out[r..end]);
        if single {
            if run_len == 0 {
                run_from = r;
            }
            run_len += 1;
        }
        if !single || end >= n - 1 {
            // The run (if any) is over: join it or write it as it was.
            let mut k = run_from;
            let from = w;
            for _ in 0..run_len {
                let e = out[k..]
                    .iter()
                    .position(|&b| b == b' ')
                    .map_or(n, |e| k + e);
                if run_len < 3 || !out[from..w].ends_with(&out[k..e]) {
                    out.copy_within(k..e, w);
                    w += e - k;
                }
                if run_len < 3 {
                    out[w] = b' ';
                    w += 1;
                    reporter.space(out, w - 1, w, sink);
                }
                k = e + 1;
            }
            if run_len >= 3 {
                out[w] = b' ';
                w += 1;
                reporter.space(out, w - 1, w, sink);
            }
            run_len = 0;
            if !single && end > r {
                out.copy_within(r..end, w);
                w += end - r;
                out[w] = b' ';
                w += 1;
                reporter.space(out, w - 1, w, sink);
            }
        }
        r = end + 1;
    }
    out.truncate(w);
    reporter.finish(out, sink);
}

/// Spaces for a [`Spaces`], passed on in batches as the bytes after them
/// are written.
#[derive(Default)]
struct Reporter {
    pending: Vec<usize>,
}

impl Reporter {
    fn space<S: Spaces>(&mut self, out: &[u8], at: usize, written: usize, sink: &mut S) {
        self.pending.push(at);
        if self.pending.len() >= 1024 {
            let ready = self.pending.partition_point(|&p| p + LOOKAHEAD < written);
            sink.ready(&out[..written], &self.pending[..ready]);
            self.pending.drain(..ready);
        }
    }

    fn finish<S: Spaces>(&mut self, out: &[u8], sink: &mut S) {
        let ready = self.pending.partition_point(|&p| p + LOOKAHEAD < out.len());
        sink.ready(out, &self.pending[..ready]);
        sink.tail(out, &self.pending[ready..]);
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn children_s_spellings_meet_the_plain_form() {
        for (typed, plain) in [
            ("Self Harm", " self harm "),
            ("s3lf h4rm", " self harm "),
            ("SELF-HARM!!!", " self harm "),
            ("k i l l myself", " kil myself "),
            ("kiiiiill myseeeelf", " kil myself "),
            ("kill myself", " kil myself "),
            ("Anorexía", " anorexia "),
            ("don't", " dont "),
            ("su1c1de", " suicide "),
            ("$uicide", " suicide "),
            ("year 2026 budget", " year 2026 budget "),
            ("", " "),
        ] {
            assert_eq!(normalise(typed), plain, "{typed}");
        }
    }

    /// One character outside ASCII anywhere in a text used to turn
    /// leetspeak off for all of it, and one-letter Arabic words were joined
    /// only if a run of ASCII ones was somewhere else in the text.
    #[test]
    fn far_away_characters_change_nothing() {
        for (typed, plain) in [
            ("\u{201c}quote\u{201d} s3lf h4rm", " quote self harm "),
            ("caf\u{e9} \u{2014} k i l l myself", " cafe kil myself "),
            (
                "\u{a9} 2026 su1c1de $uicide k!ll",
                " 2026 suicide suicide kil ",
            ),
            (
                "\u{627}\u{646}\u{62a}\u{62d}\u{627}\u{631} h4rm",
                " \u{627}\u{646}\u{62a}\u{62d}\u{627}\u{631} harm ",
            ),
            (
                "\u{627} \u{646} \u{62a} \u{62d} \u{627} \u{631}",
                " \u{627}\u{646}\u{62a}\u{62d}\u{627}\u{631} ",
            ),
            // A digit between letters of another script is a digit.
            ("\u{627}3\u{646}", " \u{627}3\u{646} "),
        ] {
            assert_eq!(normalise(typed), plain, "{typed}");
        }
    }

    #[test]
    fn arabic_spellings_meet_the_plain_form() {
        for (typed, plain) in [
            // Tatweel, harakat, hamza carriers.
            ("انتحـــار", " انتحار "),
            ("انْتِحَار", " انتحار "),
            ("أنتحر", " انتحر "),
            // Taa marbuta and haa, alef maksura and yeh.
            ("عايزة", " عايزه "),
            ("ابغى", " ابغي "),
            // Persian yeh and keheh, alef wasla.
            ("\u{6cc}", " \u{64a} "),
            ("\u{6a9}", " \u{643} "),
            ("\u{671}لانتحار", " الانتحار "),
            // Arabic-Indic digits, both sets, and a stretched digit.
            ("٥٠٠ ملغ", " 500 ملغ "),
            ("۱۲", " 12 "),
            ("٢ـ٣", " 23 "),
        ] {
            assert_eq!(normalise(typed), plain, "{typed}");
        }
    }

    #[test]
    fn other_scripts_are_kept() {
        assert_eq!(normalise("انتحار"), " انتحار ");
        assert_eq!(normalise("Samobójstwo"), " samobojstwo ");
        assert_eq!(normalise("sinucidere"), " sinucidere ");
    }
}
