//! The sticky settings of the next pictures: `/seed`, `/steps`, `/best`
//! (a child module: it sets the controller's fields).

use super::Controller;
use crate::kiosk::outputs::Target;
use crate::kiosk::protocol::{ErrorCode, Event, ProtocolError};
use crate::pipeline::{check_steps, MAX_BEST_OF};

impl Controller {
    pub(super) fn set_seed(&mut self, seed: Option<u64>, to: Target) {
        self.seed = seed;
        self.send(to, &self.status());
    }

    pub(super) fn set_steps(&mut self, steps: Option<usize>, to: Target) {
        match steps {
            Some(n) if !self.info.steps.contains(&n) => self.send(to, &self.bad_steps(n)),
            _ => {
                self.steps = steps;
                self.send(to, &self.status());
            }
        }
    }

    /// `/best N`: within the limit, and more than one only with a scorer.
    pub(super) fn set_best_of(&mut self, n: Option<usize>, to: Target) {
        let refused = match n {
            Some(n) if !(1..=MAX_BEST_OF).contains(&n) => {
                Some(ProtocolError::new(ErrorCode::BadNumber, format!("/best must be 1 to {MAX_BEST_OF} (not {n})")))
            }
            Some(n) if n > 1 && !self.info.scorer => {
                let message = format!("the model {} has no scorer: /best needs one ([scorer] in its model.toml)", self.info.name);
                Some(ProtocolError::new(ErrorCode::BadArgument, message))
            }
            _ => None,
        };
        match refused {
            Some(e) => self.send(to, &Event::error(e)),
            None => {
                self.best_of = n;
                self.send(to, &self.status());
            }
        }
    }

    pub(super) fn bad_steps(&self, n: usize) -> Event {
        let message = check_steps(n, &self.info.steps, &self.info.name).err().unwrap_or_default();
        Event::error(ProtocolError::new(ErrorCode::BadArgument, message))
    }
}
