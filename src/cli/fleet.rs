//! `edgepaint fleet --mqtt URL`: the kiosks under a prefix, from their
//! retained status messages (name, online, state, model, last picture).

use super::broker_args::BrokerArgs;
use crate::fleet::remote::Remote;
use crate::fleet::{BoardStatus, Topics};
use anyhow::Result;
use std::time::{Duration, Instant};

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
    let mut boards = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    // Retained messages arrive right after the subscription: stop after a quiet 500 ms.
    while let Some(m) =
        remote.next(deadline.min(Instant::now() + Duration::from_millis(500))).map_err(anyhow::Error::msg)?
    {
        let Some((name, _)) = Topics::split(&prefix, &m.topic) else {
            continue;
        };
        match serde_json::from_slice::<BoardStatus>(&m.payload) {
            Ok(s) => {
                boards.insert(name.to_string(), s);
            }
            // An empty retained message clears a kiosk (mosquitto_pub -r -n).
            Err(_) if m.payload.is_empty() => {
                boards.remove(name);
            }
            Err(e) => log::warn!("{}: not a status message: {e}", m.topic),
        }
    }
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
