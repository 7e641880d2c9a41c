//! The line protocol (README "Kiosk"): a plain line is a
//! prompt, a line starting with `/` is a command; every reply is one JSON
//! object on one line with an `event` field.

use serde::Serialize;

/// Longest accepted line in bytes, not counting the `\n` (or `\r\n`).
pub const MAX_LINE: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A plain line or `/gen PROMPT`.
    Prompt(String),
    /// `/seed N` (Some) or `/seed random` (None): the seed of the next prompts.
    Seed(Option<u64>),
    /// `/steps N` (Some) or `/steps default` (None).
    Steps(Option<usize>),
    /// `/best N` (Some) or `/best default` (None): candidates per picture.
    BestOf(Option<usize>),
    /// `/preset N`, counted from 1 as on the idle screen.
    Preset(usize),
    Rate(Rating),
    Cancel,
    Status,
    Help,
}

pub use crate::feedback::Rating;

/// The `code` of an `error` reply. Scripts match on these; keep them stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    LineTooLong,
    InvalidUtf8,
    UnknownCommand,
    BadNumber,
    BadArgument,
    EmptyPrompt,
    Busy,
    NoSuchPreset,
    NothingToCancel,
    NothingToRate,
    Cancelled,
    GenerationFailed,
    WriteFailed,
    Display,
    Input,
    /// The prompt hit the board's `[filter]` blocklist.
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
        ProtocolError { code, message: message.into() }
    }
}

pub const HELP: &[&str] = &[
    "PROMPT            generate a picture of PROMPT (same as /gen PROMPT)",
    "/gen PROMPT       generate a picture of PROMPT",
    "/seed N|random    seed of the next pictures (default: random)",
    "/steps N|default  denoising steps of the next pictures",
    "/best N|default   keep the best of N candidates by the model's scorer (1-16)",
    "/preset N         generate preset N (see ready.presets)",
    "/rate up|down     rate the last picture",
    "/cancel           stop the running generation",
    "/status           what the kiosk is doing",
    "/help             this list",
];

/// Parse one line (without its line ending). `Ok(None)`: a blank line, ignored.
pub fn parse(line: &str) -> Result<Option<Command>, ProtocolError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(None);
    }
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Some(Command::Prompt(line.to_string())));
    };
    let (name, arg) = match rest.split_once(char::is_whitespace) {
        Some((n, a)) => (n, a.trim()),
        None => (rest, ""),
    };
    let no_arg = |cmd: Command| {
        if arg.is_empty() {
            Ok(Some(cmd))
        } else {
            Err(ProtocolError::new(ErrorCode::BadArgument, format!("/{name} takes no argument")))
        }
    };
    match name {
        "gen" if arg.is_empty() => Err(ProtocolError::new(ErrorCode::EmptyPrompt, "/gen needs a prompt")),
        "gen" => Ok(Some(Command::Prompt(arg.to_string()))),
        "seed" if arg == "random" => Ok(Some(Command::Seed(None))),
        "seed" => number::<u64>(name, arg, "N|random").map(|n| Some(Command::Seed(Some(n)))),
        "steps" if arg == "default" => Ok(Some(Command::Steps(None))),
        "steps" => number::<usize>(name, arg, "N|default").map(|n| Some(Command::Steps(Some(n)))),
        "best" if arg == "default" => Ok(Some(Command::BestOf(None))),
        "best" => number::<usize>(name, arg, "N|default").map(|n| Some(Command::BestOf(Some(n)))),
        "preset" => number::<usize>(name, arg, "N").map(|n| Some(Command::Preset(n))),
        "rate" => match arg {
            "up" => Ok(Some(Command::Rate(Rating::Up))),
            "down" => Ok(Some(Command::Rate(Rating::Down))),
            _ => Err(ProtocolError::new(ErrorCode::BadArgument, "usage: /rate up|down")),
        },
        "cancel" => no_arg(Command::Cancel),
        "status" => no_arg(Command::Status),
        "help" => no_arg(Command::Help),
        _ => Err(ProtocolError::new(
            ErrorCode::UnknownCommand,
            format!("unknown command /{}; /help lists them", truncate(name, 32)),
        )),
    }
}

