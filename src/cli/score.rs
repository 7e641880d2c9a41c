//! `edgepaint score IMAGE PROMPT...`: how well a picture matches prompts,
//! by the bundle's self-check scorer.

use super::ModelArg;
use crate::bundle::{locate, Bundle};
use crate::image::read_image;
use crate::scorer::{cosine, Scorer};
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// The picture (PNG or JPEG).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// One or more prompts to score it against.
    #[arg(value_name = "PROMPT", required = true)]
    pub prompts: Vec<OsString>,
    #[command(flatten)]
    pub model: ModelArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ScoreArgs) -> Result<()> {
    let prompts = args
        .prompts
        .into_iter()
        .map(|p| p.into_string().map_err(|_| anyhow::anyhow!("a prompt is not valid UTF-8")))
        .collect::<Result<Vec<String>>>()?;
    if prompts.iter().any(|p| p.trim().is_empty()) {
        bail!("a prompt is empty");
    }
    let bytes = std::fs::read(&args.image).with_context(|| format!("cannot read {}", args.image.display()))?;
    let image = read_image(&bytes).with_context(|| format!("cannot read {}", args.image.display()))?;
    let dir = locate(args.model.model.as_deref());
    let bundle = Bundle::load(&dir).with_context(|| format!("cannot load the model bundle {}", dir.display()))?;
    let scorer = Scorer::load(&bundle)?;
    let picture = scorer.image_embedding(&image)?;
    let mut scores = Vec::with_capacity(prompts.len());
    for prompt in &prompts {
        let text = scorer.text_embedding(prompt)?;
        scores.push(cosine(&picture, &text));
    }
    if args.json {
        let list: Vec<_> =
            prompts.iter().zip(&scores).map(|(p, s)| serde_json::json!({ "prompt": p, "score": s })).collect();
        let obj = serde_json::json!({
            "image": args.image.display().to_string(),
            "model": bundle.id(),
            "scores": list,
        });
        println!("{obj}");
    } else {
        for (prompt, score) in prompts.iter().zip(&scores) {
            println!("{score:.4}  {}", super::shown(prompt));
        }
    }
    Ok(())
}
