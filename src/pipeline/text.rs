//! The prompt's text states, remembered for the last prompt: the N
//! candidates of a best-of run (and a kiosk preset asked again) encode their
//! prompt once, and in low-memory mode load the text encoder once.

use super::{ms, Component, Pipeline, PipelineError, Timings};
use crate::runtime::{Graph, Input, RuntimeError};
use crate::tensor::Tensor;
use std::time::Instant;

/// The last prompt's token ids and what the text encoder made of them (and
/// of the empty prompt, with guidance).
pub(super) struct EncodedText {
    ids: Vec<i64>,
    cond: Tensor,
    uncond: Option<Tensor>,
}

impl Pipeline {
    /// The text states for `ids` (and the empty prompt's when `guided`):
    /// the remembered ones when the prompt is the last one, else encoded now
    /// (its time in `timings.text_ms`).
    pub(super) fn text_states(
        &mut self,
        ids: Vec<i64>,
        guided: bool,
        timings: &mut Timings,
    ) -> Result<(Tensor, Option<Tensor>), PipelineError> {
        if let Some(t) = self.last_text.as_ref().filter(|t| t.ids == ids && t.uncond.is_some() == guided) {
            return Ok((t.cond.clone(), t.uncond.clone()));
        }
        let encoder = self.graph(Component::TextEncoder, timings)?;
        let t0 = Instant::now();
        let cond = encode(&encoder, ids.clone())?;
        let uncond = if guided { Some(encode(&encoder, self.tokenizer.encode("").ids)?) } else { None };
        timings.text_ms = ms(t0);
        self.put_back(Component::TextEncoder, encoder);
        self.last_text = Some(EncodedText { ids, cond: cond.clone(), uncond: uncond.clone() });
        Ok((cond, uncond))
    }

    /// Forget the remembered text states, so that the next picture encodes
    /// its prompt (`bench` times whole pictures as a fresh `generate` makes them).
    pub fn forget_text(&mut self) {
        self.last_text = None;
    }
}

fn encode(encoder: &Graph, ids: Vec<i64>) -> Result<Tensor, RuntimeError> {
    let len = ids.len();
    encoder.run(&[Input::I64 { shape: vec![1, len], data: ids }])
}