fn number<T: std::str::FromStr>(name: &str, arg: &str, usage: &str) -> Result<T, ProtocolError> {
    if arg.is_empty() {
        return Err(ProtocolError::new(ErrorCode::BadArgument, format!("usage: /{name} {usage}")));
    }
    arg.parse::<T>().map_err(|_| {
        ProtocolError::new(ErrorCode::BadNumber, format!("/{name}: \"{}\" is not a valid number", truncate(arg, 32)))
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// One reply line. Serialized as `{"event": "<variant>", ...fields}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    Ready {
        version: String,
        board: String,
        model: String,
        steps: Vec<usize>,
        default_steps: usize,
        presets: Vec<String>,
        queue_capacity: usize,
    },
    /// A request entered the queue; `position` 0 means it runs now.
    Accepted { id: u64, prompt: String, seed: u64, steps: usize, position: usize },
    Progress { id: u64, step: usize, of: usize },
    /// The picture is on disk (written atomically) at `path`.
    /// `score`: the kept candidate's, when the picture was the best of several.
    Done {
        id: u64,
        ms: u64,
        seed: u64,
        path: String,
        sha256: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        score: Option<f32>,
    },
    Rated { id: u64, rating: Rating },
    Status {
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        current: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        of: Option<usize>,
        queue: usize,
        /// null: a random seed per picture.
        seed: Option<u64>,
        steps: usize,
        /// Candidates per picture (1: no scoring).
        best_of: usize,
        generated: u64,
        /// Prompts refused by the filter since start.
        blocked: u64,
        /// Free space (MB) where pictures go, only when below `[output] min_free_mb`.
        #[serde(skip_serializing_if = "Option::is_none")]
        free_mb: Option<u64>,
        /// Events a broker link dropped while it could not send (only with a broker).
        #[serde(skip_serializing_if = "Option::is_none")]
        dropped_events: Option<u64>,
    },
    Help { commands: Vec<String> },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
}

impl Event {
    pub fn error(e: ProtocolError) -> Event {
        Event::Error { code: e.code, message: e.message, id: None }
    }

    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("events serialize");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse("  a red house \r").unwrap(), Some(Command::Prompt("a red house".into())));
        assert_eq!(parse("/gen  a boat").unwrap(), Some(Command::Prompt("a boat".into())));
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("/seed 42").unwrap(), Some(Command::Seed(Some(42))));
        assert_eq!(parse("/seed random").unwrap(), Some(Command::Seed(None)));
        assert_eq!(parse("/steps 2").unwrap(), Some(Command::Steps(Some(2))));
        assert_eq!(parse("/preset 3").unwrap(), Some(Command::Preset(3)));
        assert_eq!(parse("/best 4").unwrap(), Some(Command::BestOf(Some(4))));
        assert_eq!(parse("/best default").unwrap(), Some(Command::BestOf(None)));
        assert_eq!(parse("/best four").unwrap_err().code, ErrorCode::BadNumber);
        assert_eq!(parse("/best").unwrap_err().code, ErrorCode::BadArgument);
        assert_eq!(parse("/rate down").unwrap(), Some(Command::Rate(Rating::Down)));
        assert_eq!(parse("/cancel").unwrap(), Some(Command::Cancel));
        assert_eq!(parse("/seed -1").unwrap_err().code, ErrorCode::BadNumber);
        assert_eq!(parse("/seed").unwrap_err().code, ErrorCode::BadArgument);
        assert_eq!(parse("/steps 99999999999999999999999").unwrap_err().code, ErrorCode::BadNumber);
        assert_eq!(parse("/rate meh").unwrap_err().code, ErrorCode::BadArgument);
        assert_eq!(parse("/gen").unwrap_err().code, ErrorCode::EmptyPrompt);
        assert_eq!(parse("/dance").unwrap_err().code, ErrorCode::UnknownCommand);
        assert_eq!(parse("/status now").unwrap_err().code, ErrorCode::BadArgument);
    }

    #[test]
    fn events_are_one_json_line() {
        let e = Event::Progress { id: 3, step: 1, of: 2 };
        assert_eq!(e.to_line(), "{\"event\":\"progress\",\"id\":3,\"step\":1,\"of\":2}\n");
        let e = Event::error(ProtocolError::new(ErrorCode::Busy, "queue full"));
        assert_eq!(e.to_line(), "{\"event\":\"error\",\"code\":\"busy\",\"message\":\"queue full\"}\n");
    }
}
