//! Text tokenizers. CONTRACT (owned by the tokenizer work): the pipeline uses
//! exactly this API.
//!
//! [`ClipTokenizer`] is open_clip's `SimpleTokenizer` (open_clip_torch 3.2.0,
//! `open_clip/tokenizer.py`) in Rust: the same cleaning ([`clean`]: ftfy,
//! HTML unescaping, whitespace collapsing, lower-casing), the same regex
//! pre-tokenizer, byte-to-unicode mapping, byte-level BPE with `</w>` word
//! ends, start/end tokens, zero padding (or `pad_id`) and truncation that
//! keeps the end token last. `tests/tokenizer_golden.rs` checks it id for id
//! against the Python original (`scripts/fixtures/make_tokenizer_fixture.py`).
//!
//! Unicode versions: open_clip's output for a character depends on the
//! Python it runs on (`str.lower` uses Python's Unicode tables, 14.0 for
//! 3.11; the `regex` module has its own newer ones); Rust's std and `regex`
//! crate use Unicode 16. An exhaustive check of every code point (the
//! ignored test `exhaustive_code_points`) matches open_clip on Python 3.11
//! for every code point assigned in Unicode 14.0; the 4687 characters added
//! since (Unicode 15-17, e.g. CJK extensions I and J) may tokenize
//! differently.
//!
//! Why not the Hugging Face `tokenizers` crate: it needs a `tokenizer.json`
//! that these bundles do not ship (open_clip's `.txt.gz`, or an SD export's
//! `merges.txt` + `vocab.json`), it pulls heavy dependencies into a board
//! binary, and it does not do open_clip's ftfy/HTML cleaning.

pub mod clean;
mod files;
mod flavor;

pub use files::bytes_to_unicode;
pub use flavor::Flavor;

use files::{file_error, parse_merges, read_text};

use std::path::Path;
use std::sync::Mutex;

use foldhash::HashMap;

use regex::Regex;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error("tokenizer file {path}: {message}")]
    File { path: String, message: String },
}

/// Result of tokenizing one prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Exactly `max_length` ids: start token, BPE ids, end token, then padding.
    pub ids: Vec<i64>,
    /// True when the prompt did not fit and was cut (the caller warns).
    pub truncated: bool,
}

/// open_clip / OpenAI CLIP's number of merges used: `merges[1:49152-256-2+1]`.
pub const CLIP_NUM_MERGES: usize = 49152 - 256 - 2;
/// Start token id of the standard CLIP vocabulary.
pub const CLIP_START_ID: i64 = 49406;
/// End token id of the standard CLIP vocabulary.
pub const CLIP_END_ID: i64 = 49407;

/// Special token names: open_clip's, and Hugging Face's `vocab.json` ones
/// (only used to find the ids in a vocab.json).
const OPEN_CLIP_SPECIALS: [&str; 2] = ["<start_of_text>", "<end_of_text>"];
const HF_SPECIALS: [&str; 2] = ["<|startoftext|>", "<|endoftext|>"];

/// Most words kept in the per-word BPE cache before it is emptied (open_clip's
/// is unbounded; this bounds memory on a board that runs for long).
const CACHE_LIMIT: usize = 100_000;

/// CLIP byte-level BPE, as open_clip's SimpleTokenizer does it.
pub struct ClipTokenizer {
    /// Token string -> id.
    encoder: HashMap<String, u32>,
    /// (left id, right id) -> (merge rank, merged id).
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// Id of each byte's symbol, without and with the `</w>` word end.
    byte_ids: [u32; 256],
    byte_end_ids: [u32; 256],
    start_id: u32,
    end_id: u32,
    special_names: [String; 2],
    pattern: Regex,
    max_length: usize,
    pad_id: i64,
    flavor: Flavor,
    /// Hugging Face flavor: special-token strings cut out of the raw text
    /// before cleaning (its added-tokens trie), with their ids.
    split_specials: Vec<(String, u32)>,
    cache: Mutex<HashMap<String, Vec<u32>>>,
}

impl ClipTokenizer {
    /// `merges`: open_clip's `bpe_simple_vocab_16e6.txt(.gz)` or a Hugging Face
    /// `merges.txt`; `vocab`: optional HF `vocab.json` (else derived from merges
    /// as open_clip does). `pad_id`: 0 for open_clip, 49407 for HF CLIP.
    pub fn from_files(
        merges: &Path,
        vocab: Option<&Path>,
        max_length: usize,
        pad_id: i64,
    ) -> Result<Self, TokenizerError> {
        // Header line + the merges used (a line more to see the file's end).
        let merges_text = read_text(merges, Some(CLIP_NUM_MERGES + 2))?;
        let vocab_text = match vocab {
            Some(p) => Some((p, read_text(p, None)?)),
            None => None,
        };
        Self::from_strs(
            &merges_text,
            merges,
            vocab_text.as_ref().map(|(p, t)| (t.as_str(), *p)),
            max_length,
            pad_id,
        )
    }

