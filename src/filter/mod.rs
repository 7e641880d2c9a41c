//! The kiosk's prompt filter: an operator's blocklist and allowlist (board
//! file `[filter]`), matched on whole folded words (see normalize.rs), so
//! evasions are caught and innocent words that contain a blocked one
//! ("class", "Scunthorpe", "skill") are not.
//!
//! An entry is one or more words; a trailing `*` also matches longer words
//! ("kill*" blocks "killing", not "skill"). Allowlist entries are phrases
//! whose words are never blocked ("killer whale" with "kill*" blocked).

mod normalize;

use normalize::{fold, squeeze, words};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FilterError {
    #[error("cannot read filter list {path}: {message}")]
    Read { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    text: String,
    words: Vec<String>,
    /// The last word may be longer (a trailing `*`).
    prefix: bool,
}

impl Entry {
    fn parse(text: &str) -> Option<Entry> {
        let trimmed = text.trim();
        let prefix = trimmed.ends_with('*');
        let words = words(trimmed.trim_end_matches('*'));
        (!words.is_empty()).then(|| Entry { text: trimmed.to_string(), words, prefix })
    }

    /// Does the entry match the prompt's words starting at `at`?
    fn matches_at(&self, prompt: &[String], at: usize) -> bool {
        if at + self.words.len() > prompt.len() {
            return false;
        }
        let last = self.words.len() - 1;
        self.words.iter().enumerate().all(|(i, want)| {
            let got = &prompt[at + i];
            same_word(got, want) || (self.prefix && i == last && starts_like(got, want))
        })
    }
}

/// Equal, or equal once repeated letters are squeezed ("kiiill" is "kill")
/// without being shorter ("as" is not "ass").
fn same_word(got: &str, want: &str) -> bool {
    got == want || (got.len() >= want.len() && squeeze(got) == squeeze(want))
}

fn starts_like(got: &str, want: &str) -> bool {
    got.starts_with(want) || (got.len() >= want.len() && squeeze(got).starts_with(&squeeze(want)))
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptFilter {
    block: Vec<Entry>,
    allow: Vec<Entry>,
}

impl PromptFilter {
    pub fn new<S: AsRef<str>>(block: &[S], allow: &[S]) -> PromptFilter {
        PromptFilter {
            block: block.iter().filter_map(|s| Entry::parse(s.as_ref())).collect(),
            allow: allow.iter().filter_map(|s| Entry::parse(s.as_ref())).collect(),
        }
    }

    /// Entries from a text file: one per line, `#` starts a comment.
    pub fn read_list(path: &Path) -> Result<Vec<String>, FilterError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| FilterError::Read { path: path.display().to_string(), message: e.to_string() })?;
        Ok(text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }

    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }

    /// The blocklist entry the prompt hits, if any.
    pub fn check(&self, prompt: &str) -> Option<&str> {
        let (words, spelled) = fold(prompt);
        let mut allowed = vec![false; words.len()];
        for entry in &self.allow {
            for at in 0..words.len() {
                if entry.matches_at(&words, at) {
                    allowed[at..at + entry.words.len()].iter_mut().for_each(|a| *a = true);
                }
            }
        }
        self.block
            .iter()
            .find(|entry| {
                let joined = entry.words.concat();
                (0..words.len()).any(|at| {
                    (entry.matches_at(&words, at) && !allowed[at..at + entry.words.len()].iter().all(|&a| a))
                        // "a n u d e": the letters of a spelled-out run may include neighbours.
                        || (spelled[at] && words[at].contains(&joined))
                })
            })
            .map(|e| e.text.as_str())
    }
}

/// The prompt filter's lists: inline words and/or files (one entry per
/// line, relative to the board file's folder).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    #[serde(default)]
    pub block: Vec<String>,
    #[serde(default)]
    pub allow: Vec<String>,
    #[serde(default)]
    pub block_files: Vec<PathBuf>,
    #[serde(default)]
    pub allow_files: Vec<PathBuf>,
}

impl PromptFilter {
    /// The filter a board file's `[filter]` describes (reading its list files).
    pub fn from_config(config: &FilterConfig) -> Result<PromptFilter, FilterError> {
        let mut block = config.block.clone();
        for f in &config.block_files {
            block.extend(PromptFilter::read_list(f)?);
        }
        let mut allow = config.allow.clone();
        for f in &config.allow_files {
            allow.extend(PromptFilter::read_list(f)?);
        }
        Ok(PromptFilter::new(&block, &allow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter() -> PromptFilter {
        PromptFilter::new(&["kill*", "ass", "gore", "blood bath", "nude"], &["killer whale"])
    }

    #[test]
    fn blocks_words_and_their_evasions() {
        let f = filter();
        for bad in [
            "a man with a gun, kill him",
            "KILLING spree",
            "K I L L the dragon",
            "k.i.l.l",
            "k1ll",
            "kííll",
            "ｋｉｌｌ",
            "кill",
            "a kiiiiill",
            "an ASS in a field",
            "@ss",
            "lots of g0re",
            "a BLOOD   bath",
            "blood-bath",
            "a n u d e painting",
        ] {
            assert!(f.check(bad).is_some(), "not blocked: {bad}");
        }
    }

    #[test]
    fn innocent_words_that_contain_blocked_ones_pass() {
        let f = filter();
        for good in [
            "a skill tree",
            "a class of students",
            "passing clouds",
            "Scunthorpe at sunset",
            "an assassin's creed poster", // "ass" must be a whole word
            "bass guitar on grass",
            "a killer whale in the sea",
            "blood orange on a table",
            "as red as a house",
            "a gorgeous view",
        ] {
            assert_eq!(f.check(good), None, "blocked: {good}");
        }
        assert!(PromptFilter::default().check("anything").is_none());
    }

    #[test]
    fn allowlist_does_not_hide_a_blocked_word_next_to_it() {
        assert!(filter().check("kill the killer whale").is_some());
    }
}
