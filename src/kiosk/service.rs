//! Telling systemd how the kiosk is (`Type=notify` in the shipped unit):
//! `READY=1` once it serves, `WATCHDOG=1` from the main loop while the
//! generation thread is not stuck, `STOPPING=1` at the end. Without
//! `NOTIFY_SOCKET` (not run by systemd) every call does nothing.

use sd_notify::NotifyState;
use std::time::{Duration, Instant};

pub struct Service {
    /// Half the watchdog period (`WATCHDOG_USEC`), when systemd set one.
    pet_every: Option<Duration>,
    last_pet: Instant,
}

impl Service {
    pub fn from_env() -> Service {
        Service { pet_every: sd_notify::watchdog_enabled().map(|d| d / 2), last_pet: Instant::now() }
    }

    pub fn ready(&self) {
        send(&[NotifyState::Ready]);
    }

    /// Called on every turn of the main loop (at least every 500 ms): pets
    /// the watchdog when due, unless the generation thread is stuck, so that
    /// systemd restarts a kiosk whose worker hangs.
    pub fn tick(&mut self, worker_stuck: bool) {
        let Some(every) = self.pet_every else { return };
        if !worker_stuck && self.last_pet.elapsed() >= every {
            send(&[NotifyState::Watchdog]);
            self.last_pet = Instant::now();
        }
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }
}

fn send(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        log::warn!("cannot notify systemd: {e}");
    }
}

/// A generation runs and its thread has reported nothing for longer than
/// `limit` (a step of a big model on a small board can take minutes).
pub fn is_stuck(running: bool, since_last_report: Duration, limit: Duration) -> bool {
    running && since_last_report > limit
}

#[cfg(test)]
mod tests {
    use super::is_stuck;
    use std::time::Duration;

    #[test]
    fn only_a_running_generation_without_reports_is_stuck() {
        let limit = Duration::from_secs(900);
        assert!(!is_stuck(false, Duration::from_secs(5000), limit), "idle is never stuck");
        assert!(!is_stuck(true, Duration::from_secs(10), limit));
        assert!(is_stuck(true, Duration::from_secs(901), limit));
    }
}
