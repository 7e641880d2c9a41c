//! The one screen layout, for every back-end and size (≥ 240×240 stays
//! legible): the picture scaled to fit, the prompt wrapped below it (beside
//! it on wide screens), a progress bar that advances per denoising step and
//! a status line. With no picture yet: an idle screen with instructions and
//! the presets.

use super::{Frame, Screen};
use crate::image::RgbImage;
use embedded_graphics::mono_font::iso_8859_1::{FONT_10X20, FONT_6X13, FONT_7X13};
use embedded_graphics::mono_font::{MonoFont, MonoTextStyle};
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};

const BACKGROUND: Rgb888 = Rgb888::new(16, 16, 24);
const TEXT: Rgb888 = Rgb888::new(235, 235, 235);
const DIM: Rgb888 = Rgb888::new(150, 150, 165);
const ACCENT: Rgb888 = Rgb888::new(80, 170, 255);
const BAR_BACK: Rgb888 = Rgb888::new(50, 50, 64);
const ERROR: Rgb888 = Rgb888::new(255, 110, 90);

/// Draw `screen` into a new `width`×`height` frame.
pub fn render(screen: &Screen, width: u32, height: u32) -> Frame {
    let mut frame = Frame::new(width, height);
    fill(&mut frame, Rectangle::new(Point::zero(), Size::new(width, height)), BACKGROUND);
    let font = font_for(width);
    let line_h = font.character_size.height + 2;
    let margin = (width / 60).max(3) as i32;
    let bar_h = (height / 40).max(4);
    // Bottom: progress bar, then the status line.
    let status_y = height as i32 - line_h as i32 - margin / 2;
    let bar_y = status_y - bar_h as i32 - 3;
    let status_colour = if screen.status.starts_with("error") { ERROR } else { DIM };
    let cols = ((width as i32 - 2 * margin) / font.character_size.width as i32).max(1) as usize;
    text(&mut frame, font, &ellipsize(&screen.status, cols), Point::new(margin, status_y), status_colour);
    if let Some((step, of)) = screen.progress {
        let bar = Rectangle::new(Point::new(margin, bar_y), Size::new(width - 2 * margin as u32, bar_h));
        progress_bar(&mut frame, bar, step, of);
    }
    let body = Rectangle::new(Point::new(margin, margin), Size::new(width - 2 * margin as u32, (bar_y - 2 * margin).max(1) as u32));
    let showing_idle = screen.idle || (screen.image.is_none() && screen.progress.is_none());
    if showing_idle {
        idle(&mut frame, screen, body, font);
    } else {
        picture(&mut frame, screen, body, font);
    }
    frame
}

fn font_for(width: u32) -> &'static MonoFont<'static> {
    match width {
        0..=260 => &FONT_6X13,
        261..=700 => &FONT_7X13,
        _ => &FONT_10X20,
    }
}

fn idle(frame: &mut Frame, screen: &Screen, area: Rectangle, font: &MonoFont) {
    let cols = (area.size.width / font.character_size.width).max(1) as usize;
    let line_h = (font.character_size.height + 2) as i32;
    let mut y = area.top_left.y;
    let bottom = area.top_left.y + area.size.height as i32;
    let x = area.top_left.x;
    let put = |frame: &mut Frame, s: &str, colour: Rgb888, y: &mut i32| {
        if *y + line_h <= bottom {
            text(frame, font, s, Point::new(x, *y), colour);
        }
        *y += line_h;
    };
    put(frame, &ellipsize(&format!("edgepaint - {}", screen.title), cols), ACCENT, &mut y);
    y += line_h / 2;
    for l in wrap("Send a prompt (one line) over serial, or press a button for a preset.", cols) {
        put(frame, &l, TEXT, &mut y);
    }
    if !screen.presets.is_empty() {
        y += line_h / 2;
        put(frame, "Presets:", DIM, &mut y);
        for (i, p) in screen.presets.iter().enumerate() {
            put(frame, &ellipsize(&format!("{} {}", i + 1, p), cols), TEXT, &mut y);
        }
    }
}

