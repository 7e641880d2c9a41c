//! The parts of a [`Graph`](super::Graph): one optimized plan for a whole
//! graph, or several for a graph stored in segments (docs/bundle.md, `then`)
//! that run one after another. Values flow between them by name: a
//! segment's inputs are the graph's inputs or outputs of earlier segments.
//!
//! Streamed, only the file names are held: each run loads a segment, runs it
//! and frees it before the next is loaded, so the memory peak is the largest
//! segment plus the values handed on (`--low-memory` on a 1 GB board).

use super::{allocator, chain, count_flops, load_decluttered, InputSpec, Pin, RuntimeError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_nnef::prelude::*;

/// One file of a graph stored in segments, with its ONNX external data.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub data: Option<String>,
}

/// One optimized graph file, ready to run.
pub(super) struct Part {
    pub path: PathBuf,
    plan: Arc<TypedRunnableModel>,
    /// Input names and the types the file declares, in its order.
    inputs: Vec<(String, DatumType)>,
    /// Output names and shapes (as specs a later segment is pinned with).
    pub outputs: Vec<InputSpec>,
    pub flops: u64,
}

/// Named values handed from part to part.
pub(super) type Values = BTreeMap<String, TValue>;

pub(super) enum Parts {
    Loaded(Vec<Part>),
    Streamed { files: Vec<SegmentFile>, inputs: Vec<InputSpec> },
}

/// A graph file read, pinned and decluttered, not yet optimized: the first
/// half of loading, after which its outputs are known (so the next segment
/// can be read while this one is optimized: parallel_load.rs).
pub(super) struct Read {
    path: PathBuf,
    decluttered: TypedModel,
    pinned: Vec<InputSpec>,
    inputs: Vec<(String, DatumType)>,
    pub outputs: Vec<InputSpec>,
    flops: u64,
}

impl Read {
    /// Read, pin and declutter one graph file (a panic in tract becomes an
    /// error: contain.rs).
    pub fn new(path: &Path, pin: Pin, data: Option<&str>) -> Result<Read, RuntimeError> {
        super::contain::contain(path, || Self::uncontained(path, pin, data))
    }

    fn uncontained(path: &Path, pin: Pin, data: Option<&str>) -> Result<Read, RuntimeError> {
        let err = |message: String| RuntimeError::Graph { path: path.to_path_buf(), message };
        let started = std::time::Instant::now();
        let (decluttered, pinned) = load_decluttered(path, &pin, data)?;
        let inputs = decluttered
            .input_outlets()
            .map_err(|e| err(chain(&e)))?
            .iter()
            .zip(&pinned)
            .map(|(o, spec)| decluttered.outlet_fact(*o).map(|f| (spec.name.clone(), f.datum_type)))
            .collect::<TractResult<Vec<_>>>()
            .map_err(|e| err(chain(&e)))?;
        // Counted before optimization: the optimized kernels do not all report costs.
        let flops = count_flops(&decluttered);
        let outputs = output_specs(&decluttered).map_err(err)?;
        log::info!("{}: read {:.0} ms", path.display(), started.elapsed().as_secs_f64() * 1000.0);
        Ok(Read { path: path.to_path_buf(), decluttered, pinned, inputs, outputs, flops })
    }

    /// Optimize for the pinned shapes: the second half of loading.
    pub fn optimize(self) -> Result<Part, RuntimeError> {
        let path = self.path.clone();
        super::contain::contain(&path, || self.optimize_uncontained())
    }

    fn optimize_uncontained(self) -> Result<Part, RuntimeError> {
        let Read { path, mut decluttered, pinned, inputs, outputs, flops } = self;
        let err = |message: String| RuntimeError::Graph { path: path.clone(), message };
        let started = std::time::Instant::now();
        super::int8_speed::warn_if_slow(&decluttered, &path);
        let swapped = super::kernels::use_own_kernels(&mut decluttered).map_err(|e| err(chain(&e)))?;
        let typed = decluttered
            .into_optimized()
            .map_err(|e| err(format!("cannot be prepared for inputs {}: {}", super::describe(&pinned), chain(&e))))?;
        let plan = typed.into_runnable().map_err(|e| err(chain(&e)))?;
        allocator::release_free_memory();
        log::info!(
            "{}: optimized {:.0} ms (our kernels: {} 3x3 convolutions, {} matrix products, {} attentions)",
            path.display(),
            started.elapsed().as_secs_f64() * 1000.0,
            swapped.convolutions,
            swapped.products,
            swapped.attentions
        );
        Ok(Part { path, plan, inputs, outputs, flops })
    }
}

