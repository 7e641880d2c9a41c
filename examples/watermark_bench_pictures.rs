//! Helper for scripts/bench/watermark_bench.py (not part of the shipped binary):
//! pictures with and without the watermark, and the watermark's cost.
//!
//!   watermark_bench_pictures generate MODEL_DIR LIST.tsv OUT_DIR
//!       LIST.tsv: "seed<TAB>prompt" per line. Writes OUT_DIR/raw-N.png (the
//!       pipeline's picture) and OUT_DIR/marked-N.png (as `generate` saves
//!       it), loading the model once; prints one JSON line per picture with
//!       the 4-step generation time and the watermark time in ms.
//!   watermark_bench_pictures embed IN.png OUT.png [IN.png OUT.png ...]
//!       Watermark an existing picture (default key, device 0, model id 0).

use edgepaint::image::{read_png, write_png};
use edgepaint::pipeline::{Options, Pipeline, Request};
use edgepaint::watermark::Stamp;
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stamp = Stamp::default();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() == 4 => {
            let mut pipeline = Pipeline::load(&PathBuf::from(&args[1]), Options::default())?;
            let out = PathBuf::from(&args[3]);
            for (n, line) in std::fs::read_to_string(&args[2])?.lines().enumerate() {
                let (seed, prompt) = line.split_once('\t').ok_or_else(|| anyhow::anyhow!("line {}: seed<TAB>prompt", n + 1))?;
                let request = Request { steps: Some(4), ..Request::new(prompt.to_string(), seed.parse()?) };
                let started = Instant::now();
                let generated = pipeline.generate(&request, &mut |_| std::ops::ControlFlow::Continue(()))?;
                let gen_ms = started.elapsed().as_secs_f64() * 1e3;
                let started = Instant::now();
                let marked = stamp.mark(&generated.image, &pipeline.bundle().manifest_sha256);
                let wm_ms = started.elapsed().as_secs_f64() * 1e3;
                write_png(&out.join(format!("raw-{n}.png")), &generated.image, &[])?;
                write_png(&out.join(format!("marked-{n}.png")), &marked, &[])?;
                println!("{}", serde_json::json!({"n": n, "generate_ms": gen_ms, "watermark_ms": wm_ms}));
            }
        }
        Some("embed") if args.len() >= 3 && args.len() % 2 == 1 => {
            for pair in args[1..].chunks(2) {
                let image = read_png(&std::fs::read(&pair[0])?)?;
                write_png(&PathBuf::from(&pair[1]), &stamp.mark(&image, "0000"), &[])?;
            }
        }
        _ => anyhow::bail!("usage: watermark_bench_pictures generate MODEL LIST.tsv OUT | embed IN.png OUT.png ..."),
    }
    Ok(())
}
