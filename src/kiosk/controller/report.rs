//! What the controller tells about itself: the `/status` event and the
//! [`Snapshot`] for observers (a child module: it reads the controller's fields).

use super::Controller;
use crate::kiosk::protocol::Event;
use crate::kiosk::snapshot::{LastPicture, Snapshot};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

impl Controller {
    pub(super) fn status(&self) -> Event {
        let (current, step, of) = match self.queue.current() {
            Some(r) => {
                let (s, o) = self.screen.progress().unwrap_or((0, 0));
                (Some(r.id), Some(s), Some(o))
            }
            None => (None, None, None),
        };
        Event::Status {
            state: self.state(),
            current,
            step,
            of,
            queue: self.queue.waiting(),
            seed: self.seed,
            steps: self.steps.unwrap_or(self.info.default_steps),
            best_of: self.best_of.unwrap_or(self.board_best_of),
            generated: self.generated,
            blocked: self.blocked,
            free_mb: self.low_disk(),
            dropped_events: self.dropped_events.as_ref().map(|d| d.load(Ordering::Relaxed)),
        }
    }

    /// "idle" or "generating", for `/status` and the snapshot alike.
    fn state(&self) -> &'static str {
        if self.queue.current().is_some() {
            "generating"
        } else {
            "idle"
        }
    }

    /// The free space where pictures go, when it is below the board's limit.
    pub(super) fn low_disk(&self) -> Option<u64> {
        self.queue.free_mb().filter(|&mb| mb < self.min_free_mb)
    }

    /// Count of events a broker link dropped, reported in `/status`.
    pub fn report_dropped_events(&mut self, counter: Arc<AtomicU64>) {
        self.dropped_events = Some(counter);
    }

    pub fn info(&self) -> &crate::kiosk::worker::ModelInfo {
        &self.info
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state(),
            current: self.queue.current().map(|r| r.id),
            queue: self.queue.waiting(),
            generated: self.generated,
            last_picture: self.ratings.last.as_ref().map(|f| LastPicture {
                id: f.id,
                path: f.path.display().to_string(),
                sha256: f.sha256.clone(),
                prompt: f.prompt.clone(),
                seed: f.seed,
            }),
        }
    }
}
