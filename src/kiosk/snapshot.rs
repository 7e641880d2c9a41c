//! What the kiosk is doing, for whoever follows it from outside (the MQTT
//! link's retained status): taken after every message the kiosk handled.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastPicture {
    pub id: u64,
    pub path: String,
    /// sha256 of the PNG file, as in `done`.
    pub sha256: String,
    pub prompt: String,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// "idle" or "generating" (as in `/status`).
    pub state: &'static str,
    pub current: Option<u64>,
    /// Jobs waiting behind the current one.
    pub queue: usize,
    pub generated: u64,
    pub last_picture: Option<LastPicture>,
}

/// Follows the kiosk (see [`super::Kiosk::observe`]); runs on the kiosk's thread, so it must not block.
pub trait Observer: Send {
    /// The snapshot differs from the last one given (the first one at start).
    fn changed(&mut self, snapshot: &Snapshot);
    /// The kiosk stops (signal, or its inputs closed).
    fn stopped(&mut self, snapshot: &Snapshot);
}
