//! The retained PREFIX/NAME/status message: what `edgepaint fleet` lists.

use crate::kiosk::snapshot::{LastPicture, Snapshot};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BoardStatus {
    pub name: String,
    pub online: bool,
    /// "idle", "generating", "stopped" (a clean stop) or "offline" (the last will).
    #[serde(default)]
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(default)]
    pub queue: usize,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub version: String,
    /// The board file's name.
    #[serde(default)]
    pub board: String,
    #[serde(default)]
    pub generated: u64,
    /// Events dropped while the broker could not be reached.
    #[serde(default)]
    pub dropped_events: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_picture: Option<LastPicture>,
}

impl BoardStatus {
    /// Online, with the kiosk's snapshot.
    pub fn with(&self, snapshot: &Snapshot, dropped_events: u64) -> BoardStatus {
        BoardStatus {
            online: true,
            state: snapshot.state.to_string(),
            current: snapshot.current,
            queue: snapshot.queue,
            generated: snapshot.generated,
            dropped_events,
            last_picture: snapshot.last_picture.clone(),
            ..self.clone()
        }
    }

    /// What the broker says for a kiosk that vanished (its last will).
    pub fn will(&self) -> BoardStatus {
        BoardStatus {
            online: false,
            state: "offline".into(),
            current: None,
            queue: 0,
            last_picture: None,
            ..self.clone()
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a status serializes")
    }
}