    /// Like [`ClipTokenizer::from_files`], from file contents (already
    /// decompressed); the paths are only used in error messages.
    pub fn from_strs(
        merges_text: &str,
        merges_path: &Path,
        vocab: Option<(&str, &Path)>,
        max_length: usize,
        pad_id: i64,
    ) -> Result<Self, TokenizerError> {
        if max_length < 2 {
            return Err(file_error(merges_path, format!("max_length {max_length} < 2")));
        }
        let merge_list = parse_merges(merges_text, merges_path)?;
        let byte_chars = bytes_to_unicode();

        let encoder: HashMap<String, u32> = match vocab {
            Some((json, path)) => {
                let map: HashMap<String, u32> = serde_json::from_str(json)
                    .map_err(|e| file_error(path, format!("vocab.json: {e}")))?;
                map
            }
            None => {
                // open_clip: byte chars, byte chars + "</w>", merges joined,
                // special tokens; ids in that order (a later duplicate wins,
                // as in its `dict(zip(vocab, range(len(vocab))))`).
                let mut vocab: Vec<String> = byte_chars.iter().map(|(_, c)| c.to_string()).collect();
                vocab.extend(byte_chars.iter().map(|(_, c)| format!("{c}</w>")));
                vocab.extend(merge_list.iter().map(|(a, b)| format!("{a}{b}")));
                vocab.extend(OPEN_CLIP_SPECIALS.iter().map(|s| s.to_string()));
                let mut map = HashMap::with_capacity_and_hasher(vocab.len(), Default::default());
                for (i, s) in vocab.into_iter().enumerate() {
                    map.insert(s, i as u32);
                }
                map
            }
        };
        let vocab_path = vocab.map(|(_, p)| p).unwrap_or(merges_path);
        let lookup = |s: &str| -> Result<u32, TokenizerError> {
            encoder
                .get(s)
                .copied()
                .ok_or_else(|| file_error(vocab_path, format!("token {s:?} missing from the vocabulary")))
        };

        let mut byte_ids = [0u32; 256];
        let mut byte_end_ids = [0u32; 256];
        for (b, c) in &byte_chars {
            byte_ids[*b as usize] = lookup(&c.to_string())?;
            byte_end_ids[*b as usize] = lookup(&format!("{c}</w>"))?;
        }

        let mut merges = HashMap::with_capacity_and_hasher(merge_list.len(), Default::default());
        let mut joined = String::new();
        for (rank, (a, b)) in merge_list.iter().enumerate() {
            let key = (lookup(a)?, lookup(b)?);
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let merged = lookup(&joined)?;
            // A later duplicate pair overwrites the rank, as in open_clip's
            // `dict(zip(merges, range(len(merges))))`.
            merges.insert(key, (rank as u32, merged));
        }

        let specials = if OPEN_CLIP_SPECIALS.iter().all(|s| encoder.contains_key(*s)) {
            OPEN_CLIP_SPECIALS
        } else if HF_SPECIALS.iter().all(|s| encoder.contains_key(*s)) {
            HF_SPECIALS
        } else {
            return Err(file_error(
                vocab_path,
                format!("no start/end tokens ({OPEN_CLIP_SPECIALS:?} or {HF_SPECIALS:?})"),
            ));
        };
        let start_id = lookup(specials[0])?;
        let end_id = lookup(specials[1])?;
        // The text forms that the pre-tokenizer turns into these ids are
        // always open_clip's, whatever the vocabulary file calls them, so a
        // Hugging Face export tokenizes every prompt exactly as open_clip
        // (and so as training) does.
        let special_names = OPEN_CLIP_SPECIALS;

        let pattern = pre_tokenizer(&special_names);

        Ok(Self {
            encoder,
            merges,
            byte_ids,
            byte_end_ids,
            start_id,
            end_id,
            special_names: special_names.map(String::from),
            pattern,
            max_length,
            pad_id,
            flavor: Flavor::OpenClip,
            split_specials: Vec::new(),
            cache: Mutex::new(HashMap::default()),
        })
    }

    /// Tokenize as `flavor` does (see [`Flavor`]); the vocabulary is unchanged.
    pub fn with_flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        let names = match flavor {
            Flavor::OpenClip => OPEN_CLIP_SPECIALS,
            Flavor::HuggingFace => HF_SPECIALS,
        };
        self.special_names = names.map(String::from);
        self.pattern = pre_tokenizer(&names);
        self.split_specials = match flavor {
            Flavor::OpenClip => Vec::new(),
            Flavor::HuggingFace => {
                let mut v = vec![(names[0].to_string(), self.start_id), (names[1].to_string(), self.end_id)];
                // The pad token is a special token too, so HF cuts its text out
                // ("!" for SD 2.x tokenizers: "wow!!!" -> wow, !, !, !).
                if let Some((text, _)) = self.encoder.iter().find(|(_, &id)| i64::from(id) == self.pad_id) {
                    if !v.iter().any(|(t, _)| t == text) {
                        v.push((text.clone(), self.pad_id as u32));
                    }
                }
                v
            }
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self
    }

    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Number of entries in the vocabulary (49408 for CLIP).
    pub fn vocab_size(&self) -> usize {
        self.encoder.len()
    }

