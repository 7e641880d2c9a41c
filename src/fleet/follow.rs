//! `send --wait`: following each addressed kiosk's events from the prompt's
//! `accepted` to its `done` (and, with `--save`, its picture). Events are
//! matched to our prompt by its text (the protocol has no request ids):
//! another controller sending the same text to the same kiosk at the same
//! moment could be taken for ours (README "Fleet").

use serde_json::Value;
use std::collections::BTreeMap;

/// Errors a kiosk answers a prompt line with (no generation id yet).
const LINE_ERRORS: &[&str] = &["busy", "blocked", "bad_argument", "empty_prompt", "line_too_long", "invalid_utf8"];

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Sent; no answer yet.
    Sent,
    Accepted {
        id: u64,
    },
    /// `done`; with `--save`, still waiting for the picture with this sha256.
    Done {
        id: u64,
        sha256: String,
        saved: bool,
    },
    Failed {
        message: String,
    },
}

pub struct Follower {
    prompt: String,
    save: bool,
    pub boards: BTreeMap<String, State>,
}

impl Follower {
    pub fn new(prompt: &str, boards: impl IntoIterator<Item = String>, save: bool) -> Follower {
        let boards = boards.into_iter().map(|b| (b, State::Sent)).collect();
        Follower { prompt: prompt.trim().to_string(), save, boards }
    }

    /// An event from `board`; true when it was about our prompt.
    pub fn event(&mut self, board: &str, e: &Value) -> bool {
        let Some(state) = self.boards.get_mut(board) else {
            return false;
        };
        let kind = e["event"].as_str().unwrap_or("");
        let id = e["id"].as_u64();
        match (state.clone(), kind) {
            (State::Sent, "accepted") if e["prompt"].as_str() == Some(&self.prompt) => {
                *state = State::Accepted { id: id.unwrap_or(0) };
            }
            (State::Sent, "error") if id.is_none() && LINE_ERRORS.contains(&e["code"].as_str().unwrap_or("")) => {
                *state = State::Failed { message: e["message"].as_str().unwrap_or("error").to_string() };
            }
            (State::Accepted { id: ours }, "progress") if id == Some(ours) => {}
            (State::Accepted { id: ours }, "done") if id == Some(ours) => {
                let sha256 = e["sha256"].as_str().unwrap_or("").to_string();
                *state = State::Done { id: ours, sha256, saved: !self.save };
            }
            (State::Accepted { id: ours }, "error") if id == Some(ours) => {
                *state = State::Failed { message: e["message"].as_str().unwrap_or("error").to_string() };
            }
            _ => return false,
        }
        true
    }

    /// A picture from `board`: Some(id) when it is the one our `done` named.
    pub fn picture(&mut self, board: &str, sha256: &str) -> Option<u64> {
        match self.boards.get_mut(board) {
            Some(State::Done { id, sha256: want, saved }) if !*saved && want == sha256 => {
                *saved = true;
                Some(*id)
            }
            _ => None,
        }
    }

    pub fn finished(&self) -> bool {
        self.boards.values().all(|s| matches!(s, State::Failed { .. } | State::Done { saved: true, .. }))
    }

    pub fn all_done(&self) -> bool {
        self.boards.values().all(|s| matches!(s, State::Done { saved: true, .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn follows_accepted_to_done_and_picture() {
        let mut f = Follower::new(" a boat ", ["a".to_string(), "b".to_string()], true);
        assert!(!f.event("a", &json!({"event": "accepted", "id": 3, "prompt": "another"})));
        assert!(f.event("a", &json!({"event": "accepted", "id": 4, "prompt": "a boat"})));
        assert!(!f.event("a", &json!({"event": "done", "id": 3, "sha256": "x"})));
        assert!(f.event("a", &json!({"event": "done", "id": 4, "sha256": "abc"})));
        assert!(!f.finished());
        assert_eq!(f.picture("a", "zzz"), None);
        assert_eq!(f.picture("a", "abc"), Some(4));
        assert!(f.event("b", &json!({"event": "error", "code": "busy", "message": "the queue is full"})));
        assert!(f.finished());
        assert!(!f.all_done());
        assert!(!f.event("c", &json!({"event": "accepted", "id": 1, "prompt": "a boat"})));
    }

    #[test]
    fn a_display_error_is_not_an_answer() {
        let mut f = Follower::new("x", ["a".to_string()], false);
        assert!(!f.event("a", &json!({"event": "error", "code": "display", "message": "panel gone"})));
        assert!(f.event("a", &json!({"event": "accepted", "id": 9, "prompt": "x"})));
        assert!(f.event("a", &json!({"event": "error", "code": "cancelled", "id": 9, "message": "cancelled"})));
        assert!(f.finished());
    }
}
