//! Prompt cleaning exactly as open_clip's `SimpleTokenizer` does it with its
//! default `clean="lower"`:
//!
//! ```python
//! def basic_clean(text):
//!     text = ftfy.fix_text(text)
//!     text = html.unescape(html.unescape(text))
//!     return text.strip()
//! def whitespace_clean(text):
//!     return " ".join(text.split()).strip()
//! clean = whitespace_clean(basic_clean(text)).lower()
//! ```
//!
//! Why hand-written: no Rust crate reimplements ftfy (a Python-only library)
//! or Python's `html.unescape` rules (longest-prefix matching of legacy entity
//! names without `;`, Python's table for invalid numeric references), nor
//! Python's `str.isspace`/`str.split` notion of whitespace. The HTML5 entity
//! *data* comes from the `entities` crate (checked against Python's
//! `html.entities.html5` by `tests/tokenizer_golden.rs`), Unicode
//! normalization from `unicode-normalization`, lower-casing from `std`.
//!
//! ## What of `ftfy.fix_text` (ftfy 6.3.1, default config) is here
//! Every step of its fix loop, in its order, repeated until nothing changes,
//! on the same line segments (so its "auto" HTML unescaping, which is turned
//! off for the rest of the text once a line contains `<`, behaves the same):
//! `unescape_html`, `fix_c1_controls`, `fix_latin_ligatures`,
//! `fix_character_width`, `uncurl_quotes`, `fix_line_breaks`,
//! `remove_terminal_escapes`, `remove_control_chars`, NFC normalization.
//!
//! Left out:
//! - `fix_encoding` (mojibake repair: "CafÃ©" -> "Café", with its
//!   `restore_byte_a0`, `replace_lossy_sequences` and
//!   `decode_inconsistent_utf8` sub-steps). It is a large statistical
//!   heuristic (a "badness" regex over hundreds of character classes plus
//!   sloppy single-byte codecs) that only fires on text that was already
//!   decoded wrongly somewhere; prompts typed by people do not contain it.
//!   Such inputs tokenize differently from open_clip (we keep the mojibake as
//!   typed). The fixture script checks that no golden prompt is changed by it.
//! - `fix_surrogates`: a Rust `&str` cannot hold lone surrogates.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use regex::{Captures, Regex};
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// ftfy's `TextFixerConfig.max_decode_length`: longest segment fixed at once.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// The full open_clip "lower" cleaning: ftfy, html unescape twice, strip,
/// whitespace collapse, lower-case.
pub fn clean_lower(text: &str) -> String {
    whitespace_clean(&basic_clean(text)).to_lowercase()
}

/// open_clip's `basic_clean`: `ftfy.fix_text`, `html.unescape` twice, `strip`.
pub fn basic_clean(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html_unescape(&fixed);
    let twice = html_unescape(&once);
    py_strip(&twice).to_string()
}

/// open_clip's `whitespace_clean`: `" ".join(text.split()).strip()`.
pub fn whitespace_clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(py_isspace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Python's `str.isspace` for one character: Unicode White_Space plus the
/// four information separators U+001C..U+001F (bidi class B/S).
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub fn py_strip(text: &str) -> &str {
    text.trim_matches(py_isspace)
}

// ---------------------------------------------------------------------------
// ftfy.fix_text

/// `ftfy.fix_text(text)` with the default configuration, minus `fix_encoding`
/// (see the module docs).
pub fn fix_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // "auto": HTML unescaping stays on until a segment contains '<', and is
    // then off for that segment and every later one.
    let mut unescape = true;
    let mut rest = text;
    while !rest.is_empty() {
        // Segment: up to and including the next '\n', at most
        // MAX_DECODE_LENGTH characters.
        let mut end = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
        if let Some((i, _)) = rest[..end].char_indices().nth(MAX_DECODE_LENGTH) {
            end = i;
        }
        let segment = &rest[..end];
        if unescape && segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
        rest = &rest[end..];
    }
    out
}

