//! The only module that talks to tract. Everything else sees "a graph loaded
//! from a file with fixed input shapes, run on these tensors", so a tract
//! upgrade or a second backend touches this file alone.

//!
//! Graphs come as ONNX (parsed by tract-onnx, the `onnx` cargo feature) or as
//! tract's NNEF form (`*.nnef.tgz`, written by `edgepaint convert`): a build
//! without the ONNX parser is smaller, for the boards.

use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;
use tract_nnef::prelude::*;
use tract_nnef::tract_core::ops::Cost;

mod allocator;
mod contain;
mod dynamic_quantize;
mod graph_checks;
mod kernels;
mod int8_speed;
mod nnef;
#[cfg(feature = "onnx")]
mod onnx;
mod parallel_load;
mod segments;

use graph_checks::check_input_count;
pub use allocator::{release_free_memory, return_freed_blocks_at_once};
use nnef::load_nnef;
pub use segments::SegmentFile;
use segments::{Part, Parts, Values};
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
    pub name: String,
    pub integer: bool,
    pub shape: Vec<usize>,
}

impl InputSpec {
    pub fn new(name: &str, integer: bool, shape: Vec<usize>) -> InputSpec {
        InputSpec { name: name.to_string(), integer, shape }
    }
}

/// How a graph file's inputs are matched to specs: in order (a whole graph:
/// the component's inputs), or by name (a segment: the graph's inputs and
/// the outputs of earlier segments).
pub(crate) enum Pin<'a> {
    ByPosition(&'a [InputSpec]),
    ByName(&'a BTreeMap<String, InputSpec>),
}

impl Pin<'_> {
    /// The spec of each input of a graph whose inputs are called `names`.
    pub(crate) fn resolve(&self, names: &[String]) -> Result<Vec<InputSpec>, String> {
        match self {
            Pin::ByPosition(specs) => {
                check_input_count(names.len(), specs)?;
                Ok(specs.to_vec())
            }
            Pin::ByName(known) => names
                .iter()
                .map(|n| {
                    known.get(n).cloned().ok_or_else(|| {
                        format!("input `{n}` is neither an input of the graph nor an output of an earlier segment")
                    })
                })
                .collect(),
        }
    }
}

/// A graph optimized for fixed input shapes, ready to run many times: one
/// file, or segments run one after another (held loaded, or streamed).
pub struct Graph {
    path: PathBuf,
    /// The names the caller's inputs are given, in order.
    input_names: Vec<String>,
    output_shape: Vec<usize>,
    flops: u64,
    parts: Parts,
}

/// Whether this build has tract's multi-threaded kernels (cargo feature
/// `threads`); without them every graph runs on the calling thread.
pub const MULTITHREADED: bool = cfg!(feature = "threads");

