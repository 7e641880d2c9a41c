//! What `/rate` needs: the last finished picture and the feedback log it
//! is recorded in (see provenance/feedback.rs).

use crate::feedback::{self, FeedbackError, FeedbackLog, Rating};

/// The last finished picture.
pub struct Finished {
    pub id: u64,
    pub prompt: String,
    pub seed: u64,
    pub steps: usize,
    /// sha256 of the PNG file, as in `done`.
    pub sha256: String,
    pub path: std::path::PathBuf,
}

pub struct Ratings {
    kiosk_id: String,
    model_sha256: String,
    log: FeedbackLog,
    pub last: Option<Finished>,
}

impl Ratings {
    pub fn new(kiosk_id: &str, model_sha256: &str, log: FeedbackLog) -> Ratings {
        Ratings { kiosk_id: kiosk_id.to_string(), model_sha256: model_sha256.to_string(), log, last: None }
    }

    /// Append the vote for the last picture (fsynced). Ok(None): nothing to rate.
    pub fn record(&mut self, rating: Rating) -> Result<Option<u64>, FeedbackError> {
        let Some(last) = &self.last else { return Ok(None) };
        let entry = feedback::Entry {
            time: feedback::now(),
            kiosk: self.kiosk_id.clone(),
            prompt: last.prompt.clone(),
            seed: last.seed,
            steps: last.steps,
            model_sha256: self.model_sha256.clone(),
            image_sha256: last.sha256.clone(),
            rating,
        };
        self.log.append(&entry)?;
        Ok(Some(last.id))
    }
}
