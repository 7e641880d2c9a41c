//! `edgepaint info`: what a bundle is.

use super::ModelArg;
use crate::bundle::{locate, Bundle};
use crate::pipeline::{residency, Memory};
use anyhow::{Context, Result};

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArg,
}

pub fn run(args: InfoArgs) -> Result<()> {
    let dir = locate(args.model.model.as_deref());
    let bundle =
        Bundle::load(&dir).with_context(|| format!("cannot load the model bundle {}", dir.display()))?;
    let m = &bundle.manifest;
    let steps: Vec<String> = bundle.step_counts().iter().map(|s| s.to_string()).collect();
    println!("model:       {} ({})", super::shown(&m.name), dir.display());
    println!("id:          {}", super::shown(&bundle.id()));
    if !m.description.is_empty() {
        println!("description: {}", super::shown(&m.description));
    }
    println!("license:     {}", super::shown(&m.license));
    println!("image:       {} x {}", m.image_size[0], m.image_size[1]);
    println!("latents:     {} x {} x {}", m.latent.channels, m.latent.height, m.latent.width);
    println!("tokenizer:   {:?}, {} tokens", m.tokenizer.kind, m.tokenizer.max_length);
    println!("denoiser:    predicts {:?}", m.denoiser.prediction);
    println!("scheduler:   {:?}, steps {} (default {})", m.scheduler.kind, steps.join(", "), m.scheduler.default_steps);
    println!("guidance:    {}", m.guidance.scale);
    let size = |file: &str| std::fs::metadata(bundle.path(file)).map(|md| md.len()).unwrap_or(0) as f64 / 1e6;
    let parts = ["text encoder", "denoiser", "decoder", "preview", "scorer image", "scorer text"];
    for (part, files) in parts.into_iter().zip(m.graph_files()).filter(|(_, f)| !f.is_empty()) {
        let mb: f64 = files.iter().map(|g| size(g.file) + g.data.map(size).unwrap_or(0.0)).sum();
        let g = &files[0];
        let name = match g.data {
            // The weights of a large graph are in its external-data file.
            Some(data) => format!("{} + {data}", g.file),
            None => g.file.to_string(),
        };
        match files.len() {
            1 => println!("{part:<12} {name} ({mb:.1} MB)"),
            n => println!("{part:<12} {name} and {} more segments ({mb:.1} MB in {n} segments)", n - 1),
        }
    }
    let plan = residency::plan(&bundle, Memory::Auto);
    println!("memory:      here, by default, {}", residency::describe(&plan, &bundle));
    Ok(())
}
