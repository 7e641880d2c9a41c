//! Minimal reproduction for tract upstream: time one ONNX graph in plain
//! tract-onnx (no edgepaint code), the way `tract MODEL -i SHAPE bench` would.
//! scripts/bench/tract_gap.py writes the one-operator graphs, runs this on each and
//! onnxruntime on the same files, and prints the table.
//!
//!   cargo run --release --example tract_gap -- MODEL.onnx 1,64,16,16 [RUNS]
//!
//! Prints one JSON line: {"model", "min_ms", "median_ms", "runs"}. Inputs are
//! f32 of the given shapes (one shape per input, separated by spaces in one
//! argument list); single-threaded.

use std::time::Instant;
use tract_onnx::prelude::*;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, rest) = args.split_first().ok_or_else(|| anyhow::anyhow!("usage: tract_gap MODEL.onnx SHAPE... [RUNS]"))?;
    let mut shapes: Vec<Vec<usize>> = Vec::new();
    let mut runs = 50usize;
    for a in rest {
        if a.contains(',') || shapes.is_empty() && a.parse::<usize>().is_err() {
            shapes.push(a.split(',').map(|d| d.parse()).collect::<Result<_, _>>()?);
        } else {
            runs = a.parse()?;
        }
    }
    let mut model = tract_onnx::onnx().model_for_path(path)?;
    for (ix, shape) in shapes.iter().enumerate() {
        model.set_input_fact(ix, f32::fact(shape).into())?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let inputs: TVec<TValue> = shapes
        .iter()
        .map(|s| {
            let n: usize = s.iter().product();
            let data: Vec<f32> = (0..n).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
            Tensor::from_shape(s, &data).map(|t| t.into_tvalue())
        })
        .collect::<TractResult<_>>()?;
    for _ in 0..5 {
        plan.run(inputs.clone())?;
    }
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            plan.run(inputs.clone()).map(|_| t.elapsed().as_secs_f64() * 1000.0)
        })
        .collect::<TractResult<_>>()?;
    ms.sort_by(f64::total_cmp);
    println!(
        "{{\"model\": \"{path}\", \"min_ms\": {:.4}, \"median_ms\": {:.4}, \"runs\": {runs}}}",
        ms[0],
        ms[ms.len() / 2]
    );
    Ok(())
}
