//! The three graphs of a bundle, loaded with the shapes the manifest promises.
//! Kept loaded across generations, or (low-memory mode, e.g. a Pi Zero 2 with
//! 512 MB) loaded for one stage and dropped right after.

use crate::bundle::Bundle;
use crate::runtime::{Graph, InputSpec, RuntimeError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    TextEncoder,
    Denoiser,
    Decoder,
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
    pub inputs: Vec<InputSpec>,
    pub output_shape: Vec<usize>,
}

/// The shapes the manifest promises for one component (used to load it, and
/// by `edgepaint convert` to pin the NNEF form to the same shapes).
pub fn spec(bundle: &Bundle, which: Component) -> GraphSpec {
    let m = &bundle.manifest;
    let latent = vec![1, m.latent.channels, m.latent.height, m.latent.width];
    let text = vec![1, m.tokenizer.max_length, m.text_encoder.hidden_size];
    let (file, data, field, inputs, output_shape) = match which {
        Component::TextEncoder => (
            &m.text_encoder.file,
            &m.text_encoder.data,
            "text_encoder",
            vec![InputSpec { name: "input_ids", integer: true, shape: vec![1, m.tokenizer.max_length] }],
            text.clone(),
        ),
        Component::Denoiser => (
            &m.denoiser.file,
            &m.denoiser.data,
            "denoiser",
            vec![
                InputSpec { name: "sample", integer: false, shape: latent.clone() },
                InputSpec { name: "timestep", integer: false, shape: vec![1] },
                InputSpec { name: "encoder_hidden_states", integer: false, shape: text },
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
                "decoder",
                vec![InputSpec { name: "latents", integer: false, shape: vec![1, m.latent.channels, h, w] }],
                vec![1, 3, h * f, w * f],
            )
        }
    };
    GraphSpec { file: file.clone(), data: data.clone(), field, inputs, output_shape }
}

/// Load one component and check that its output has the promised shape.
pub fn load(bundle: &Bundle, which: Component) -> Result<Graph, RuntimeError> {
    let GraphSpec { file, data, field, inputs, output_shape: expected } = spec(bundle, which);
    let path = bundle.path(&file);
    let graph = Graph::load_with_data(&path, &inputs, data.as_deref())?;
    if graph.output_shape() != expected.as_slice() {
        return Err(RuntimeError::Graph {
            path,
            message: format!(
                "output shape {:?} does not match the manifest ({field}: expected {:?})",
                graph.output_shape(),
                expected
            ),
        });
    }
    Ok(graph)
}
