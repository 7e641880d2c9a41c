//! Attract mode: after `idle_minutes` without input the kiosk cycles
//! through its presets, one every `interval_seconds`; any input ends it.
//! Also the preset turn order the "next preset" button shares.

use crate::board::AttractConfig;
use std::time::{Duration, Instant};

pub struct Attract {
    config: Option<AttractConfig>,
    next_preset: usize,
    last_input: Instant,
    last_attract: Option<Instant>,
}

impl Attract {
    pub fn new(config: Option<AttractConfig>) -> Attract {
        Attract { config, next_preset: 0, last_input: Instant::now(), last_attract: None }
    }

    pub fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// Someone used the kiosk: attract mode waits its idle time again.
    pub fn touch(&mut self) {
        self.last_input = Instant::now();
    }

    /// The next preset in turn (of `presets`), counted from 1.
    pub fn advance(&mut self, presets: usize) -> usize {
        let n = self.next_preset % presets.max(1) + 1;
        self.next_preset = n;
        n
    }

    /// The preset to show now, if attract mode is due (the kiosk is `idle`).
    pub fn due(&mut self, idle: bool, presets: usize) -> Option<usize> {
        let a = self.config.as_ref()?;
        let idle_for = Duration::from_secs_f64(a.idle_minutes * 60.0);
        let every = Duration::from_secs_f64(a.interval_seconds);
        let due = self.last_attract.is_none_or(|t| t.elapsed() >= every);
        if idle && self.last_input.elapsed() >= idle_for && due && presets > 0 {
            self.last_attract = Some(Instant::now());
            return Some(self.advance(presets));
        }
        None
    }
}
