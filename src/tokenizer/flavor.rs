//! Which original a [`super::ClipTokenizer`] reproduces. The BPE and the
//! vocabulary are the same; the text handling around them differs:
//!
//! * [`Flavor::OpenClip`]: open_clip's `SimpleTokenizer` (ftfy, `html.unescape`
//!   twice, whitespace collapse, lower-case; `<start_of_text>` / `<end_of_text>`
//!   typed in a prompt are the special tokens).
//! * [`Flavor::HuggingFace`]: transformers' `CLIPTokenizer` (the slow one that
//!   diffusers' SD pipelines load, with ftfy installed): the special tokens'
//!   text (`<|startoftext|>`, `<|endoftext|>` and the pad token, `!` in SD 2.x
//!   tokenizers) is cut out of the raw prompt first (its added-tokens trie),
//!   then each remaining piece is cleaned with ftfy, whitespace collapse and
//!   lower-casing, without the extra HTML unescaping.
//!   Checked id for id by `tests/tokenizer_hf_corpus.rs`.

use super::clean;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    #[default]
    #[serde(rename = "open_clip")]
    OpenClip,
    #[serde(rename = "hf")]
    HuggingFace,
}

pub(crate) enum Piece<'a> {
    Special(u32),
    Text(&'a str),
}

/// transformers' `Trie.split` over the special tokens: left to right, at each
/// position the longest special token that starts there.
pub(crate) fn split_on_specials<'a>(text: &'a str, specials: &[(String, u32)]) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let hit = specials.iter().filter(|(s, _)| rest.starts_with(s.as_str())).max_by_key(|(s, _)| s.len());
        match hit {
            Some((s, id)) => {
                if start < i {
                    out.push(Piece::Text(&text[start..i]));
                }
                out.push(Piece::Special(*id));
                i += s.len();
                start = i;
            }
            None => i += rest.chars().next().map_or(1, char::len_utf8),
        }
    }
    if start < text.len() {
        out.push(Piece::Text(&text[start..]));
    }
    out
}

/// `CLIPTokenizer._tokenize`'s cleaning: `whitespace_clean(ftfy.fix_text(text)).lower()`.
pub(crate) fn hf_clean(text: &str) -> String {
    clean::whitespace_clean(&clean::fix_text(text)).to_lowercase()
}