/// ftfy's `fix_and_explain` loop for one segment.
fn fix_segment(segment: &str, unescape: bool) -> String {
    let mut text = segment.to_string();
    loop {
        let orig = text.clone();
        if unescape {
            text = ftfy_unescape_html(&text).into_owned();
        }
        // (fix_encoding left out, see module docs)
        text = fix_c1_controls(&text);
        text = fix_latin_ligatures(&text);
        text = fix_character_width(&text);
        text = uncurl_quotes(&text);
        text = fix_line_breaks(&text);
        // (fix_surrogates: nothing to do on a Rust string)
        text = remove_terminal_escapes(&text).into_owned();
        text = remove_control_chars(&text);
        if is_nfc_quick(text.chars()) != IsNormalized::Yes {
            text = text.nfc().collect();
        }
        if text == orig {
            return text;
        }
    }
}

/// Map every char through `f`, which returns `None` to keep the char.
fn map_chars(text: &str, f: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match f(c) {
            Some(s) => out.push_str(s),
            None => out.push(c),
        }
    }
    out
}

/// `fixes.fix_c1_controls`: C1 controls U+0080..U+009F decoded as
/// "sloppy-windows-1252" bytes (the five bytes Windows-1252 leaves undefined
/// stay as they are).
pub fn fix_c1_controls(text: &str) -> String {
    map_chars(text, |c| match c as u32 {
        0x80..=0x9f => Some(WINDOWS_1252_C1[c as usize - 0x80]),
        _ => None,
    })
}

/// Windows-1252 for bytes 0x80..0x9F; undefined bytes map to themselves
/// (ftfy's "sloppy" codec, and Python's `html` invalid-charref table).
const WINDOWS_1252_C1: [&str; 32] = [
    "\u{20ac}", "\u{81}", "\u{201a}", "\u{192}", "\u{201e}", "\u{2026}", "\u{2020}", "\u{2021}",
    "\u{2c6}", "\u{2030}", "\u{160}", "\u{2039}", "\u{152}", "\u{8d}", "\u{17d}", "\u{8f}",
    "\u{90}", "\u{2018}", "\u{2019}", "\u{201c}", "\u{201d}", "\u{2022}", "\u{2013}", "\u{2014}",
    "\u{2dc}", "\u{2122}", "\u{161}", "\u{203a}", "\u{153}", "\u{9d}", "\u{17e}", "\u{178}",
];

/// `fixes.fix_latin_ligatures` (ftfy's `LIGATURES` table).
pub fn fix_latin_ligatures(text: &str) -> String {
    map_chars(text, |c| {
        Some(match c {
            'Ĳ' => "IJ",
            'ĳ' => "ij",
            'ŉ' => "ʼn",
            'Ǳ' => "DZ",
            'ǲ' => "Dz",
            'ǳ' => "dz",
            'Ǆ' => "DŽ",
            'ǅ' => "Dž",
            'ǆ' => "dž",
            'Ǉ' => "LJ",
            'ǈ' => "Lj",
            'ǉ' => "lj",
            'Ǌ' => "NJ",
            'ǋ' => "Nj",
            'ǌ' => "nj",
            'ﬀ' => "ff",
            'ﬁ' => "fi",
            'ﬂ' => "fl",
            'ﬃ' => "ffi",
            'ﬄ' => "ffl",
            'ﬅ' => "ſt",
            'ﬆ' => "st",
            _ => return None,
        })
    })
}

/// `fixes.fix_character_width`: U+3000 to a space, and every char of
/// U+FF01..U+FFEF (full-width and half-width forms) to its NFKC form.
pub fn fix_character_width(text: &str) -> String {
    if !text.chars().any(|c| c == '\u{3000}' || ('\u{ff01}'..'\u{fff0}').contains(&c)) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{3000}' {
            out.push(' ');
        } else if ('\u{ff01}'..'\u{fff0}').contains(&c) {
            out.extend(std::iter::once(c).nfkc());
        } else {
            out.push(c);
        }
    }
    out
}

