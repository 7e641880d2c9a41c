//! `edgepaint fleet --mqtt URL`: the kiosks under a prefix, from their
//! retained status messages (name, online, state, model, last picture).

use super::broker_args::BrokerArgs;
use crate::fleet::remote::Remote;
use crate::fleet::Topics;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct FleetArgs {
    /// One JSON array of the status messages.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

pub fn run(args: FleetArgs) -> Result<()> {
    let config = args.broker.config();
    let prefix = config.prefix().to_string();
    let mut remote = Remote::connect(&config, &[Topics::every(&prefix, "status")]).map_err(anyhow::Error::msg)?;
    let boards = remote.statuses(&prefix).map_err(anyhow::Error::msg)?;
    remote.disconnect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&boards.values().collect::<Vec<_>>())?);
        return Ok(());
    }
    if boards.is_empty() {
        println!("no kiosk has a status under {prefix}/");
        return Ok(());
    }
    println!("{:<20} {:<8} {:<11} {:>5}  {:<20} LAST PICTURE", "NAME", "ONLINE", "STATE", "QUEUE", "MODEL");
    for (name, s) in &boards {
        let last = s.last_picture.as_ref().map_or("-".to_string(), |p| format!("#{} {:?} {}", p.id, p.prompt, p.path));
        let online = if s.online { "yes" } else { "no" };
        println!("{name:<20} {online:<8} {:<11} {:>5}  {:<20} {last}", s.state, s.queue, s.model);
    }
    Ok(())
}