    /// Id of the start token (49406 for CLIP).
    pub fn start_id(&self) -> i64 {
        self.start_id as i64
    }

    /// Id of the end token (49407 for CLIP).
    pub fn end_id(&self) -> i64 {
        self.end_id as i64
    }

    /// Length of every [`Tokens::ids`].
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Padding id.
    pub fn pad_id(&self) -> i64 {
        self.pad_id
    }

    /// Id of a vocabulary entry (e.g. `"cat</w>"`).
    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.encoder.get(token).map(|&i| i as i64)
    }

    /// Start token, BPE ids, end token, padded with `pad_id` (or cut to
    /// `max_length` with the end token last, `truncated = true`), exactly as
    /// open_clip's `tokenize(texts, context_length=max_length)`.
    pub fn encode(&self, text: &str) -> Tokens {
        let mut ids: Vec<i64> = Vec::with_capacity(self.max_length);
        ids.push(self.start_id as i64);
        ids.extend(self.encode_ids(text).into_iter().map(|i| i as i64));
        ids.push(self.end_id as i64);
        let truncated = ids.len() > self.max_length;
        if truncated {
            // open_clip: tokens = tokens[:context_length]; tokens[-1] = eot
            ids.truncate(self.max_length);
            *ids.last_mut().unwrap() = self.end_id as i64;
        } else {
            ids.resize(self.max_length, self.pad_id);
        }
        Tokens { ids, truncated }
    }

    /// open_clip's `SimpleTokenizer.encode`: the BPE ids of the cleaned text,
    /// without start/end tokens, padding or truncation.
    pub fn encode_ids(&self, text: &str) -> Vec<u32> {
        if self.flavor == Flavor::OpenClip {
            return self.encode_cleaned(&clean::clean_lower(text));
        }
        let mut out = Vec::new();
        for piece in flavor::split_on_specials(text, &self.split_specials) {
            match piece {
                flavor::Piece::Special(id) => out.push(id),
                flavor::Piece::Text(t) => out.extend(self.encode_cleaned(&flavor::hf_clean(t))),
            }
        }
        out
    }

    /// Pre-tokenize already cleaned text and BPE each piece.
    fn encode_cleaned(&self, cleaned: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for piece in self.pattern.find_iter(cleaned) {
            let piece = piece.as_str();
            if let Some(ids) = cache.get(piece) {
                out.extend_from_slice(ids);
                continue;
            }
            let ids = if piece == self.special_names[0] {
                vec![self.start_id]
            } else if piece == self.special_names[1] {
                vec![self.end_id]
            } else {
                self.bpe(piece.as_bytes())
            };
            out.extend_from_slice(&ids);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(piece.to_string(), ids);
        }
        out
    }
}

/// open_clip: special + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
/// with re.IGNORECASE (Hugging Face's CLIPTokenizer: the same with its special names).
/// Case-insensitivity only matters for the literal alternatives (the text is
/// lower-cased, but e.g. "'ſ" still matches "'s"). On the classes, the `regex`
/// module's IGNORECASE makes U+0345 (COMBINING GREEK YPOGEGRAMMENI, which
/// case-folds to a letter) match none of them, so it is silently dropped;
/// Rust's (?i) would put it in \p{L} instead, so the classes are written
/// without (?i) and U+0345 is excluded explicitly (checked over all code
/// points against Python).
fn pre_tokenizer(special_names: &[&str; 2]) -> Regex {
    let special_alts = special_names.iter().map(|s| regex::escape(s)).collect::<Vec<_>>().join("|");
    Regex::new(&format!(
        r"(?i:{special_alts}|'s|'t|'re|'ve|'m|'ll|'d)|\p{{L}}+|\p{{N}}|[^\s\p{{L}}\p{{N}}\x{{345}}]+"
    ))
    .expect("tokenizer regex")
}

impl ClipTokenizer {
    /// Byte-level BPE of one pre-tokenized word (open_clip's `bpe`), on ids:
    /// repeatedly merge every occurrence (left to right) of the adjacent pair
    /// with the lowest merge rank.
    fn bpe(&self, bytes: &[u8]) -> Vec<u32> {
        let n = bytes.len();
        let mut word: Vec<u32> = bytes
            .iter()
            .enumerate()
            .map(|(i, &b)| if i + 1 == n { self.byte_end_ids[b as usize] } else { self.byte_ids[b as usize] })
            .collect();
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|p| self.merges.get(&(p[0], p[1])).map(|&(rank, merged)| (rank, p[0], p[1], merged)))
                .min_by_key(|&(rank, ..)| rank);
            let Some((_, first, second, merged)) = best else { break };
            let mut next = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    next.push(merged);
                    i += 2;
                } else {
                    next.push(word[i]);
                    i += 1;
                }
            }
            word = next;
        }
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_matches_gpt2() {
        let t = bytes_to_unicode();
        assert_eq!(t.len(), 256);
        assert_eq!(t[0], (b'!', '!'));
        assert_eq!(t[93], (b'~', '~'));
        assert_eq!(t[188], (0, '\u{100}'));
        assert!(t.iter().any(|&(b, c)| b == b' ' && c == '\u{120}'));
    }
}
