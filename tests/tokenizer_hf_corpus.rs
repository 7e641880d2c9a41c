//! The Rust tokenizer in its Hugging Face flavor against transformers'
//! CLIPTokenizer (the tokenizer diffusers' SD pipelines load) on a corpus of
//! more than 1,000 prompts (tests/fixtures/tokenizer/hf_corpus.jsonl, written
//! by scripts/fixtures/make_hf_tokenizer_corpus.py), in both pad set-ups SD ships.

use std::path::{Path, PathBuf};

use edgepaint::tokenizer::{ClipTokenizer, Flavor};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokenizer").join(name)
}

fn hf(pad_id: i64) -> ClipTokenizer {
    ClipTokenizer::from_files(&fixture("hf/merges.txt"), Some(&fixture("hf/vocab.json")), 77, pad_id)
        .unwrap()
        .with_flavor(Flavor::HuggingFace)
}

fn check(key: &str, pad_id: i64) {
    let tok = hf(pad_id);
    let text = std::fs::read_to_string(fixture("hf_corpus.jsonl")).unwrap();
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() >= 1000, "only {} prompts", rows.len());
    let mut failures = Vec::new();
    for row in &rows {
        let prompt = row["text"].as_str().unwrap();
        let mut want: Vec<i64> = row[key].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        want.resize(77, pad_id);
        let got = tok.encode(prompt).ids;
        if got != want {
            failures.push(format!("{prompt:?}:\n  got  {got:?}\n  want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} prompts differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

#[test]
fn sd15_tokenizer_pad_end_token() {
    check("sd15", 49407);
}

#[test]
fn sd2_tokenizer_pad_exclamation_mark() {
    check("sd2", 0);
}

#[test]
fn flavors_differ_where_the_originals_do() {
    let oc = ClipTokenizer::from_files(&fixture("bpe_simple_vocab_16e6.txt.gz"), None, 77, 0).unwrap();
    let sd2 = hf(0);
    // open_clip unescapes HTML twice; HF only through ftfy (once, and not next to '<').
    assert_ne!(oc.encode_ids("&amp;amp; <b>"), sd2.encode_ids("&amp;amp; <b>"));
    // SD 2.x pads with "!" and so cuts it out of prompts as a special token.
    assert_eq!(sd2.encode_ids("wow!!!"), vec![2781, 0, 0, 0]);
    assert_eq!(hf(49407).encode_ids("wow!!!"), vec![2781, 995]);
    assert_eq!(oc.encode_ids("wow!!!"), vec![2781, 995]);
    // Typed special tokens: each original's own spelling.
    assert_eq!(sd2.encode_ids("a<|endoftext|>b"), vec![320, 49407, 321]);
    assert_eq!(oc.encode_ids("<end_of_text>"), vec![49407]);
    assert_ne!(sd2.encode_ids("<end_of_text>"), vec![49407]);
}
