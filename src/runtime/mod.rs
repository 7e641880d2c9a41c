//! The only module that talks to tract. Everything else sees "a graph loaded
//! from a file with fixed input shapes, run on these tensors", so a tract
//! upgrade or a second backend touches this file alone.

//!
//! Graphs come as ONNX (parsed by tract-onnx, the `onnx` cargo feature) or as
//! tract's NNEF form (`*.nnef.tgz`, written by `edgepaint convert`): a build
//! without the ONNX parser is smaller, for the boards.

use crate::tensor::Tensor;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tract_nnef::prelude::*;
use tract_nnef::tract_core::ops::Cost;

mod allocator;
mod dynamic_quantize;
mod nnef;
#[cfg(feature = "onnx")]
mod onnx;

pub use allocator::{release_free_memory, return_freed_blocks_at_once};
use nnef::load_nnef;
#[cfg(feature = "onnx")]
pub use nnef::write_nnef;
#[cfg(feature = "onnx")]
use onnx::load_onnx;

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("{path}: {message}")]
    Graph { path: PathBuf, message: String },
    /// The graph runs, but this runtime cannot write it as NNEF (`edgepaint
    /// convert`): one of its operators has no NNEF form.
    #[error("{path}: cannot be written as NNEF: {message}")]
    NoNnefForm { path: PathBuf, message: String },
}

/// One input value. f32 inputs are cast to whatever type the graph declares
/// (e.g. an i64 or f16 timestep), so callers need not know the export's choice.
#[derive(Debug, Clone)]
pub enum Input {
    F32(Tensor),
    I64 { shape: Vec<usize>, data: Vec<i64> },
}

impl Input {
    fn shape(&self) -> &[usize] {
        match self {
            Input::F32(t) => &t.shape,
            Input::I64 { shape, .. } => shape,
        }
    }
}

/// What an input of the graph is fed with: its element kind and fixed shape.
#[derive(Debug, Clone)]
pub struct InputSpec {
    pub name: &'static str,
    pub integer: bool,
    pub shape: Vec<usize>,
}

/// A graph optimized for fixed input shapes, ready to run many times.
pub struct Graph {
    path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    input_types: Vec<DatumType>,
    output_shape: Vec<usize>,
    flops: u64,
}

/// Whether this build has tract's multi-threaded kernels (cargo feature
/// `threads`); without them every graph runs on the calling thread.
pub const MULTITHREADED: bool = cfg!(feature = "threads");

/// Run tract's kernels on `threads` threads (1: the calling thread alone).
/// Process-wide: every graph run after this call uses the pool. A build
/// without the `threads` feature always runs on the calling thread.
#[cfg(feature = "threads")]
pub fn set_threads(threads: usize) {
    use tract_nnef::prelude::multithread::{set_default_executor, Executor};
    let executor = if threads <= 1 { Executor::SingleThread } else { Executor::multithread(threads) };
    set_default_executor(executor);
}

#[cfg(not(feature = "threads"))]
pub fn set_threads(_threads: usize) {}

impl Graph {
    /// Load a graph (ONNX, or NNEF when the path ends in `.nnef.tgz`), pin
    /// its inputs to `inputs` and optimize it. The graph must have exactly
    /// these inputs, and its first output a fixed shape.
    pub fn load(path: &Path, inputs: &[InputSpec]) -> Result<Graph, RuntimeError> {
        Self::load_with_data(path, inputs, None)
    }