/// Run tract's kernels on `threads` threads (1: the calling thread alone).
/// Process-wide: every graph run after this call uses the pool. A build
/// without the `threads` feature always runs on the calling thread.
/// Loading graphs uses as many threads (parallel_load.rs).
#[cfg(feature = "threads")]
pub fn set_threads(threads: usize) {
    use tract_nnef::prelude::multithread::{set_default_executor, Executor};
    let executor = if threads <= 1 { Executor::SingleThread } else { Executor::multithread(threads) };
    set_default_executor(executor);
    parallel_load::set_workers(threads);
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
        Self::load_segments(&[SegmentFile { path: path.to_path_buf(), data: data.map(str::to_string) }], inputs)
    }

    /// Load a graph stored in one file or in segments (`files`, in order;
    /// each segment's inputs named like `inputs` or like outputs of earlier
    /// segments) and keep them all loaded. The last file's first output is
    /// the result.
    pub fn load_segments(files: &[SegmentFile], inputs: &[InputSpec]) -> Result<Graph, RuntimeError> {
        let mut graphs = Self::load_many(&[(files, inputs)])?;
        Ok(graphs.remove(0))
    }

    /// Load several graphs (each as [`Graph::load_segments`]) at once, their
    /// files spread over one thread per core (parallel_load.rs); in order.
    pub fn load_many(graphs: &[(&[SegmentFile], &[InputSpec])]) -> Result<Vec<Graph>, RuntimeError> {
        let parts = parallel_load::load(graphs, parallel_load::workers())?;
        graphs.iter().zip(parts).map(|((files, inputs), parts)| Self::from_parts(&files[0].path, inputs, parts)).collect()
    }

    /// A graph stored in segments that is loaded one segment at a time, on
    /// every run (see [`Graph::load_segments`]); nothing is read now. Its
    /// result must have the shape `output_shape`.
    pub fn streamed(files: &[SegmentFile], inputs: &[InputSpec], output_shape: Vec<usize>) -> Graph {
        Graph {
            path: files[0].path.clone(),
            input_names: inputs.iter().map(|s| s.name.clone()).collect(),
            output_shape,
            flops: 0,
            parts: Parts::Streamed { files: files.to_vec(), inputs: inputs.to_vec() },
        }
    }

    fn from_parts(path: &Path, inputs: &[InputSpec], parts: Vec<Part>) -> Result<Graph, RuntimeError> {
        let output_shape = parts
            .last()
            .and_then(|p| p.outputs.first())
            .map(|o| o.shape.clone())
            .ok_or_else(|| RuntimeError::Graph { path: path.to_path_buf(), message: "the graph has no outputs".into() })?;
        Ok(Graph {
            path: path.to_path_buf(),
            input_names: inputs.iter().map(|s| s.name.clone()).collect(),
            output_shape,
            flops: parts.iter().map(|p| p.flops).sum(),
            parts: Parts::Loaded(parts),
        })
    }

    /// Segments this graph is stored in (1: a whole graph).
    pub fn segments(&self) -> usize {
        match &self.parts {
            Parts::Loaded(parts) => parts.len(),
            Parts::Streamed { files, .. } => files.len(),
        }
    }

    /// Whether each run loads the graph's segments one at a time.
    pub fn is_streamed(&self) -> bool {
        matches!(self.parts, Parts::Streamed { .. })
    }

    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Floating-point or integer operations of one run (2 per multiply-add,
    /// 1 per division), as tract's cost model counts them on the graph
    /// (0 for a streamed graph: it is not loaded).
    pub fn flops(&self) -> u64 {
        self.flops
    }

    /// Run the graph; returns its (last segment's) first output as f32.
    pub fn run(&self, inputs: &[Input]) -> Result<Tensor, RuntimeError> {
        let mut values = self.values(inputs)?;
        let result = match &self.parts {
            Parts::Loaded(parts) => {
                for part in parts {
                    part.run(&mut values)?;
                }
                parts.last().and_then(|p| p.first_output()).unwrap_or_default().to_string()
            }
            Parts::Streamed { files, inputs, .. } => segments::run_streamed(files, inputs, &mut values)?,
        };
        let out = values.get(&result).ok_or_else(|| self.err("the graph has no outputs".into()))?;
        let out = self.to_tensor(out)?;
        if out.shape != self.output_shape {
            return Err(self.err(format!("output shape {:?}, expected {:?}", out.shape, self.output_shape)));
        }
        Ok(out)
    }

    /// Run `runs` times, timing every node; returns the time per run summed
    /// by operator kind, slowest first (for `edgepaint bench --profile`).
    pub fn profile(&self, inputs: &[Input], runs: usize) -> Result<Vec<OpTime>, RuntimeError> {
        let Parts::Loaded(parts) = &self.parts else {
            return Err(self.err("a streamed graph cannot be profiled (load it whole)".into()));
        };
        let mut by_op: Vec<OpTime> = Vec::new();
        for _ in 0..runs {
            let mut values = self.values(inputs)?;
            for part in parts {
                let feed = part.feed(&values)?;
                let mut state = part.plan().spawn().map_err(|e| self.err(chain(&e)))?;
                let outputs = contain::contain(&part.path, || state
                    .run_plan_with_eval(feed, |ctx, op_state, node, input| {
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
                    .map_err(|e| self.err(format!("run failed: {}", chain(&e)))))?;
                part.store(&mut values, outputs);
            }
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

    /// The caller's inputs as tract values, by name (each part casts them to
    /// the types it declares).
    fn values(&self, inputs: &[Input]) -> Result<Values, RuntimeError> {
        if inputs.len() != self.input_names.len() {
            return Err(self.err(format!("{} inputs given, the graph takes {}", inputs.len(), self.input_names.len())));
        }
        let mut values = Values::new();
        for (ix, (input, name)) in inputs.iter().zip(&self.input_names).enumerate() {
            let tensor = match input {
                Input::F32(t) => tract_nnef::prelude::Tensor::from_shape(&t.shape, &t.data),
                Input::I64 { shape, data } => tract_nnef::prelude::Tensor::from_shape(shape, data),
            }
            .map_err(|e| self.err(format!("input {ix} shape {:?}: {}", input.shape(), chain(&e))))?;
            values.insert(name.clone(), tensor.into_tvalue());
        }
        Ok(values)
    }

    fn to_tensor(&self, value: &TValue) -> Result<Tensor, RuntimeError> {
        let out = value.cast_to::<f32>().map_err(|e| self.err(chain(&e)))?;
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

/// A graph file (ONNX, or NNEF when the path ends in `.nnef.tgz`) pinned by
/// `pin` and decluttered, with the specs its inputs were pinned to.
pub(crate) fn load_decluttered(
    path: &Path,
    pin: &Pin,
    data: Option<&str>,
) -> Result<(TypedModel, Vec<InputSpec>), RuntimeError> {
    if is_nnef(path) {
        load_nnef(path, pin)
    } else {
        load_onnx(path, pin, data)
    }
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(path: &Path, _pin: &Pin, _data: Option<&str>) -> Result<(TypedModel, Vec<InputSpec>), RuntimeError> {
    Err(RuntimeError::Graph {
        path: path.to_path_buf(),
        message: "this edgepaint is built without the ONNX parser (cargo feature `onnx`): \
                  convert the bundle to NNEF on a full build with `edgepaint convert`"
            .into(),
    })
}
