//! `edgepaint send --mqtt URL --to NAME|all PROMPT [--wait] [--save DIR]`:
//! a prompt (or any protocol line) to one kiosk or to all, and with `--wait`
//! their answers until each addressed kiosk is done. Exit 0: sent (with
//! --wait: every kiosk made the picture); 1: some did not; 2: an error.

use super::broker_args::BrokerArgs;
use crate::fleet::follow::{Follower, State};
use crate::fleet::remote::Remote;
use crate::fleet::Topics;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The prompt, or a protocol line such as "/preset 2" or "/cancel".
    pub prompt: String,
    /// Which kiosk: its name, or `all` for every kiosk under the prefix.
    #[arg(long, value_name = "NAME|all")]
    pub to: String,
    /// Follow the kiosks' events until each has made the picture (or failed).
    #[arg(long)]
    pub wait: bool,
    /// Store the pictures the kiosks publish (`[mqtt] pictures = true`) in DIR; implies --wait.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// One JSON object per line: each kiosk's events, with "board" added.
    #[arg(long)]
    pub json: bool,
    /// Stop waiting after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub timeout: u64,
    #[command(flatten)]
    pub broker: BrokerArgs,
}

pub fn run(args: SendArgs) -> i32 {
    match send(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            super::EXIT_ERROR
        }
    }
}

fn send(args: SendArgs) -> Result<i32, String> {
    let config = args.broker.config();
    let prefix = config.prefix().to_string();
    if args.to != crate::fleet::topics::ALL {
        crate::fleet::config::check_kiosk_name(&args.to).map_err(|e| format!("--to: {e}"))?;
    }
    let line = args.prompt.trim();
    let wait = args.wait || args.save.is_some();
    // The prompt text the kiosk will name in `accepted`.
    let prompt = match line.strip_prefix("/gen ") {
        Some(p) => p.trim(),
        None if line.starts_with('/') && wait => {
            return Err("--wait and --save follow a prompt, not a command line".into())
        }
        None => line,
    };
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).map_err(|e| format!("--save {}: {e}", dir.display()))?;
    }
    let mut topics = vec![];
    if wait {
        topics = vec![Topics::every(&prefix, "status"), Topics::every(&prefix, "events")];
        if args.save.is_some() {
            topics.push(Topics::every(&prefix, "picture"));
        }
    }
    let mut remote = Remote::connect(&config, &topics)?;
    let boards = if wait { addressed(&mut remote, &prefix, &args.to)? } else { vec![] };
    remote.publish(&format!("{prefix}/{}/in", args.to), line)?;
    if !wait {
        if !args.json {
            println!("sent to {}", args.to);
        }
        remote.disconnect();
        return Ok(0);
    }
    let mut follower = Follower::new(prompt, boards, args.save.is_some());
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    while !follower.finished() {
        let Some(m) = remote.next(deadline)? else {
            break;
        };
        let Some((board, leaf)) = Topics::split(&prefix, &m.topic) else {
            continue;
        };
        let board = board.to_string();
        match leaf {
            "events" => {
                let Ok(event) = serde_json::from_slice::<serde_json::Value>(&m.payload) else {
                    continue;
                };
                if follower.event(&board, &event) {
                    report(&board, &event, args.json);
                }
            }
            "picture" => {
                let sha = hex::encode(Sha256::digest(&m.payload));
                if let (Some(id), Some(dir)) = (follower.picture(&board, &sha), &args.save) {
                    let path = dir.join(format!("{board}-{id:06}.png"));
                    std::fs::write(&path, &m.payload).map_err(|e| format!("{}: {e}", path.display()))?;
                    report(
                        &board,
                        &serde_json::json!({"event": "saved", "id": id, "path": path.display().to_string()}),
                        args.json,
                    );
                }
            }
            _ => {}
        }
    }
    remote.disconnect();
    for (board, state) in &follower.boards {
        let missing = match state {
            State::Sent => "no answer",
            State::Accepted { .. } => "not finished",
            State::Done { saved: false, .. } => "no picture received (is [mqtt] pictures = true on it?)",
            _ => continue,
        };
        eprintln!("{board}: {missing} within {} s", args.timeout);
    }
    Ok(if follower.all_done() { 0 } else { 1 })
}

/// The kiosks a waiting send follows: `to` itself, or every kiosk whose
/// retained status says online (`Remote::statuses`).
fn addressed(remote: &mut Remote, prefix: &str, to: &str) -> Result<Vec<String>, String> {
    let online: std::collections::BTreeMap<String, bool> =
        remote.statuses(prefix)?.into_iter().map(|(name, s)| (name, s.online)).collect();
    if to != crate::fleet::topics::ALL {
        match online.get(to) {
            Some(true) => {}
            Some(false) => {
                eprintln!("warning: {to} is offline (its last status); waiting for it anyway")
            }
            None => eprintln!("warning: no status from a kiosk named {to} under {prefix}/; waiting anyway"),
        }
        return Ok(vec![to.to_string()]);
    }
    let boards: Vec<String> = online.into_iter().filter(|(_, on)| *on).map(|(n, _)| n).collect();
    if boards.is_empty() {
        return Err(format!("no kiosk is online under {prefix}/ (none has a retained status saying so)"));
    }
    Ok(boards)
}

fn report(board: &str, event: &serde_json::Value, json: bool) {
    if json {
        let mut e = event.clone();
        e["board"] = board.into();
        println!("{e}");
        return;
    }
    let n = |k: &str| event[k].as_u64().unwrap_or(0);
    match event["event"].as_str().unwrap_or("") {
        "accepted" => println!("{board}: accepted as #{} (queue position {})", n("id"), n("position")),
        "done" => println!(
            "{board}: done #{} in {:.1} s, seed {}: {}",
            n("id"),
            n("ms") as f64 / 1000.0,
            n("seed"),
            event["path"].as_str().unwrap_or("")
        ),
        "saved" => println!("{board}: saved {}", event["path"].as_str().unwrap_or("")),
        "error" => println!(
            "{board}: {}: {}",
            event["code"].as_str().unwrap_or("error"),
            event["message"].as_str().unwrap_or("")
        ),
        _ => {}
    }
}
