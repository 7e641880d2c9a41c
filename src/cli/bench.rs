//! `edgepaint bench`: per-stage timings, FLOP rates and peak memory.

use super::ModelArg;
use crate::bench::{self, BenchOptions, BenchReport};
use crate::bundle::locate;
use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Denoising steps of the whole-image runs (default: the model's).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Timed runs per stage.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Untimed runs per stage before timing.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Time the whole images in low-memory mode (load, run, drop each graph).
    #[arg(long)]
    pub low_memory: bool,
    /// Write the per-stage input tensors to DIR as .npy (for scripts/bench/bench_compare.py).
    #[arg(long, value_name = "DIR")]
    pub save_inputs: Option<std::path::PathBuf>,
    /// Also time each operator kind of every graph (where the time goes).
    #[arg(long)]
    pub profile: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchArgs, threads: usize) -> Result<()> {
    let dir = locate(args.model.model.as_deref());
    let options = BenchOptions { steps: args.steps, runs: args.runs, warmup: args.warmup, low_memory: args.low_memory, save_inputs: args.save_inputs, profile: args.profile };
    if !args.json {
        eprintln!("benchmarking {} on {threads} thread(s): {} runs per stage after {} warm-up", dir.display(), args.runs, args.warmup);
    }
    let report = bench::run(&dir, threads, &options).with_context(|| format!("cannot benchmark {}", dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(r: &BenchReport) {
    println!("model {} ({} steps, guidance {}, {} thread(s))", r.model, r.steps, r.guidance, r.threads);
    println!("{:<14} {:>10} {:>10} {:>10} {:>10}", "stage", "min ms", "median ms", "MFLOP", "GFLOP/s");
    for s in &r.stages {
        println!(
            "{:<14} {:>10.2} {:>10.2} {:>10.1} {:>10.2}",
            s.name,
            s.times_ms.min,
            s.times_ms.median,
            s.flops as f64 / 1e6,
            s.gflops_per_s
        );
    }
    println!("start-up (load + optimize): {:.0} ms = {:.1} whole images", r.startup_ms, r.startup_vs_image);
    println!("denoiser steps: {:.0} % of a whole image", 100.0 * r.denoise_share);
    for p in &r.previews {
        println!("preview after each step ({}): {:.3} ms = {:.1} % of a step", p.kind, p.ms, 100.0 * p.share_of_step);
    }
    if let Some(c) = &r.scorer {
        println!("scorer per best-of candidate: {:.3} ms = {:.1} % of a whole image", c.ms, 100.0 * c.share_of_image);
    }
    for g in &r.profile {
        let total: f64 = g.ops.iter().map(|o| o.ms).sum();
        println!("\n{} by operator ({total:.2} ms per run):", g.graph);
        for o in g.ops.iter().take(12) {
            println!("  {:<34} {:>4} nodes {:>8.2} ms {:>5.1} %", o.op, o.nodes, o.ms, 100.0 * o.ms / total);
        }
    }
    match r.peak_rss_bytes {
        Some(b) => println!("peak RSS: {:.1} MB", b as f64 / 1e6),
        None => println!("peak RSS: unknown (no /proc/self/status)"),
    }
}
