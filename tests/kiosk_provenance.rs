//! The kiosk's provenance duties: every picture watermarked, ratings in a
//! durable feedback log (also across a kill), blocked prompts refused and
//! counted.

mod common;
use common::Replies;
use common::fixture;
use edgepaint::board::Board;
use edgepaint::image::{read_png, RgbImage};
use edgepaint::kiosk::{Kiosk, ModelInfo, Painter};
use edgepaint::pipeline::{Generated, PipelineError, Progress, Request, Timings};
use edgepaint::feedback::{read_log, FeedbackLog, Rating, FILE_NAME};
use edgepaint::watermark::{detect, Key, Payload};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::process::Stdio;
use std::time::{Duration, Instant};

const MODEL_SHA: &str = "3fa2000000000000000000000000000000000000000000000000000000000000";

struct Fake;

impl Painter for Fake {
    fn describe(&self) -> ModelInfo {
        ModelInfo { name: "fake".into(), model_sha256: MODEL_SHA.into(), steps: vec![1], default_steps: 1, scorer: false }
    }
    fn paint(&mut self, request: &Request, progress: &mut dyn FnMut(Progress) -> ControlFlow<()>) -> Result<Generated, PipelineError> {
        let _ = progress(Progress::Step { step: 1, of: 1 });
        // A textured picture, different per seed.
        let s = request.seed as usize;
        let pixels = (0..128 * 128 * 3).map(|i| ((i / 3 % 128) * (1 + s % 3) + (i / 384) * 2 + i % 3 * 40) as u8).collect();
        let image = RgbImage { width: 128, height: 128, pixels };
        Ok(Generated { image, seed: request.seed, steps: 1, prompt_truncated: false, timings: Timings::default() })
    }
    fn metadata(&self, prompt: &str, _seed: u64, _steps: usize) -> Vec<(String, String)> {
        vec![("prompt".into(), prompt.into())]
    }
}

/// Run a kiosk on `script` and return its replies. Each part of the script
/// is sent once every earlier prompt's picture is done.
fn session(board: &str, dir: &std::path::Path, script: &[&[u8]]) -> Vec<Value> {
    let text = format!("name = \"hall-3\"\n[output]\ndir = {:?}\n{board}", dir.join("pictures").display().to_string());
    let board = Board::parse(&text, "test.toml").unwrap();
    let mut kiosk = Kiosk::new(&board, Box::new(Fake), None).unwrap();
    let (reader, mut input) = std::io::pipe().unwrap();
    let replies = Replies::default();
    kiosk.add_source("test", reader, Box::new(replies.clone()));
    let handle = std::thread::spawn(move || kiosk.run().unwrap());
    let done_count = || String::from_utf8_lossy(&replies.0.lock().unwrap()).matches("\"done\"").count();
    let mut prompts = 0;
    for part in script {
        let deadline = Instant::now() + Duration::from_secs(20);
        while done_count() < prompts {
            assert!(Instant::now() < deadline, "no picture");
            std::thread::sleep(Duration::from_millis(5));
        }
        input.write_all(part).unwrap();
        prompts += part.split(|&b| b == b'\n').filter(|l| !l.is_empty() && !l.starts_with(b"/") || l.starts_with(b"/gen")).count();
    }
    drop(input);
    handle.join().unwrap();
    let text = String::from_utf8(replies.0.lock().unwrap().clone()).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn pictures_are_marked_and_ratings_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let board = "[provenance]\ndevice_id = 4711\nkey = \"museum\"\n";
    let r = session(board, dir.path(), &[b"/seed 5\na red house\n".as_slice(), b"/rate up\n/rate down\n".as_slice()]);
    let done = r.iter().find(|v| v["event"] == "done").expect("a picture");
    assert!(r.contains(&json!({"event": "rated", "id": 1, "rating": "up"})));
    let bytes = std::fs::read(done["path"].as_str().unwrap()).unwrap();
    let found = detect(&read_png(&bytes).unwrap(), &Key::new("museum")).expect("the saved picture is marked");
    assert_eq!(found.payload, Payload::new(MODEL_SHA, 4711));

    let log = read_log(&dir.path().join(FILE_NAME)).unwrap();
    assert_eq!(log.len(), 2);
    let e = &log[0];
    assert_eq!((e.kiosk.as_str(), e.prompt.as_str(), e.seed, e.steps), ("hall-3", "a red house", 5, 1));
    assert_eq!((e.model_sha256.as_str(), e.image_sha256.as_str()), (MODEL_SHA, done["sha256"].as_str().unwrap()));
    assert_eq!((log[0].rating, log[1].rating), (Rating::Up, Rating::Down));
    // Exactly these fields: nothing about the visitor.
    let line: Value = serde_json::from_str(std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap().lines().next().unwrap()).unwrap();
    let mut keys: Vec<&String> = line.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["image_sha256", "kiosk", "model_sha256", "prompt", "rating", "seed", "steps", "time"]);
}