fn picture(frame: &mut Frame, screen: &Screen, area: Rectangle, font: &MonoFont) {
    let wide = area.size.width >= area.size.height * 5 / 4;
    let line_h = font.character_size.height + 2;
    let (img_area, text_area) = if wide {
        // Picture on the left, as tall as the body; prompt to its right.
        let side = area.size.height.min(area.size.width * 2 / 3);
        let img = Rectangle::new(area.top_left, Size::new(side, area.size.height));
        let gap = 8;
        let tx = area.top_left + Point::new((side + gap) as i32, 0);
        let text = Rectangle::new(tx, Size::new(area.size.width.saturating_sub(side + gap), area.size.height));
        (img, text)
    } else {
        // Prompt below: two lines.
        let text_h = 2 * line_h + 4;
        let img_h = area.size.height.saturating_sub(text_h).max(1);
        let img = Rectangle::new(area.top_left, Size::new(area.size.width, img_h));
        let text = Rectangle::new(area.top_left + Point::new(0, (img_h + 4) as i32), Size::new(area.size.width, text_h - 4));
        (img, text)
    };
    match &screen.image {
        Some(img) => blit_fit(frame, img, img_area),
        None => fill(frame, img_area, BAR_BACK),
    }
    if let Some(prompt) = &screen.prompt {
        let cols = (text_area.size.width / font.character_size.width).max(1) as usize;
        let rows = (text_area.size.height / line_h).max(1) as usize;
        let mut lines = wrap(prompt, cols);
        if lines.len() > rows {
            lines.truncate(rows);
            let last = lines.pop().unwrap_or_default();
            lines.push(ellipsize(&format!("{last} ..."), cols));
        }
        for (i, l) in lines.iter().enumerate() {
            text(frame, font, l, text_area.top_left + Point::new(0, (i as u32 * line_h) as i32), TEXT);
        }
    }
}

/// The image scaled (nearest neighbour) to fit `area`, centred.
fn blit_fit(frame: &mut Frame, img: &RgbImage, area: Rectangle) {
    if img.width == 0 || img.height == 0 {
        return;
    }
    let (aw, ah) = (area.size.width as u64, area.size.height as u64);
    let (iw, ih) = (img.width as u64, img.height as u64);
    // Fit: scale = min(aw/iw, ah/ih), in integers.
    let (w, h) = if aw * ih <= ah * iw { (aw, (aw * ih / iw).max(1)) } else { ((ah * iw / ih).max(1), ah) };
    let x0 = area.top_left.x as u64 + (aw - w) / 2;
    let y0 = area.top_left.y as u64 + (ah - h) / 2;
    for y in 0..h {
        let sy = (y * ih / h) as usize;
        for x in 0..w {
            let sx = (x * iw / w) as usize;
            let i = (sy * img.width + sx) * 3;
            let c = Rgb888::new(img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]);
            let (fx, fy) = ((x0 + x) as u32, (y0 + y) as u32);
            if fx < frame.width && fy < frame.height {
                frame.set(fx, fy, c);
            }
        }
    }
}

fn progress_bar(frame: &mut Frame, bar: Rectangle, step: usize, of: usize) {
    fill(frame, bar, BAR_BACK);
    if of > 0 {
        let w = (bar.size.width as u64 * step.min(of) as u64 / of as u64) as u32;
        fill(frame, Rectangle::new(bar.top_left, Size::new(w, bar.size.height)), ACCENT);
    }
}

fn fill(frame: &mut Frame, r: Rectangle, c: Rgb888) {
    let _ = r.into_styled(PrimitiveStyle::with_fill(c)).draw(frame);
}

fn text(frame: &mut Frame, font: &MonoFont, s: &str, at: Point, c: Rgb888) {
    let _ = Text::with_baseline(s, at, MonoTextStyle::new(font, c), Baseline::Top).draw(frame);
}

/// Greedy word wrap to `cols` characters; over-long words are split.
pub fn wrap(s: &str, cols: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > cols {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(word.drain(..cols).collect());
        }
        let word: String = word.into_iter().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > cols {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn ellipsize(s: &str, cols: usize) -> String {
    if s.chars().count() <= cols {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(cols.saturating_sub(3)).collect();
        out.push_str("...");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_words_and_splits_long_ones() {
        assert_eq!(wrap("a red house on a hill", 10), vec!["a red", "house on a", "hill"]);
        assert_eq!(wrap("abcdefghijkl xy", 5), vec!["abcde", "fghij", "kl xy"]);
    }

    #[test]
    fn progress_bar_advances_per_step() {
        let screen = |step| Screen {
            image: Some(std::sync::Arc::new(RgbImage { width: 2, height: 2, pixels: vec![255; 12] })),
            prompt: Some("x".into()),
            progress: Some((step, 4)),
            status: "generating".into(),
            ..Screen::default()
        };
        let lit = |f: &Frame| f.pixels.chunks(3).filter(|p| p == &[ACCENT.r(), ACCENT.g(), ACCENT.b()]).count();
        let counts: Vec<usize> = (0..=4).map(|s| lit(&render(&screen(s), 240, 240))).collect();
        assert!(counts.windows(2).all(|w| w[1] > w[0]), "{counts:?}");
    }
}
