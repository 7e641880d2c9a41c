//! The three graphs of a bundle, loaded with the shapes the manifest promises.
//! Kept loaded across generations, or (low-memory mode, e.g. a Pi Zero 2 with
//! 512 MB) loaded for one stage and dropped right after.

use crate::bundle::Bundle;
use crate::bundle::SegmentSection;
use crate::runtime::{Graph, InputSpec, RuntimeError, SegmentFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    TextEncoder,
    Denoiser,
    Decoder,
    /// The `tiny` preview decoder (`[preview] file`), loaded only for previews.
    Preview,
}

/// The latent height and width the decoder graph is run on: the whole latent,
/// or one tile when `decoder.tile` is set and the latent is larger.
pub fn decoder_input_hw(bundle: &Bundle) -> (usize, usize) {
    let m = &bundle.manifest;
    match m.decoder.tiling() {
        Some((tile, _)) => (tile.min(m.latent.height), tile.min(m.latent.width)),
        None => (m.latent.height, m.latent.width),
    }
}

/// What a component's graph must look like: its file (relative to the
/// bundle), the manifest field naming it, its inputs and its output shape.
pub struct GraphSpec {
    pub file: String,
    /// The graph's ONNX external-data file (manifest `data`), if it has one.
    pub data: Option<String>,
    pub field: &'static str,
    /// The graph's further segments (manifest `then`), run after `file`.
    pub then: Vec<SegmentSection>,
    pub inputs: Vec<InputSpec>,
    pub output_shape: Vec<usize>,
}

impl GraphSpec {
    /// Every file of the graph (one, or its segments in order) inside `bundle`.
    pub fn files(&self, bundle: &Bundle) -> Vec<SegmentFile> {
        let first = SegmentFile { path: bundle.path(&self.file), data: self.data.clone() };
        let rest = self.then.iter().map(|s| SegmentFile { path: bundle.path(&s.file), data: s.data.clone() });
        std::iter::once(first).chain(rest).collect()
    }
}

/// The shapes the manifest promises for one component (used to load it, and
/// by `edgepaint convert` to pin the NNEF form to the same shapes).
pub fn spec(bundle: &Bundle, which: Component) -> GraphSpec {
    let m = &bundle.manifest;
    let latent = vec![1, m.latent.channels, m.latent.height, m.latent.width];
    let text = vec![1, m.tokenizer.max_length, m.text_encoder.hidden_size];
    let (file, data, then, field, inputs, output_shape) = match which {
        Component::TextEncoder => (
            &m.text_encoder.file,
            &m.text_encoder.data,
            &m.text_encoder.then,
            "text_encoder",
            vec![InputSpec::new("input_ids", true, vec![1, m.tokenizer.max_length])],
            text.clone(),
        ),
        Component::Denoiser => (
            &m.denoiser.file,
            &m.denoiser.data,
            &m.denoiser.then,
            "denoiser",
            vec![
                InputSpec::new("sample", false, latent.clone()),
                InputSpec::new("timestep", false, vec![1]),
                InputSpec::new("encoder_hidden_states", false, text),
            ],
            latent.clone(),
        ),
        Component::Decoder => {
            // Tiled: the graph runs on one tile at a time (tiled_decode.rs).
            let (h, w) = decoder_input_hw(bundle);
            let f = m.image_size[1] / m.latent.height;
            (
                &m.decoder.file,
                &m.decoder.data,
                &m.decoder.then,
                "decoder",
                vec![InputSpec::new("latents", false, vec![1, m.latent.channels, h, w])],
                vec![1, 3, h * f, w * f],
            )
        }
        Component::Preview => {
            // Always the whole latent, to a picture of the bundle's size.
            let [w, h] = m.image_size;
            let file = m.preview.file.clone().unwrap_or_default();
            let inputs = vec![InputSpec::new("latents", false, latent)];
            return GraphSpec { file, data: None, then: Vec::new(), field: "preview", inputs, output_shape: vec![1, 3, h, w] };
        }
    };
    GraphSpec { file: file.clone(), data: data.clone(), then: then.clone(), field, inputs, output_shape }
}

/// The scorer's two towers (`[scorer]`): the image tower, then the text
/// tower; empty when the bundle has no scorer. Not a [`Component`]: the
/// pipeline never holds them, the scorer loads them when asked to score.
pub fn scorer_specs(bundle: &Bundle) -> Vec<GraphSpec> {
    let m = &bundle.manifest;
    let Some(s) = &m.scorer else { return Vec::new() };
    let [w, h] = s.image_size;
    let tower = |file: &SegmentSection, field, input| GraphSpec {
        file: file.file.clone(),
        data: file.data.clone(),
        field,
        then: Vec::new(),
        inputs: vec![input],
        output_shape: vec![1, s.embed_dim],
    };
    vec![
        tower(&s.image, "scorer.image", InputSpec::new("pixel_values", false, vec![1, 3, h, w])),
        tower(&s.text, "scorer.text", InputSpec::new("input_ids", true, vec![1, m.tokenizer.max_length])),
    ]
}

/// A component stored in segments as a streamed graph (loaded one segment at
/// a time on each run: the low-memory mode); any other is loaded now.
pub fn stream(bundle: &Bundle, which: Component) -> Result<Graph, RuntimeError> {
    let spec = spec(bundle, which);
    if spec.then.is_empty() {
        return load(bundle, which);
    }
    Ok(Graph::streamed(&spec.files(bundle), &spec.inputs, spec.output_shape))
}

/// Load one component and check that its output has the promised shape.
pub fn load(bundle: &Bundle, which: Component) -> Result<Graph, RuntimeError> {
    Ok(load_many(bundle, &[which])?.remove(0))
}

/// Load several components at once (their files spread over the cores), in
/// order, each checked like [`load`].
pub fn load_many(bundle: &Bundle, which: &[Component]) -> Result<Vec<Graph>, RuntimeError> {
    let specs: Vec<GraphSpec> = which.iter().map(|&c| spec(bundle, c)).collect();
    load_specs(bundle, &specs)
}

/// Load graphs by their specs (their files spread over the cores), each
/// checked to give the promised output shape.
pub fn load_specs(bundle: &Bundle, specs: &[GraphSpec]) -> Result<Vec<Graph>, RuntimeError> {
    let files: Vec<Vec<SegmentFile>> = specs.iter().map(|s| s.files(bundle)).collect();
    let graphs: Vec<_> = files.iter().zip(specs).map(|(f, s)| (f.as_slice(), s.inputs.as_slice())).collect();
    let loaded = Graph::load_many(&graphs)?;
    for (graph, spec) in loaded.iter().zip(specs) {
        if graph.output_shape() != spec.output_shape.as_slice() {
            return Err(RuntimeError::Graph {
                path: bundle.path(&spec.file),
                message: format!(
                    "output shape {:?} does not match the manifest ({}: expected {:?})",
                    graph.output_shape(),
                    spec.field,
                    spec.output_shape
                ),
            });
        }
    }
    Ok(loaded)
}