/// `fixes.uncurl_quotes`: U+02BC, U+2018..U+201B to `'`; U+201C..U+201F to `"`.
pub fn uncurl_quotes(text: &str) -> String {
    map_chars(text, |c| match c {
        '\u{2bc}' | '\u{2018}'..='\u{201b}' => Some("'"),
        '\u{201c}'..='\u{201f}' => Some("\""),
        _ => None,
    })
}

/// `fixes.fix_line_breaks`: CRLF, CR, U+2028, U+2029, U+0085 to `\n`.
pub fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// `fixes.remove_terminal_escapes`: ANSI `ESC [ digits/; letter` sequences.
/// (Python's `\d` in a str pattern is any Unicode decimal digit, as Rust's.)
pub fn remove_terminal_escapes(text: &str) -> Cow<'_, str> {
    static ANSI: OnceLock<Regex> = OnceLock::new();
    if !text.contains('\u{1b}') {
        return Cow::Borrowed(text);
    }
    ANSI.get_or_init(|| Regex::new(r"\x1b\[(?:\d|;)*[a-zA-Z]").unwrap())
        .replace_all(text, "")
}

/// `fixes.remove_control_chars` (ftfy's `CONTROL_CHARS`): C0 controls except
/// tab, LF, FF, CR; DEL; U+206A..U+206F; BOM; U+FFF9..U+FFFC.
pub fn remove_control_chars(text: &str) -> String {
    text.chars().filter(|&c| !is_ftfy_control(c)).collect()
}

fn is_ftfy_control(c: char) -> bool {
    matches!(c as u32,
        0x00..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0x206a..=0x206f | 0xfeff | 0xfff9..=0xfffc)
}

// ---------------------------------------------------------------------------
// HTML entities

/// Python's `html.entities.html5`: name (without the leading `&`, with the
/// `;` where it has one) to replacement text.
fn html5() -> &'static HashMap<&'static str, &'static str> {
    static TABLE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    TABLE.get_or_init(|| {
        entities::ENTITIES
            .iter()
            .map(|e| (e.entity.strip_prefix('&').unwrap_or(e.entity), e.characters))
            .collect()
    })
}

/// The HTML5 entity table as Python's `html.entities.html5` has it (for tests).
pub fn html5_entities() -> impl Iterator<Item = (&'static str, &'static str)> {
    html5().iter().map(|(k, v)| (*k, *v))
}

/// Python's `html.unescape`.
pub fn html_unescape(s: &str) -> Cow<'_, str> {
    static CHARREF: OnceLock<Regex> = OnceLock::new();
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let re = CHARREF.get_or_init(|| {
        Regex::new(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0c <&#;]{1,32};?)").unwrap()
    });
    re.replace_all(s, |caps: &Captures| replace_charref(&caps[1]))
}

/// Python's `html._replace_charref` (argument: the reference without `&`).
fn replace_charref(s: &str) -> String {
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        let digits = digits.trim_end_matches(';');
        // Saturate: anything past U+10FFFF is the replacement char anyway.
        let value = digits.chars().fold(0u64, |acc, d| {
            acc.saturating_mul(radix).saturating_add(d.to_digit(radix as u32).unwrap() as u64)
        });
        return numeric_charref(value);
    }
    let table = html5();
    if let Some(v) = table.get(s) {
        return (*v).to_string();
    }
    // Longest prefix of at least two chars (shorter than `s`) that is a name.
    let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    for x in (2..bounds.len()).rev() {
        let (prefix, rest) = s.split_at(bounds[x]);
        if let Some(v) = table.get(prefix) {
            return format!("{v}{rest}");
        }
    }
    format!("&{s}")
}