impl Part {
    /// Run on the named `values`; adds this part's outputs to them.
    pub fn run(&self, values: &mut Values) -> Result<(), RuntimeError> {
        let feed = self.feed(values)?;
        let outputs = super::contain::contain(&self.path, || {
            self.plan
                .run(feed)
                .map_err(|e| RuntimeError::Graph { path: self.path.clone(), message: format!("run failed: {}", chain(&e)) })
        })?;
        self.store(values, outputs);
        Ok(())
    }

    /// Add this part's `outputs` to the named values.
    pub fn store(&self, values: &mut Values, outputs: TVec<TValue>) {
        for (spec, value) in self.outputs.iter().zip(outputs) {
            values.insert(spec.name.clone(), value);
        }
    }

    /// The name of this part's first output (a graph's result).
    pub fn first_output(&self) -> Option<&str> {
        self.outputs.first().map(|o| o.name.as_str())
    }

    pub fn plan(&self) -> &Arc<TypedRunnableModel> {
        &self.plan
    }

    /// This part's inputs taken from the named `values`, in its order, cast
    /// to the types it declares (shared, not copied, when they match: this
    /// runs every step).
    pub fn feed(&self, values: &Values) -> Result<TVec<TValue>, RuntimeError> {
        let err = |message: String| RuntimeError::Graph { path: self.path.clone(), message };
        self.inputs
            .iter()
            .map(|(name, dt)| {
                let value = values.get(name).ok_or_else(|| err(format!("no value for the input `{name}`")))?;
                if value.datum_type() == *dt {
                    return Ok(value.clone());
                }
                Ok(value.cast_to_dt(*dt).map_err(|e| err(chain(&e)))?.into_owned().into_tvalue())
            })
            .collect()
    }
}

/// Loads a graph's files in order: a single file is pinned to the graph's
/// inputs by position (its own input names may differ), each segment of
/// several by name, to the graph's inputs and the outputs of the segments
/// before it.
#[derive(Clone)]
pub(super) struct Chain<'a> {
    files: &'a [SegmentFile],
    inputs: &'a [InputSpec],
    known: BTreeMap<String, InputSpec>,
}

impl<'a> Chain<'a> {
    pub fn new(files: &'a [SegmentFile], inputs: &'a [InputSpec]) -> Chain<'a> {
        Chain { files, inputs, known: inputs.iter().map(|s| (s.name.clone(), s.clone())).collect() }
    }

    /// How the next file's inputs are pinned.
    pub fn pin(&self) -> Pin<'_> {
        if self.files.len() == 1 {
            Pin::ByPosition(self.inputs)
        } else {
            Pin::ByName(&self.known)
        }
    }

    /// A file's outputs: values the files after it may read.
    pub fn learn(&mut self, outputs: &[InputSpec]) {
        self.known.extend(outputs.iter().map(|s| (s.name.clone(), s.clone())));
    }

    /// Read file `ix` (after the ones before it) and learn its outputs.
    pub fn read(&mut self, ix: usize) -> Result<Read, RuntimeError> {
        let file = &self.files[ix];
        let read = Read::new(&file.path, self.pin(), file.data.as_deref())?;
        self.learn(&read.outputs);
        Ok(read)
    }

    /// Load file `ix` (after the ones before it) and learn its outputs.
    pub fn load(&mut self, ix: usize) -> Result<Part, RuntimeError> {
        self.read(ix)?.optimize()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }
}

/// Run streamed: load each segment, run it, free it, then the next.
/// Returns the name of the last segment's first output (the result).
pub(super) fn run_streamed(files: &[SegmentFile], inputs: &[InputSpec], values: &mut Values) -> Result<String, RuntimeError> {
    let mut chain = Chain::new(files, inputs);
    let mut result = String::new();
    for ix in 0..files.len() {
        let part = chain.load(ix)?;
        part.run(values)?;
        result = part.first_output().unwrap_or_default().to_string();
        drop(part);
        allocator::release_free_memory();
    }
    Ok(result)
}

/// A model's outputs as specs: name (its label, else its node's name), kind
/// and fixed shape.
pub(super) fn output_specs(model: &TypedModel) -> Result<Vec<InputSpec>, String> {
    model
        .output_outlets()
        .map_err(|e| chain(&e))?
        .iter()
        .map(|&o| {
            let name = model.outlet_label(o).map(str::to_string).unwrap_or_else(|| model.node(o.node).name.clone());
            let fact = model.outlet_fact(o).map_err(|e| chain(&e))?;
            let shape = fact.shape.as_concrete().ok_or_else(|| format!("output `{name}` has no fixed shape"))?.to_vec();
            Ok(InputSpec { name, integer: fact.datum_type.is_integer(), shape })
        })
        .collect()
}
