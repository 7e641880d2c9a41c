//! `edgepaint convert`: a bundle in NNEF form, for the board build
//! that leaves the ONNX parser out (see crate::convert).

use super::ModelArg;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Folder for the converted bundle (created; must not hold a model.toml).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Print what was converted as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "onnx")]
pub fn run(args: ConvertArgs) -> Result<()> {
    use crate::bundle::{locate, Bundle};
    use anyhow::Context;
    let dir = locate(args.model.model.as_deref());
    let bundle =
        Bundle::load(&dir).with_context(|| format!("cannot load the model bundle {}", dir.display()))?;
    let graphs = crate::convert::to_nnef(&bundle, &args.out)
        .with_context(|| format!("cannot convert {} to NNEF", dir.display()))?;
    if args.json {
        let out = serde_json::json!({ "model": dir, "out": args.out, "graphs": graphs });
        println!("{out}");
    } else {
        for g in &graphs {
            println!(
                "{:<13} {} ({:.1} MB, max difference {:.1e})",
                g.field,
                g.file,
                g.bytes as f64 / 1e6,
                g.max_abs_diff
            );
        }
        println!("bundle:       {}", args.out.join("model.toml").display());
    }
    Ok(())
}

#[cfg(not(feature = "onnx"))]
pub fn run(_args: ConvertArgs) -> Result<()> {
    anyhow::bail!("this edgepaint is built without the ONNX parser (cargo feature `onnx`): convert on a full build")
}
