//! Write edgepaint's man pages from its command-line definition (clap), so
//! they never disagree with `--help`: edgepaint.1 and one page per
//! subcommand (edgepaint-generate.1, ...). scripts/deb.sh puts them in the
//! Debian package.
//!
//!   cargo run --example manpage -- OUT_DIR

use clap::CommandFactory;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: manpage OUT_DIR"));
    std::fs::create_dir_all(&out)?;
    let cmd = edgepaint::cli::Cli::command();
    // clap's names are &'static str (no "string" feature): a leak per page.
    let version: &'static str = cmd.get_version().unwrap_or("").to_string().leak();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    std::fs::write(out.join("edgepaint.1"), page)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name: &'static str = format!("edgepaint-{}", sub.get_name()).leak();
        let sub = sub.clone().name(name).version(version);
        let mut page = Vec::new();
        clap_mangen::Man::new(sub).render(&mut page)?;
        std::fs::write(out.join(format!("{name}.1")), page)?;
    }
    Ok(())
}
