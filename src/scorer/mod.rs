//! The self-check scorer: how well a picture matches a prompt, as the cosine
//! of an image tower's and a text tower's embeddings (the CLIP idea), from
//! the bundle's optional `[scorer]` (docs/bundle.md). `generate --best-of N`
//! keeps the best of N candidates by it; `edgepaint score` prints it.

mod pixels;

pub use pixels::pixel_values;

use crate::bundle::{Bundle, ScorerSection};
use crate::image::RgbImage;
use crate::pipeline::{load_specs, scorer_specs};
use crate::runtime::{Graph, Input, RuntimeError};
use crate::tokenizer::{ClipTokenizer, TokenizerError};
use std::time::Instant;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ScorerError {
    #[error("the model bundle {0} has no scorer ([scorer] in its model.toml; docs/bundle.md)")]
    Missing(String),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}

pub struct Scorer {
    section: ScorerSection,
    tokenizer: ClipTokenizer,
    image: Graph,
    text: Graph,
    /// Loading and optimizing both towers.
    pub load_ms: f64,
}

impl Scorer {
    /// Load the bundle's scorer (both towers, checked against the manifest's
    /// shapes); an error when the bundle has none.
    pub fn load(bundle: &Bundle) -> Result<Scorer, ScorerError> {
        let started = Instant::now();
        let section = bundle.manifest.scorer.clone().ok_or_else(|| ScorerError::Missing(bundle.id()))?;
        let tokenizer = bundle.tokenizer()?;
        let towers = load_specs(bundle, &scorer_specs(bundle))?;
        let [image, text]: [Graph; 2] = towers.try_into().map_err(|_| ScorerError::Missing(bundle.id()))?;
        Ok(Scorer { section, tokenizer, image, text, load_ms: started.elapsed().as_secs_f64() * 1e3 })
    }

    /// The prompt's embedding, of unit length.
    pub fn text_embedding(&self, prompt: &str) -> Result<Vec<f32>, ScorerError> {
        let ids = self.tokenizer.encode(prompt).ids;
        let out = self.text.run(&[Input::I64 { shape: vec![1, ids.len()], data: ids }])?;
        Ok(unit(out.data))
    }

    /// The picture's embedding, of unit length.
    pub fn image_embedding(&self, image: &RgbImage) -> Result<Vec<f32>, ScorerError> {
        let s = &self.section;
        let pixels = pixel_values(image, s.image_size, s.mean, s.std);
        Ok(unit(self.image.run(&[Input::F32(pixels)])?.data))
    }

    /// How well `image` matches the prompt whose [`Scorer::text_embedding`]
    /// is `text`: their cosine, -1 to 1 (higher is better).
    pub fn score(&self, image: &RgbImage, text: &[f32]) -> Result<f32, ScorerError> {
        Ok(cosine(&self.image_embedding(image)?, text))
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The cosine of two unit-length embeddings.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cosine_of_unit_vectors() {
        let a = super::unit(vec![3.0, 4.0]);
        assert_eq!(a, vec![0.6, 0.8]);
        assert!((super::cosine(&a, &super::unit(vec![-6.0, -8.0])) + 1.0).abs() < 1e-6);
        // A zero embedding stays zero (its cosine with anything is 0, not NaN).
        assert_eq!(super::unit(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }
}