/// Python's numeric charref rules (`_invalid_charrefs`, `_invalid_codepoints`).
fn numeric_charref(num: u64) -> String {
    match num {
        0x00 => "\u{fffd}".to_string(),
        0x0d => "\r".to_string(),
        0x80..=0x9f => WINDOWS_1252_C1[num as usize - 0x80].to_string(),
        0xd800..=0xdfff => "\u{fffd}".to_string(),
        n if n > 0x10ffff => "\u{fffd}".to_string(),
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => String::new(),
        n if n & 0xfffe == 0xfffe => String::new(), // U+xFFFE, U+xFFFF
        n => char::from_u32(n as u32).map(String::from).unwrap_or_default(),
    }
}

/// ftfy's `HTML_ENTITIES`: every HTML5 name that ends in `;` (with its `&`),
/// plus the upper-cased form of the all-lowercase ones when that upper-cased
/// form means nothing to `html.unescape` (e.g. `&NTILDE;` -> "Ñ").
fn ftfy_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        // Python iterates html5 in its (sorted) definition order; the
        // upper-case entries never collide with each other or with real
        // names (they are only added when html.unescape leaves them alone),
        // so the iteration order does not matter here.
        for (name, chars) in html5().iter() {
            if !name.ends_with(';') {
                continue;
            }
            map.insert(format!("&{name}"), (*chars).to_string());
            if *name == name.to_lowercase() {
                let upper = format!("&{}", name.to_uppercase());
                if html_unescape(&upper) == upper.as_str() {
                    map.insert(upper, chars.to_uppercase());
                }
            }
        }
        map
    })
}

/// `fixes.unescape_html` (ftfy's conservative entity decoding).
pub fn ftfy_unescape_html(text: &str) -> Cow<'_, str> {
    static ENTITY: OnceLock<Regex> = OnceLock::new();
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let re = ENTITY.get_or_init(|| Regex::new(r"&#?[0-9A-Za-z]{1,24};").unwrap());
    re.replace_all(text, |caps: &Captures| {
        let m = &caps[0];
        if let Some(v) = ftfy_entities().get(m) {
            v.clone()
        } else if m.starts_with("&#") {
            let u = html_unescape(m);
            if u.contains(';') {
                m.to_string()
            } else {
                u.into_owned()
            }
        } else {
            m.to_string()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace() {
        assert_eq!(whitespace_clean("  a \t\n b\u{3000}c\u{1c}d  "), "a b c d");
        assert_eq!(py_strip("\u{1f} x \u{a0}"), "x");
    }

    #[test]
    fn unescape_python_rules() {
        assert_eq!(html_unescape("&amp;lt;"), "&lt;");
        assert_eq!(html_unescape("&ampfoo &gt &notit; &#65;&#x42;&#0;&#128;&#1;"), "&foo > ¬it; AB\u{fffd}€");
        assert_eq!(html_unescape("&unknown; &#xD800; &#99999999999999999999;"), "&unknown; \u{fffd} \u{fffd}");
    }

    #[test]
    fn ftfy_pieces() {
        assert_eq!(fix_text("ﬁne “quotes” ‘x’ ＡＢＣ１\u{3000}x"), "fine \"quotes\" 'x' ABC1 x");
        assert_eq!(fix_text("a\r\nb\rc\u{2028}d"), "a\nb\nc\nd");
        assert_eq!(fix_text("\u{1b}[31mred\u{1b}[0m\u{0}\u{7f}"), "red");
        assert_eq!(fix_text("\u{85}\u{92}"), "…'");
        assert_eq!(fix_text("e\u{301}"), "é");
        assert_eq!(fix_text("&NTILDE; &eacute; &amp;"), "Ñ é &");
        // '<' in a line turns HTML unescaping off for the rest of the text.
        assert_eq!(fix_text("&amp;\n<b> &amp;\n&amp;"), "&\n<b> &amp;\n&amp;");
    }
}