    /// Like [`Graph::load`] for an ONNX graph whose weights may be stored in
    /// the external-data file `data` (relative to the graph's folder; its
    /// hash is the bundle's to check). A graph referencing any other
    /// external file is refused, so every byte that is run was hashed.
    pub fn load_with_data(path: &Path, inputs: &[InputSpec], data: Option<&str>) -> Result<Graph, RuntimeError> {
        let err = |message: String| RuntimeError::Graph { path: path.to_path_buf(), message };
        let started = std::time::Instant::now();
        let decluttered = if is_nnef(path) { load_nnef(path, inputs)? } else { load_onnx(path, inputs, data)? };
        let read_ms = started.elapsed().as_secs_f64() * 1000.0;
        let input_types = decluttered
            .input_outlets()
            .map_err(|e| err(chain(&e)))?
            .iter()
            .map(|o| decluttered.outlet_fact(*o).map(|f| f.datum_type))
            .collect::<TractResult<Vec<_>>>()
            .map_err(|e| err(chain(&e)))?;
        // Counted before optimization: the optimized kernels do not all report costs.
        let flops = count_flops(&decluttered);
        let typed = decluttered
            .into_optimized()
            .map_err(|e| err(format!("cannot be prepared for inputs {}: {}", describe(inputs), chain(&e))))?;
        let output_shape = typed
            .output_fact(0)
            .ok()
            .and_then(|f| f.shape.as_concrete().map(|s| s.to_vec()))
            .ok_or_else(|| err("its first output has no fixed shape".into()))?;
        let plan = typed.into_runnable().map_err(|e| err(chain(&e)))?;
        allocator::release_free_memory();
        log::info!(
            "{}: read {read_ms:.0} ms, optimized {:.0} ms",
            path.display(),
            started.elapsed().as_secs_f64() * 1000.0 - read_ms
        );
        Ok(Graph { path: path.to_path_buf(), plan, input_types, output_shape, flops })
    }

    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Floating-point or integer operations of one run (2 per multiply-add,
    /// 1 per division), as tract's cost model counts them on the graph.
    pub fn flops(&self) -> u64 {
        self.flops
    }

    /// Run the graph; returns its first output as f32.
    pub fn run(&self, inputs: &[Input]) -> Result<Tensor, RuntimeError> {
        let values = self.values(inputs)?;
        let outputs = self.plan.run(values).map_err(|e| self.err(format!("run failed: {}", chain(&e))))?;
        self.first_output(&outputs)
    }

    /// Run `runs` times, timing every node; returns the time per run summed
    /// by operator kind, slowest first (for `edgepaint bench --profile`).
    pub fn profile(&self, inputs: &[Input], runs: usize) -> Result<Vec<OpTime>, RuntimeError> {
        let mut by_op: Vec<OpTime> = Vec::new();
        for _ in 0..runs {
            let values = self.values(inputs)?;
            let mut state = self.plan.spawn().map_err(|e| self.err(chain(&e)))?;
            state
                .run_plan_with_eval(values, |ctx, op_state, node, input| {
                    let started = std::time::Instant::now();
                    let out = tract_nnef::tract_core::plan::eval(ctx, op_state, node, input);
                    let ms = started.elapsed().as_secs_f64() * 1000.0 / runs as f64;
                    let op = node.op().name().to_string();
                    match by_op.iter_mut().find(|t| t.op == op) {
                        Some(t) => {
                            t.ms += ms;
                            t.nodes += 1;
                        }
                        None => by_op.push(OpTime { op, ms, nodes: 1 }),
                    }
                    out
                })
                .map_err(|e| self.err(format!("run failed: {}", chain(&e))))?;
        }
        for t in &mut by_op {
            t.nodes /= runs;
        }
        by_op.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(by_op)
    }

    fn err(&self, message: String) -> RuntimeError {
        RuntimeError::Graph { path: self.path.clone(), message }
    }

    /// The inputs as tract values, cast to the types the graph declares.
    fn values(&self, inputs: &[Input]) -> Result<TVec<TValue>, RuntimeError> {
        let mut values: TVec<TValue> = tvec![];
        for (ix, input) in inputs.iter().enumerate() {
            let tensor = match input {
                Input::F32(t) => tract_nnef::prelude::Tensor::from_shape(&t.shape, &t.data),
                Input::I64 { shape, data } => tract_nnef::prelude::Tensor::from_shape(shape, data),
            }
            .map_err(|e| self.err(format!("input {ix} shape {:?}: {}", input.shape(), chain(&e))))?;
            let dt = self.input_types[ix];
            let tensor = tensor.cast_to_dt(dt).map_err(|e| self.err(chain(&e)))?.into_owned();
            values.push(tensor.into_tvalue());
        }
        Ok(values)
    }

    fn first_output(&self, outputs: &[TValue]) -> Result<Tensor, RuntimeError> {
        let out = outputs[0].cast_to::<f32>().map_err(|e| self.err(chain(&e)))?;
        let data: Vec<f32> =
            out.to_plain_array_view::<f32>().map_err(|e| self.err(chain(&e)))?.iter().copied().collect();
        Ok(Tensor::new(out.shape().to_vec(), data))
    }
}

/// Time spent in one kind of operator during one run of a graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OpTime {
    pub op: String,
    pub ms: f64,
    /// Nodes of this kind in the optimized graph.
    pub nodes: usize,
}

/// NNEF graphs are written as gzipped tar archives with this suffix.
pub const NNEF_SUFFIX: &str = ".nnef.tgz";

fn is_nnef(path: &Path) -> bool {
    path.to_string_lossy().ends_with(NNEF_SUFFIX)
}

pub(crate) fn check_input_count(declared: usize, inputs: &[InputSpec]) -> Result<(), String> {
    if declared == inputs.len() {
        return Ok(());
    }
    let names: Vec<&str> = inputs.iter().map(|i| i.name).collect();
    Err(format!("has {declared} inputs, expected {} ({})", inputs.len(), names.join(", ")))
}

pub(crate) fn check_input_type(ix: usize, spec: &InputSpec, dt: DatumType) -> Result<(), String> {
    let ok = if spec.integer { dt.is_integer() } else { dt.is_float() || dt.is_integer() };
    if ok {
        Ok(())
    } else {
        Err(format!("input {ix} ({}) has type {dt:?}", spec.name))
    }
}

fn count_flops(model: &TypedModel) -> u64 {
    let mut total = 0u64;
    for node in model.nodes() {
        let Ok(inputs) = model.node_input_facts(node.id) else { continue };
        let Ok(costs) = node.op.cost(&inputs) else { continue };
        for (cost, count) in costs {
            let count = count.to_i64().unwrap_or(0).max(0) as u64;
            total += match cost {
                Cost::FMA(_) => 2 * count,
                Cost::Div(_) => count,
                _ => 0,
            };
        }
    }
    total
}

pub(crate) fn describe(inputs: &[InputSpec]) -> String {
    inputs.iter().map(|i| format!("{} {:?}", i.name, i.shape)).collect::<Vec<_>>().join(", ")
}

/// tract errors are anyhow chains; keep them on one line for the user.
pub(crate) fn chain(e: &TractError) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(path: &Path, _inputs: &[InputSpec], _data: Option<&str>) -> Result<TypedModel, RuntimeError> {
    Err(RuntimeError::Graph {
        path: path.to_path_buf(),
        message: "this edgepaint is built without the ONNX parser (cargo feature `onnx`): \
                  convert the bundle to NNEF on a full build with `edgepaint convert`"
            .into(),
    })
}