#[test]
fn blocked_prompts_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let board = "[filter]\nblock = [\"kill*\"]\nallow = [\"killer whale\"]\n";
    let script = "K I L L the dragon\n/gen a k1lling spree\na killer whale\nlots of gore\n/status\n";
    let r = session(board, dir.path(), &[script.as_bytes()]);
    let blocked: Vec<&Value> = r.iter().filter(|v| v["code"] == "blocked").collect();
    assert_eq!(blocked.len(), 2, "{r:?}");
    assert!(blocked[0]["message"].as_str().unwrap().contains("not allowed"));
    assert!(r.iter().any(|v| v["event"] == "accepted" && v["prompt"] == "a killer whale"));
    // Without the list file "gore" is allowed; the status counts the two.
    assert!(r.iter().any(|v| v["event"] == "accepted" && v["prompt"] == "lots of gore"));
    let status = r.iter().find(|v| v["event"] == "status").unwrap();
    assert_eq!(status["blocked"], 2);
}

#[test]
fn filter_list_files_are_read_next_to_the_board_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("words.txt"), "# one per line\ngore\n").unwrap();
    let path = dir.path().join("b.toml");
    std::fs::write(&path, "name = \"x\"\n[filter]\nblock_files = [\"words.txt\"]\n").unwrap();
    let board = Board::load(&path).unwrap();
    let filter = board.prompt_filter().unwrap();
    assert_eq!(filter.check("lots of G0RE"), Some("gore"));
    assert_eq!(filter.check("a gorgeous view"), None);
}

/// Every `rated` the kiosk sent is in the log after a SIGKILL in the middle
/// of a stream of ratings, and the log still parses and takes new entries.
#[test]
fn feedback_log_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::kiosk_command(dir.path(), &fixture("bundles/tiny-flow"), "none")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(b"/steps 1\na house\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    while !line.contains("\"done\"") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0 && Instant::now() < deadline, "no picture");
    }
    // A writer thread keeps the kiosk busy rating; kill it after 25 replies.
    let writer = std::thread::spawn(move || {
        for i in 0..5000 {
            let vote: &[u8] = if i % 2 == 0 { b"/rate up\n" } else { b"/rate down\n" };
            if stdin.write_all(vote).is_err() {
                break;
            }
        }
    });
    let mut rated = 0;
    while rated < 25 {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "kiosk ended early");
        rated += line.contains("\"rated\"") as usize;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(out);
    writer.join().unwrap();

    let path = dir.path().join(FILE_NAME);
    let entries = read_log(&path).expect("the log parses after a kill");
    assert!(entries.len() >= rated, "{} entries for {rated} acknowledged ratings", entries.len());
    let mut log = FeedbackLog::open(dir.path()).unwrap();
    let mut next = entries[0].clone();
    next.rating = Rating::Up;
    log.append(&next).unwrap();
    assert_eq!(read_log(&path).unwrap().len(), entries.len() + 1);
}

#[test]
fn shipped_boards_have_working_filters() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("board");
    let mut public = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let board = Board::load(&path).unwrap();
        let filter = board.prompt_filter().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for p in &board.presets {
            assert_eq!(filter.check(&p.prompt), None, "{}: preset {:?} is blocked", path.display(), p.prompt);
        }
        if !filter.is_empty() {
            public += 1;
            assert!(filter.check("a n4k3d person").is_some() && filter.check("a skillful painter").is_none());
        }
    }
    assert!(public >= 4, "the Pi and Jetson boards ship the filter list");
}
