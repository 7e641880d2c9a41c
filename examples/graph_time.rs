//! Time one f32-input graph through edgepaint's runtime (our operators
//! included), for quick A/B runs of a single stage:
//!
//!   cargo run --release --example graph_time -- GRAPH.onnx INPUT 1,4,64,64 [RUNS] [THREADS]
//!
//! Prints the minimum and median milliseconds of RUNS (default 5) after one
//! warm-up run; with PROFILE=1 also the time per operator kind. With NOISE=1
//! the input is seeded standard normal noise (what `bench` feeds a decoder)
//! instead of a ramp in [-1, 1].
use edgepaint::runtime::{set_threads, Graph, Input, InputSpec};
use edgepaint::tensor::Tensor;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 3, "usage: graph_time GRAPH.onnx INPUT SHAPE [RUNS] [THREADS]");
    let shape: Vec<usize> = args[2].split(',').map(str::parse).collect::<Result<_, _>>()?;
    let runs: usize = args.get(3).map(|r| r.parse()).transpose()?.unwrap_or(5);
    set_threads(args.get(4).map(|t| t.parse()).transpose()?.unwrap_or(1));
    let graph = Graph::load(std::path::Path::new(&args[0]), &[InputSpec::new(&args[1], false, shape.clone())])?;
    let n: usize = shape.iter().product();
    let data = if std::env::var_os("NOISE").is_some() {
        edgepaint::noise::Noise::new(1).normals(n)
    } else {
        (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect()
    };
    let input = [Input::F32(Tensor::new(shape, data))];
    graph.run(&input)?;
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            graph.run(&input).map(|_| started.elapsed().as_secs_f64() * 1000.0)
        })
        .collect::<Result<_, _>>()?;
    ms.sort_by(f64::total_cmp);
    println!("min {:.1} ms, median {:.1} ms", ms[0], ms[ms.len() / 2]);
    if std::env::var_os("PROFILE").is_some() {
        for op in graph.profile(&input, runs)? {
            println!("  {:<28} {:>4} nodes {:>9.1} ms", op.op, op.nodes, op.ms);
        }
    }
    Ok(())
}
