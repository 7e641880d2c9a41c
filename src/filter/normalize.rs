//! Prompt text folded to what it looks like, so that case, accents,
//! spacing tricks and look-alike characters do not get past the filter:
//! "K1LL", "kíll", "ｋｉｌｌ", "k i l l", "k.i.l.l" and Cyrillic "кill" all
//! fold to the words ["kill"].
//!
//! Unicode NFKD (unicode-normalization, already a dependency) does
//! compatibility forms and accents; the look-alike table below covers what
//! NFKD keeps apart (Cyrillic/Greek letters, digits and symbols used as
//! letters). A crate like rustrict or decancer brings its own word list or
//! large tables; the operator's lists are the point here.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Characters that stand in for a Latin letter.
fn look_alike(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'е' | 'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'і' | 'ї' => 'i',
        'ј' => 'j',
        'ѕ' => 's',
        'ԁ' => 'd',
        'ԛ' => 'q',
        'ԝ' => 'w',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        _ => return None,
    })
}

/// The words of `text`, folded: lower case, no accents, look-alikes mapped,
/// everything that is not a letter a separator, and runs of single letters
/// ("k i l l", "k.i.l.l") joined into one word.
pub fn words(text: &str) -> Vec<String> {
    fold(text).0
}

/// [`words`], and which of them were spelled out letter by letter (a
/// spelled-out run may glue a neighbouring "a" or "I" to the word).
pub fn fold(text: &str) -> (Vec<String>, Vec<bool>) {
    let mut folded = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        for l in c.to_lowercase() {
            // Letters that only look Latin are mapped now; digits and
            // symbols only inside a word (below), so "3 cats" stays a number.
            folded.push(if l.is_alphabetic() { look_alike(l).unwrap_or(l) } else { l });
        }
    }
    let mut out: Vec<String> = Vec::new();
    let mut spelled: Vec<bool> = Vec::new();
    let mut singles = String::new();
    let letter_like = |c: char| c.is_alphanumeric() || matches!(c, '!' | '|' | '@' | '$' | '+');
    for raw in folded.split(|c: char| !letter_like(c)) {
        // Sentence punctuation after a word is punctuation, not a letter.
        let raw = raw.trim_end_matches(['!', '+', '|']);
        if raw.is_empty() {
            continue;
        }
        let word: String = if raw.chars().any(char::is_alphabetic) {
            raw.chars().map(|c| look_alike(c).unwrap_or(c)).collect()
        } else {
            raw.to_string()
        };
        if !word.chars().any(char::is_alphanumeric) {
            continue;
        }
        if word.chars().count() == 1 && word.chars().all(char::is_alphabetic) {
            singles.push_str(&word);
            continue;
        }
        flush(&mut singles, &mut out, &mut spelled);
        out.push(word);
        spelled.push(false);
    }
    flush(&mut singles, &mut out, &mut spelled);
    (out, spelled)
}

fn flush(singles: &mut String, out: &mut Vec<String>, spelled: &mut Vec<bool>) {
    if !singles.is_empty() {
        spelled.push(singles.chars().count() > 1);
        out.push(std::mem::take(singles));
    }
}

/// The word with runs of a repeated letter made one ("kiiill" -> "kil").
pub fn squeeze(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    for c in word.chars() {
        if !out.ends_with(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_lookalikes_and_spacing() {
        for evasion in ["KILL", "kíll", "ｋｉｌｌ", "k i l l", "k.i.l.l", "кill", "k1ll", "K!LL", "kill!", "k|ll"] {
            assert_eq!(words(evasion), vec!["kill"], "{evasion}");
        }
        assert_eq!(words("3 red houses, a tree!"), vec!["3", "red", "houses", "a", "tree"]);
        assert_eq!(words("$h1t"), vec!["shit"]);
        assert_eq!(squeeze("kiiilll"), "kil");
    }
}
