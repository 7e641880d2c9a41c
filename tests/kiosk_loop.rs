//! The kiosk loop as a library, with a scripted fake painter whose steps the
//! test releases one by one: replies, queue limits, cancel, failures,
//! atomic writes before `done`, shutdown.

mod common;
use common::Replies;
use edgepaint::board::Board;
use edgepaint::display::png::PngDisplay;
use edgepaint::display::Display;
use edgepaint::image::RgbImage;
use edgepaint::kiosk::{Kiosk, ModelInfo, Msg, Painter, Stopper};
use edgepaint::pipeline::{BestOf, Candidate, Generated, PipelineError, Progress, Request, Timings};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

/// Steps wait for the test's go-ahead when gated; prompt "fail" fails.
struct FakePainter {
    gate: Option<Receiver<()>>,
}

impl Painter for FakePainter {
    fn describe(&self) -> ModelInfo {
        ModelInfo { name: "fake".into(), model_sha256: "ab".repeat(32), steps: vec![1, 2, 4], default_steps: 2, scorer: true }
    }

    fn paint(
        &mut self,
        request: &Request,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<Generated, PipelineError> {
        let of = request.steps.unwrap();
        for step in 1..=of {
            if let Some(g) = &self.gate {
                g.recv().map_err(|_| PipelineError::Cancelled)?;
            }
            if progress(Progress::Step { step, of }).is_break() {
                return Err(PipelineError::Cancelled);
            }
            // Prompts starting "preview" report one solid picture per step.
            if request.prompt.starts_with("preview") {
                let image = RgbImage { width: 8, height: 8, pixels: [preview_colour(step); 64].concat() };
                if progress(Progress::Preview { step, of, image }).is_break() {
                    return Err(PipelineError::Cancelled);
                }
            }
        }
        if request.prompt == "fail" {
            return Err(PipelineError::BadRequest("the fake model failed".into()));
        }
        let v = (request.seed % 251) as u8;
        let image = RgbImage { width: 8, height: 8, pixels: vec![v; 8 * 8 * 3] };
        Ok(Generated { image, seed: request.seed, steps: of, prompt_truncated: false, timings: Timings::default() })
    }

    /// Candidates seed, seed + 1, …; the fake's score is (seed % 10) / 10.
    fn paint_best_of(
        &mut self,
        request: &Request,
        n: usize,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<BestOf, PipelineError> {
        let mut candidates = Vec::new();
        let mut kept: Option<(Generated, f32)> = None;
        for k in 0..n as u64 {
            let r = Request { seed: request.seed + k, ..request.clone() };
            let g = self.paint(&r, &mut |p| match p {
                Progress::Step { step, of } => progress(Progress::Step { step: k as usize * of + step, of: n * of }),
                other => progress(other),
            })?;
            let score = (g.seed % 10) as f32 / 10.0;
            candidates.push(Candidate { seed: g.seed, score });
            if kept.as_ref().is_none_or(|(_, s)| score > *s) {
                kept = Some((g, score));
            }
        }
        let (kept, kept_score) = kept.unwrap();
        Ok(BestOf { kept, kept_score, candidates, score_ms: 0.0, total_ms: 0.0 })
    }

    fn metadata(&self, prompt: &str, seed: u64, _steps: usize) -> Vec<(String, String)> {
        vec![("prompt".into(), prompt.into()), ("seed".into(), seed.to_string())]
    }
}

/// The fake painter's preview after `step`: a colour no layout uses.
fn preview_colour(step: usize) -> [u8; 3] {
    [250, 7, (40 * step) as u8]
}

struct Session {
    input: std::io::PipeWriter,
    replies: Replies,
    seen: usize,
    gate: Sender<()>,
    tx: Sender<Msg>,
    stop: Stopper,
    handle: std::thread::JoinHandle<()>,
    out: tempfile::TempDir,
}

impl Session {
    fn start(board_extra: &str, gated: bool) -> Session {
        Session::with_display(board_extra, gated, None)
    }

    fn with_display(board_extra: &str, gated: bool, display: Option<Box<dyn Display>>) -> Session {
        let out = tempfile::tempdir().unwrap();
        let text = format!(
            "name = \"test\"\n[output]\ndir = {:?}\n{board_extra}\n[[preset]]\nprompt = \"a boat\"\nseed = 5\n",
            out.path().join("pictures").display().to_string()
        );
        let board = Board::parse(&text, "test.toml").unwrap();
        let (gate, gate_rx) = channel();
        let painter = FakePainter { gate: gated.then_some(gate_rx) };
        let mut kiosk = Kiosk::new(&board, Box::new(painter), display).unwrap();
        let (reader, input) = std::io::pipe().unwrap();
        let replies = Replies::default();
        kiosk.add_source("test", reader, Box::new(replies.clone()));
        let tx = kiosk.sender();
        let stop = kiosk.stopper();
        let handle = std::thread::spawn(move || kiosk.run().unwrap());
        Session { input, replies, seen: 0, gate, tx, stop, handle, out }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).unwrap();
    }

    /// The next `n` replies, waiting up to 10 s for them.
    fn next(&mut self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = String::from_utf8(self.replies.0.lock().unwrap().clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() >= self.seen + n {
                let got = lines[self.seen..self.seen + n].iter().map(|l| serde_json::from_str(l).unwrap()).collect();
                self.seen += n;
                return got;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {n} replies after: {text}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn one(&mut self) -> Value {
        self.next(1).remove(0)
    }

    fn finish(self) -> Vec<String> {
        drop(self.input);
        self.handle.join().unwrap();
        let text = String::from_utf8(self.replies.0.lock().unwrap().clone()).unwrap();
        text.lines().skip(self.seen).map(String::from).collect()
    }
}

fn error(code: &str) -> impl Fn(&Value) {
    let code = code.to_string();
    move |v: &Value| {
        assert_eq!(v["event"], "error", "{v}");
        assert_eq!(v["code"], code.as_str(), "{v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[test]
fn prompts_commands_and_malformed_lines() {
    let mut s = Session::start("", false);
    let ready = s.one();
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["model"], "fake");
    assert_eq!(ready["steps"], json!([1, 2, 4]));
    assert_eq!(ready["presets"], json!(["a boat"]));

    s.send(b"/seed 7\n");
    let st = s.one();
    assert_eq!((st["event"].as_str(), st["seed"].as_u64(), st["steps"].as_u64()), (Some("status"), Some(7), Some(2)));

    s.send(b"a red house\r\n");
    let r = s.next(4);
    assert_eq!(r[0], json!({"event": "accepted", "id": 1, "prompt": "a red house", "seed": 7, "steps": 2, "position": 0}));
    assert_eq!(r[1], json!({"event": "progress", "id": 1, "step": 1, "of": 2}));
    assert_eq!(r[2], json!({"event": "progress", "id": 1, "step": 2, "of": 2}));
    let done = &r[3];
    assert_eq!((done["event"].as_str(), done["id"].as_u64(), done["seed"].as_u64()), (Some("done"), Some(1), Some(7)));
    let path = done["path"].as_str().unwrap();
    assert!(path.ends_with("000001-7.png"), "{path}");
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(done["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert!(done["ms"].as_u64().is_some());

    s.send(b"/dance\n");
    error("unknown_command")(&s.one());
    s.send(b"caf\xe9\n");
    error("invalid_utf8")(&s.one());
    s.send(&[b'a'; 600]);
    s.send(b"\n");
    error("line_too_long")(&s.one());
    s.send(b"/steps 3\n");
    error("bad_argument")(&s.one());
    s.send(b"/steps three\n");
    error("bad_number")(&s.one());
    s.send(b"/preset 9\n");
    error("no_such_preset")(&s.one());
    s.send(b"/cancel\n");
    error("nothing_to_cancel")(&s.one());
    s.send(b"\n   \n/rate up\n");
    assert_eq!(s.one(), json!({"event": "rated", "id": 1, "rating": "up"}));
    s.send(b"/help\n");
    assert!(s.one()["commands"].as_array().unwrap().len() >= 8);

    // Presets carry their own seed; the sticky seed is not used for them.
    s.send(b"/preset 1\n");
    let r = s.next(4);
    assert_eq!(r[0], json!({"event": "accepted", "id": 2, "prompt": "a boat", "seed": 5, "steps": 2, "position": 0}));
    assert_eq!(r[3]["event"], "done");

    s.send(b"/status\n");
    assert_eq!(
        s.one(),
        json!({"event": "status", "state": "idle", "queue": 0, "seed": 7, "steps": 2, "best_of": 1, "generated": 2, "blocked": 0})
    );
    // End of input: the kiosk finishes and says nothing more.
    assert!(s.finish().is_empty());
}

#[test]
fn best_of_keeps_the_best_candidate_and_counts_every_step() {
    let mut s = Session::start("[model]\nbest_of = 2\n", false);
    assert_eq!(s.one()["event"], "ready");
    s.send(b"/status\n");
    assert_eq!(s.one()["best_of"], 2);
    for bad in [&b"/best 0\n"[..], b"/best 17\n"] {
        s.send(bad);
        error("bad_number")(&s.one());
    }
    s.send(b"/best 3\n/seed 7\n");
    assert_eq!(s.next(2)[1]["best_of"], 3);
    // Seeds 7, 8, 9 score 0.7, 0.8, 0.9: the last is kept; 3 x 2 steps.
    s.send(b"a red house\n");
    let r = s.next(8);
    let steps: Vec<(u64, u64)> = r[1..7].iter().map(|p| (p["step"].as_u64().unwrap(), p["of"].as_u64().unwrap())).collect();
    assert_eq!(steps, (1..=6).map(|k| (k, 6)).collect::<Vec<_>>());
    let done = &r[7];
    assert_eq!((done["event"].as_str(), done["seed"].as_u64()), (Some("done"), Some(9)), "{done}");
    assert!((done["score"].as_f64().unwrap() - 0.9).abs() < 1e-6, "{done}");
    let text = edgepaint::image::read_png_text(&std::fs::read(done["path"].as_str().unwrap()).unwrap()).unwrap();
    let get = |k: &str| text.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!((get("best_of"), get("score"), get("seed")), (Some("3".into()), Some("0.9000".into()), Some("9".into())));
    // Back to the board's 2; one picture, no score, with /best 1.
    s.send(b"/best default\n");
    assert_eq!(s.one()["best_of"], 2);
    s.send(b"/best 1\na boat\n");
    let r = s.next(5);
    assert_eq!(r[4]["event"], "done");
    assert!(r[4].get("score").is_none(), "{}", r[4]);
}

#[test]
fn queue_limit_cancel_and_failures() {
    let mut s = Session::start("[queue]\ncapacity = 1\n", true);
    s.one();
    s.send(b"/steps 4\none\ntwo\nthree\n");
    assert_eq!(s.one()["event"], "status");
    let r = s.next(3);
    assert_eq!((r[0]["event"].as_str(), r[0]["position"].as_u64()), (Some("accepted"), Some(0)));
    assert_eq!((r[1]["event"].as_str(), r[1]["position"].as_u64()), (Some("accepted"), Some(1)));
    error("busy")(&r[2]);

    s.gate.send(()).unwrap();
    assert_eq!(s.one(), json!({"event": "progress", "id": 1, "step": 1, "of": 4}));
    s.send(b"/status\n");
    let st = s.one();
    assert_eq!((st["state"].as_str(), st["current"].as_u64(), st["step"].as_u64(), st["queue"].as_u64()), (Some("generating"), Some(1), Some(1), Some(1)));
    // Every /cancel line is answered: the second is `nothing_to_cancel` at once.
    s.send(b"/cancel\n/cancel\n/status\n");
    let second = s.one();
    error("nothing_to_cancel")(&second);
    assert_eq!(second["message"], "generation 1 is being cancelled already");
    assert_eq!(s.one()["event"], "status"); // so both have been handled
    // The running step finishes, then the generation stops: 2 of 4 steps ran.
    s.gate.send(()).unwrap();
    let r = s.next(2);
    assert_eq!(r[0], json!({"event": "progress", "id": 1, "step": 2, "of": 4}));
    assert_eq!(r[1]["code"], "cancelled");
    assert_eq!(r[1]["id"], 1);

    // The queued one runs next and finishes.
    for _ in 0..4 {
        s.gate.send(()).unwrap();
    }
    let r = s.next(5);
    assert_eq!(r[3], json!({"event": "progress", "id": 2, "step": 4, "of": 4}));
    assert_eq!((r[4]["event"].as_str(), r[4]["id"].as_u64()), (Some("done"), Some(2)));

    // A failing generation is an error, and the kiosk goes on.
    s.send(b"fail\n");
    assert_eq!(s.one()["event"], "accepted");
    for _ in 0..4 {
        s.gate.send(()).unwrap();
    }
    let r = s.next(5);
    error("generation_failed")(&r[4]);
    assert_eq!(r[4]["id"], 3);
    s.send(b"/rate down\n");
    assert_eq!(s.one(), json!({"event": "rated", "id": 2, "rating": "down"}));

    // Nothing was written for the cancelled and the failed requests.
    let mut files: Vec<String> = std::fs::read_dir(s.out.path().join("pictures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("000002-"));
    assert!(s.finish().is_empty());
}

#[test]
fn shutdown_stops_a_running_generation() {
    let mut s = Session::start("", true);
    s.one();
    s.send(b"long one\n");
    assert_eq!(s.one()["event"], "accepted");
    s.tx.send(Msg::Shutdown).unwrap();
    // Give the kiosk time to take the message, then let one step finish: the
    // generation must stop there (a second step would wait forever).
    std::thread::sleep(Duration::from_millis(300));
    s.gate.send(()).unwrap();
    // run() returns although stdin is still open.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.handle.is_finished() {
        assert!(Instant::now() < deadline, "kiosk did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
    let rest = s.finish();
    assert!(rest.iter().all(|l| !l.contains("\"done\"")), "{rest:?}");
}

#[test]
fn attract_mode_cycles_presets_when_idle() {
    let mut s = Session::start("[attract]\nidle_minutes = 0.001\ninterval_seconds = 0.1\n", false);
    s.one();
    // Nobody says anything: the kiosk starts its preset by itself, for everyone.
    let r = s.next(4);
    assert_eq!(r[0], json!({"event": "accepted", "id": 1, "prompt": "a boat", "seed": 5, "steps": 2, "position": 0}));
    assert_eq!(r[3]["event"], "done");
    // With attract mode, the end of input does not end the kiosk: only a shutdown does.
    drop(s.input);
    std::thread::sleep(Duration::from_millis(700));
    assert!(!s.handle.is_finished());
    s.tx.send(Msg::Shutdown).unwrap();
    s.handle.join().unwrap();
}

#[test]
fn png_display_gets_a_frame_per_step() {
    let frames = tempfile::tempdir().unwrap();
    let display = PngDisplay::new(frames.path().to_path_buf(), 240, 240, false).unwrap();
    // Gated: each step comes after the previous frame is drawn, as with a
    // real model (a display that falls behind skips steps: below).
    let mut s = Session::with_display("", true, Some(Box::new(display)));
    s.one();
    let count = || {
        let names = std::fs::read_dir(frames.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap());
        names.filter(|n| n.starts_with("frame-")).count()
    };
    assert_eq!(count(), 1, "the idle screen");
    s.send(b"/steps 4\na lighthouse\n");
    let mut r = s.next(2);
    for _ in 0..4 {
        s.gate.send(()).unwrap();
        r.extend(s.next(1));
    }
    r.extend(s.next(1));
    assert_eq!(r[6]["event"], "done");
    // Start of the generation, one per step, the result.
    assert_eq!(count(), 1 + 1 + 4 + 1);
    let frame = |n: usize| std::fs::read(frames.path().join(format!("frame-{n:06}.png"))).unwrap();
    assert_ne!(frame(3), frame(4), "the progress bar advanced");
    s.finish();
}

/// Keeps every frame shown.
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<edgepaint::display::Frame>>>);

impl Display for Recorder {
    fn size(&self) -> (u32, u32) {
        (160, 120)
    }

    fn show(&mut self, frame: &edgepaint::display::Frame) -> Result<(), edgepaint::display::DisplayError> {
        self.0.lock().unwrap().push(frame.clone());
        Ok(())
    }
}

fn shows(frame: &edgepaint::display::Frame, colour: [u8; 3]) -> bool {
    frame.pixels.chunks(3).any(|p| p == colour)
}

#[test]
fn previews_show_the_picture_developing_and_a_cancel_brings_back_the_last_picture() {
    let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut s = Session::with_display("", true, Some(Box::new(Recorder(frames.clone()))));
    s.one();
    s.send(b"/steps 2\npreview a lighthouse\n");
    let mut r = s.next(2);
    for step in 1..=2 {
        let before = frames.lock().unwrap().len();
        s.gate.send(()).unwrap();
        r.extend(s.next(1));
        assert_eq!(r.last().unwrap()["event"], "progress", "{r:?}");
        // The preview is drawn after its step's progress reply: wait for it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !frames.lock().unwrap()[before..].iter().any(|f| shows(f, preview_colour(step))) {
            assert!(Instant::now() < deadline, "step {step}'s preview never reached the screen");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    r.extend(s.next(1));
    assert_eq!(r.last().unwrap()["event"], "done");
    // No picture over the serial line: the progress replies are as before.
    assert_eq!(r[2], json!({"event": "progress", "id": 1, "step": 1, "of": 2}));
    let finished = frames.lock().unwrap().last().unwrap().clone();
    assert!(!shows(&finished, preview_colour(2)), "the finished picture replaces the preview");

    // A cancelled generation leaves the last finished picture on screen, not its preview.
    s.send(b"/steps 4\npreview again\n");
    s.next(2);
    s.gate.send(()).unwrap();
    s.next(1);
    s.send(b"/cancel\n/status\n");
    assert_eq!(s.one()["event"], "status"); // so the cancel has been handled
    s.gate.send(()).unwrap();
    let r = s.next(2);
    assert_eq!(r[1]["code"], "cancelled", "{r:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while frames.lock().unwrap().last().is_some_and(|f| shows(f, preview_colour(1))) {
        assert!(Instant::now() < deadline, "the preview stayed after the cancel");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(frames.lock().unwrap().last().unwrap().pixels.len(), finished.pixels.len());
    s.finish();
}

/// The same on a framebuffer (a file standing in for /dev/fb0, 32 bpp
/// XRGB): each step's preview reaches the screen memory, and the finished
/// picture replaces it.
#[test]
fn a_framebuffer_shows_the_picture_developing() {
    use edgepaint::display::fb::FbDisplay;
    use edgepaint::display::{FbConfig, Rotation};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (160u32, 120u32);
    let path = dir.path().join("fb0");
    std::fs::write(&path, vec![0u8; (w * h * 4) as usize]).unwrap();
    let config = FbConfig {
        device: path.clone(),
        width: Some(w),
        height: Some(h),
        bpp: Some(32),
        line_length: Some(w * 4),
        rotation: Rotation::Deg0,
    };
    let fb = FbDisplay::open(&config).unwrap();
    // Pixels of the screen memory in R, G, B order (XRGB8888 is B, G, R, X in memory).
    let holds = |colour: [u8; 3]| std::fs::read(&path).unwrap().chunks(4).any(|p| [p[2], p[1], p[0]] == colour);
    let mut s = Session::with_display("", true, Some(Box::new(fb)));
    s.one();
    // Four steps: each of the first three previews stays on the screen until
    // the test lets the next step go, so it can be seen there.
    s.send(b"/steps 4\npreview a lighthouse\n");
    s.next(2);
    for step in 1..=3 {
        s.gate.send(()).unwrap();
        assert_eq!(s.next(1)[0]["event"], "progress");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !holds(preview_colour(step)) {
            assert!(Instant::now() < deadline, "step {step}'s preview never reached the framebuffer");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    s.gate.send(()).unwrap();
    assert_eq!(s.next(1)[0]["event"], "progress");
    assert_eq!(s.next(1)[0]["event"], "done");
    let deadline = Instant::now() + Duration::from_secs(10);
    while (1..=4).any(|step| holds(preview_colour(step))) {
        assert!(Instant::now() < deadline, "the finished picture never replaced the preview");
        std::thread::sleep(Duration::from_millis(5));
    }
    s.finish();
}

/// A screen that works for `ok` frames, then fails (unplugged).
struct FlakyDisplay {
    ok: usize,
}

impl Display for FlakyDisplay {
    fn size(&self) -> (u32, u32) {
        (240, 240)
    }
    fn show(&mut self, _frame: &edgepaint::display::Frame) -> Result<(), edgepaint::display::DisplayError> {
        if self.ok == 0 {
            return Err(edgepaint::display::DisplayError::device("/dev/fake", "gone"));
        }
        self.ok -= 1;
        Ok(())
    }
}

#[test]
fn a_display_that_fails_is_reported_once_and_the_kiosk_goes_on() {
    let mut s = Session::with_display("", true, Some(Box::new(FlakyDisplay { ok: 2 })));
    s.one();
    s.send(b"/seed 3\nfirst\n");
    assert_eq!(s.one()["event"], "status");
    let mut r = s.next(1);
    for _ in 0..2 {
        s.gate.send(()).unwrap();
        r.extend(s.next(if r.len() == 1 { 2 } else { 1 }));
    }
    r.extend(s.next(1));
    let events: Vec<&str> = r.iter().map(|v| v["event"].as_str().unwrap()).collect();
    // Idle screen and the generation's first frame are shown, step 1's is not.
    assert_eq!(events, ["accepted", "error", "progress", "progress", "done"]);
    assert_eq!(r[1], json!({"event": "error", "code": "display", "message": "display /dev/fake: gone"}));
    s.send(b"second\n");
    s.gate.send(()).unwrap();
    s.gate.send(()).unwrap();
    let r = s.next(4);
    assert_eq!(r[3]["event"], "done", "{r:?}");
    assert!(s.finish().is_empty());
}

#[test]
fn button_presses_during_a_generation_queue_or_are_ignored() {
    use edgepaint::input::ButtonAction;
    for (mode, queued) in [("queue", true), ("ignore", false)] {
        let mut s = Session::start(&format!("[buttons]\nduring_generation = \"{mode}\"\n"), true);
        s.one();
        s.send(b"first\n");
        assert_eq!(s.one()["event"], "accepted");
        s.tx.send(Msg::Button { action: ButtonAction::Preset, preset: Some(1) }).unwrap();
        s.send(b"/status\n");
        let r = s.one();
        if queued {
            // Button requests are announced to every output.
            assert_eq!(r, json!({"event": "accepted", "id": 2, "prompt": "a boat", "seed": 5, "steps": 2, "position": 1}));
            assert_eq!(s.one()["queue"], 1);
        } else {
            assert_eq!((r["event"].as_str(), r["queue"].as_u64()), (Some("status"), Some(0)), "{mode}");
        }
        // Cancelling by button works while generating in both modes.
        s.tx.send(Msg::Button { action: ButtonAction::Cancel, preset: None }).unwrap();
        s.send(b"/status\n");
        assert_eq!(s.one()["event"], "status"); // so the press has been handled
        s.gate.send(()).unwrap();
        let r = s.next(2);
        assert_eq!(r[1]["code"], "cancelled", "{mode}: {r:?}");
        for _ in 0..2 {
            let _ = s.gate.send(());
        }
        s.finish();
    }
}

/// A display that takes 300 ms per frame (an SPI panel at a low clock, a
/// png display on a slow card), counting what it drew.
struct SlowDisplay(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Display for SlowDisplay {
    fn size(&self) -> (u32, u32) {
        (64, 48)
    }
    fn show(&mut self, _frame: &edgepaint::display::Frame) -> Result<(), edgepaint::display::DisplayError> {
        std::thread::sleep(Duration::from_millis(300));
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn stop_acts_at_once_behind_a_slow_display() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let drawn = std::sync::Arc::new(AtomicUsize::new(0));
    let mut s = Session::with_display("", false, Some(Box::new(SlowDisplay(drawn.clone()))));
    s.one();
    // Four 4-step pictures: the fake painter is done in no time, the display
    // would need 20+ frames x 300 ms to show every step.
    s.send(b"/steps 4\none\ntwo\nthree\nfour\n");
    let r = s.next(5);
    assert!(r[1..].iter().all(|v| v["event"] == "accepted"), "{r:?}");
    std::thread::sleep(Duration::from_millis(700));
    let asked = Instant::now();
    s.stop.stop();
    while !s.handle.is_finished() {
        assert!(asked.elapsed() < Duration::from_secs(10), "the kiosk did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
    // At most the frame being drawn finishes (300 ms), plus slack for a busy
    // host; without the stop flag the queued reports alone took 3+ s.
    assert!(asked.elapsed() < Duration::from_millis(1500), "stopping took {:?}", asked.elapsed());
    assert!(drawn.load(Ordering::SeqCst) >= 1);
}

#[test]
fn a_display_behind_the_worker_skips_steps_but_not_replies() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let drawn = std::sync::Arc::new(AtomicUsize::new(0));
    let mut s = Session::with_display("", false, Some(Box::new(SlowDisplay(drawn.clone()))));
    s.one();
    s.send(b"/steps 4\na lighthouse\n");
    let r = s.next(7);
    let events: Vec<&str> = r.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["status", "accepted", "progress", "progress", "progress", "progress", "done"]);
    // Every step was reported; the display, 300 ms a frame behind an instant
    // painter, drew the idle screen, the start, the newest step and the result,
    // not each step (7 frames).
    let frames = drawn.load(Ordering::SeqCst);
    assert!(frames < 7, "{frames} frames");
    s.finish();
}

/// A kiosk whose board has `[output] dir = DIR/pictures` plus `output_extra`
/// and the fake painter, fed `input` until it ends; its replies.
fn run_to_end(dir: &std::path::Path, output_extra: &str, input: &'static [u8]) -> String {
    let pictures = dir.join("pictures").display().to_string();
    let text = format!("name = \"test\"\n[output]\ndir = {pictures:?}\n{output_extra}\n");
    let board = Board::parse(&text, "test.toml").unwrap();
    let mut kiosk = Kiosk::new(&board, Box::new(FakePainter { gate: None }), None).unwrap();
    let replies = Replies::default();
    kiosk.add_source("test", input, Box::new(replies.clone()));
    kiosk.run().unwrap();
    let text = String::from_utf8(replies.0.lock().unwrap().clone()).unwrap();
    text
}

#[test]
fn output_keep_caps_the_picture_folder() {
    let out = tempfile::tempdir().unwrap();
    let text = run_to_end(out.path(), "keep = 2", b"one\ntwo\nthree\n");
    assert_eq!(text.matches("\"done\"").count(), 3, "{text}");
    let mut left: Vec<String> = std::fs::read_dir(out.path().join("pictures"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left[0].starts_with("000002-") && left[1].starts_with("000003-"), "{left:?}");
}

#[test]
fn status_reports_free_space_below_the_limit() {
    // A limit no disk meets: /status carries free_mb (absent otherwise: the
    // exact status replies above).
    let out = tempfile::tempdir().unwrap();
    let text = run_to_end(out.path(), "min_free_mb = 1000000000000", b"/status\n");
    let status: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(status["event"], "status", "{text}");
    assert!(status["free_mb"].as_u64().is_some(), "{text}");
}
