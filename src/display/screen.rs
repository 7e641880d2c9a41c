//! What the screen should show: the kiosk updates this model, the layout
//! turns it into a frame.

use crate::image::RgbImage;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Screen {
    /// The board's name, on the idle screen.
    pub title: String,
    /// Preset labels, listed on the idle screen.
    pub presets: Vec<String>,
    /// The last finished picture (None: the idle screen).
    pub image: Option<Arc<RgbImage>>,
    /// The prompt being generated, or of the picture shown.
    pub prompt: Option<String>,
    /// (step, of) while a generation runs.
    pub progress: Option<(usize, usize)>,
    /// The status line: "ready", "generating 2/4", "error: ...".
    pub status: String,
    /// Show the idle screen (instructions and presets) even if a picture exists.
    pub idle: bool,
}
