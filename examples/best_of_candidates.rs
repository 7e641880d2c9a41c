//! Helper for scripts/evaluate/best_of.py (not part of the shipped binary):
//! every candidate of a best-of run, with its score, so that best-of-N for
//! several N is measured from one set of pictures.
//!
//!   best_of_candidates MODEL_DIR LIST.tsv STEPS N OUT_DIR
//!       LIST.tsv: "seed<TAB>prompt" per line. For prompt k and candidate j
//!       (seed + j, j < N, as `generate --best-of N` makes them) writes
//!       OUT_DIR/k-j.png (watermarked, as `generate` saves it) and prints one
//!       JSON line: prompt index, candidate, seed, score, generation and
//!       scoring time in ms. `generate --best-of N` keeps the candidate of
//!       the highest score among the first N (tests/scorer.rs checks that the
//!       kept picture is `generate` with its own seed).

use edgepaint::pipeline::{Options, Pipeline, Request};
use edgepaint::scorer::Scorer;
use edgepaint::watermark::Stamp;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, list, steps, n, out] = args.as_slice() else {
        anyhow::bail!("usage: best_of_candidates MODEL_DIR LIST.tsv STEPS N OUT_DIR");
    };
    let (steps, n): (usize, u64) = (steps.parse()?, n.parse()?);
    let mut pipeline = Pipeline::load(&PathBuf::from(model), Options::default())?;
    let scorer = Scorer::load(pipeline.bundle())?;
    let model_sha256 = pipeline.bundle().manifest_sha256.clone();
    let stamp = Stamp::default();
    let out = PathBuf::from(out);
    for (k, line) in std::fs::read_to_string(list)?.lines().enumerate() {
        let (seed, prompt) = line.split_once('\t').ok_or_else(|| anyhow::anyhow!("line {}: seed<TAB>prompt", k + 1))?;
        let seed: u64 = seed.parse()?;
        let started = Instant::now();
        let text = scorer.text_embedding(prompt)?;
        let mut text_ms = started.elapsed().as_secs_f64() * 1e3;
        for j in 0..n {
            let request = Request { steps: Some(steps), ..Request::new(prompt.to_string(), seed + j) };
            let started = Instant::now();
            let generated = pipeline.generate(&request, &mut |_| std::ops::ControlFlow::Continue(()))?;
            let generate_ms = started.elapsed().as_secs_f64() * 1e3;
            let started = Instant::now();
            let score = scorer.score(&generated.image, &text)?;
            let score_ms = started.elapsed().as_secs_f64() * 1e3 + std::mem::take(&mut text_ms);
            let marked = stamp.mark(&generated.image, &model_sha256);
            edgepaint::image::write_png(&out.join(format!("{k}-{j}.png")), &marked, &[])?;
            let line = serde_json::json!({"prompt": k, "candidate": j, "seed": seed + j, "score": score,
                                          "generate_ms": generate_ms, "score_ms": score_ms});
            println!("{line}");
        }
    }
    Ok(())
}
