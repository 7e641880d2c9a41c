//! Buttons without hardware: debounce and bindings on a fake edge source
//! (gpio-sim is not available on these machines).

use edgepaint::board::Board;
use edgepaint::input::ButtonAction;
use edgepaint::input::buttons::{binding, run, Debouncer, Edge, EdgeSource, Press, Reopening};
use std::collections::VecDeque;
use std::time::Duration;

struct FakeEdges(VecDeque<Edge>);

impl EdgeSource for FakeEdges {
    fn next_edge(&mut self) -> std::io::Result<Option<Edge>> {
        Ok(self.0.pop_front())
    }
}

fn edge(button: usize, pressed: bool, ms: u64) -> Edge {
    Edge { button, pressed, at: Duration::from_millis(ms) }
}

const BOARD: &str = r#"
name = "buttons"
[buttons]
debounce_ms = 30
[[button]]
line = 17
action = "preset"
preset = 2
[[button]]
line = "PQ.05"
action = "next_preset"
[[button]]
line = 22
action = "rate_up"
[[button]]
line = 23
action = "cancel"
[[preset]]
prompt = "a"
[[preset]]
prompt = "b"
"#;

#[test]
fn bounces_are_one_press() {
    let mut d = Debouncer::new(2, Duration::from_millis(30));
    let presses: Vec<Option<usize>> = [
        edge(0, true, 1000),  // press
        edge(0, false, 1003), // bounce
        edge(0, true, 1005),  // bounce
        edge(0, false, 1100), // release
        edge(0, true, 1110),  // bounce after release
        edge(1, true, 1111),  // another button is independent
        edge(0, true, 1200),  // a second real press: already down? no, released at 1100
        edge(0, false, 1300),
        edge(0, true, 1400),
    ]
    .into_iter()
    .map(|e| d.edge(e))
    .collect();
    assert_eq!(presses, [Some(0), None, None, None, None, Some(1), Some(0), None, Some(0)]);
    // An edge for a button that does not exist is ignored.
    assert_eq!(d.edge(edge(7, true, 2000)), None);
}

#[test]
fn presses_become_bound_messages() {
    let board = Board::parse(BOARD, "buttons.toml").unwrap();
    let edges = vec![
        edge(0, true, 0),
        edge(0, false, 5), // bounce
        edge(0, false, 50),
        edge(1, true, 60),
        edge(2, true, 70),
        edge(3, true, 80),
        edge(3, false, 90), // bounce of the release, and no press
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    run(Box::new(FakeEdges(edges.into())), &board.button, Duration::from_millis(board.buttons.debounce_ms), |p| {
        tx.send(p).is_ok()
    });
    let got: Vec<(ButtonAction, Option<usize>)> = rx.try_iter().map(|p: Press| (p.action, p.preset)).collect();
    assert_eq!(
        got,
        [
            (ButtonAction::Preset, Some(2)),
            (ButtonAction::NextPreset, None),
            (ButtonAction::RateUp, None),
            (ButtonAction::Cancel, None)
        ]
    );
    assert_eq!(binding(&board.button[0]), Press { action: ButtonAction::Preset, preset: Some(2) });
}

#[test]
fn a_button_bound_to_a_missing_preset_is_refused() {
    let text = BOARD.replace("preset = 2", "preset = 3");
    let e = Board::parse(&text, "buttons.toml").unwrap_err().to_string();
    assert_eq!(e, "board file buttons.toml: button[0].preset: must be 1..=2 (the [[preset]] entries, counted from 1)");
}

/// Edges, then a read error (the device went away).
struct FailingEdges(VecDeque<Edge>);

impl EdgeSource for FailingEdges {
    fn next_edge(&mut self) -> std::io::Result<Option<Edge>> {
        self.0.pop_front().map(Some).ok_or_else(|| std::io::Error::other("gpiochip0 went away"))
    }
}

#[test]
fn buttons_come_back_after_their_device_goes_away() {
    let board = Board::parse(BOARD, "buttons.toml").unwrap();
    let first = FailingEdges(vec![edge(2, true, 1000)].into());
    // The device is missing on the first reopen, back on the second.
    let mut attempts = 0;
    let reopen = move || {
        attempts += 1;
        match attempts {
            1 => Err(std::io::Error::other("no such device")),
            _ => Ok(Box::new(FakeEdges(vec![edge(3, true, 5000)].into())) as Box<dyn EdgeSource>),
        }
    };
    let source = Reopening::new(Box::new(first), reopen, Duration::from_millis(5));
    let (tx, rx) = std::sync::mpsc::channel();
    run(Box::new(source), &board.button, Duration::from_millis(30), |p| tx.send(p).is_ok());
    let got: Vec<ButtonAction> = rx.try_iter().map(|p: Press| p.action).collect();
    assert_eq!(got, [ButtonAction::RateUp, ButtonAction::Cancel]);
}

/// On a board with a button: EDGEPAINT_TEST_GPIO_CHIP=/dev/gpiochip0
/// EDGEPAINT_TEST_GPIO_LINE=5 (or a line name) cargo test -- --ignored real_button
/// and press the button within 30 s.
#[test]
#[ignore = "needs a GPIO chip and a button"]
fn real_button() {
    use edgepaint::input::{ButtonConfig, ButtonsConfig};
    use edgepaint::gpio::LineRef;
    use edgepaint::input::gpio::GpioButtons;
    let chip = std::env::var("EDGEPAINT_TEST_GPIO_CHIP").unwrap_or_else(|_| "/dev/gpiochip0".into());
    let line = std::env::var("EDGEPAINT_TEST_GPIO_LINE").expect("set EDGEPAINT_TEST_GPIO_LINE");
    let line = line.parse().map(LineRef::Number).unwrap_or(LineRef::Name(line));
    let config = ButtonsConfig { chip: chip.into(), ..ButtonsConfig::default() };
    let buttons = vec![ButtonConfig { line, action: ButtonAction::RateUp, preset: None }];
    let source = GpioButtons::open(&config, &buttons).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || run(Box::new(source), &buttons, Duration::from_millis(30), |p| tx.send(p).is_ok()));
    eprintln!("press the button");
    let press: Press = rx.recv_timeout(Duration::from_secs(30)).expect("no press within 30 s");
    assert_eq!(press.action, ButtonAction::RateUp);
}
