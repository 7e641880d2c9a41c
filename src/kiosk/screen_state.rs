//! What the screen shows, changed by the kiosk's events (`on_*`) and drawn
//! after each change. A display that fails is reported once per outage and
//! the kiosk goes on without it.

use crate::display::{present, Display, DisplayError, Screen};
use crate::image::RgbImage;
use std::sync::Arc;

/// The on-screen answer to a blocked prompt.
const BLOCKED_SCREEN: &str = "Sorry, that prompt can't be drawn here. Try another!";

pub struct ScreenState {
    screen: Screen,
    /// The last finished picture (shown again when a generation ends
    /// without one, after its previews).
    finished: Option<Arc<RgbImage>>,
    display: Option<Box<dyn Display>>,
    display_ok: bool,
}

impl ScreenState {
    pub fn new(title: String, presets: Vec<String>, display: Option<Box<dyn Display>>) -> ScreenState {
        let screen = Screen { title, presets, status: "ready".into(), idle: true, ..Screen::default() };
        ScreenState { screen, finished: None, display, display_ok: true }
    }

    /// (step, of) of the running generation.
    pub fn progress(&self) -> Option<(usize, usize)> {
        self.screen.progress
    }

    pub fn on_ready(&mut self) -> Option<DisplayError> {
        self.redraw()
    }

    pub fn on_blocked(&mut self) -> Option<DisplayError> {
        self.screen.status = BLOCKED_SCREEN.into();
        self.redraw()
    }

    pub fn on_start(&mut self, prompt: &str, steps: usize) -> Option<DisplayError> {
        self.screen.prompt = Some(prompt.to_string());
        self.screen.progress = Some((0, steps));
        self.screen.status = format!("generating 0/{steps}");
        self.screen.idle = false;
        self.redraw()
    }

    /// A step finished; drawn unless `draw` is false (newer steps wait).
    pub fn on_progress(&mut self, step: usize, of: usize, draw: bool) -> Option<DisplayError> {
        self.screen.progress = Some((step, of));
        self.screen.status = format!("generating {step}/{of}");
        if draw {
            self.redraw()
        } else {
            None
        }
    }

    /// The picture as it stands after a step: shown in the picture area
    /// (drawn unless `draw` is false).
    pub fn on_preview(&mut self, image: Arc<RgbImage>, draw: bool) -> Option<DisplayError> {
        self.screen.image = Some(image);
        if draw {
            self.redraw()
        } else {
            None
        }
    }

    pub fn on_done(&mut self, image: Arc<RgbImage>, prompt: Option<String>, status: String) -> Option<DisplayError> {
        self.finished = Some(image.clone());
        self.screen.image = Some(image);
        self.screen.prompt = prompt;
        self.screen.progress = None;
        self.screen.status = status;
        self.redraw()
    }

    /// A generation ended without a picture (cancelled, failed, stopped).
    pub fn on_ended(&mut self, status: String) -> Option<DisplayError> {
        self.screen.image = self.finished.clone();
        self.screen.progress = None;
        self.screen.status = status;
        self.redraw()
    }

    /// Draw; the error only when the display has just stopped working.
    fn redraw(&mut self) -> Option<DisplayError> {
        let display = self.display.as_mut()?;
        match present(display.as_mut(), &self.screen) {
            Ok(()) => {
                self.display_ok = true;
                None
            }
            Err(e) => std::mem::replace(&mut self.display_ok, false).then_some(e),
        }
    }
}
