//! Every shipped board file parses and says what the issue promises.

use edgepaint::board::Board;
use edgepaint::display::{PanelChip, DisplayConfig, Rotation};
use std::path::PathBuf;

fn boards() -> Vec<(String, Board)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("board");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let board = Board::load(&path).unwrap_or_else(|e| panic!("{e}"));
            out.push((path.file_name().unwrap().to_string_lossy().into_owned(), board));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_board_file_parses() {
    let all = boards();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "desktop.toml",
        "jetson-orin-nano-hdmi.toml",
        "pi-hdmi-fb0.toml",
        "pi-st7789-240x240.toml",
        "pizero2w-ili9341-320x240.toml",
    ] {
        assert!(names.contains(&expected), "missing board/{expected}: {names:?}");
    }
    for (name, b) in &all {
        assert_eq!(format!("{}.toml", b.name), *name, "name field of {name}");
        assert!(!b.presets.is_empty(), "{name} has no presets");
        assert!(!matches!(b.display, DisplayConfig::None), "{name} has no display");
    }
}

#[test]
fn board_files_describe_their_hardware() {
    let all = boards();
    let get = |n: &str| &all.iter().find(|(name, _)| name == n).unwrap().1;
    let pi = get("pi-st7789-240x240.toml");
    match &pi.display {
        DisplayConfig::Spi(s) => assert_eq!((s.controller, s.width, s.height), (PanelChip::St7789, 240, 240)),
        other => panic!("{other:?}"),
    }
    assert_eq!(pi.button.len(), 4);
    let zero = get("pizero2w-ili9341-320x240.toml");
    assert!(zero.model.low_memory);
    match &zero.display {
        DisplayConfig::Spi(s) => {
            assert_eq!((s.controller, s.width, s.height, s.rotation), (PanelChip::Ili9341, 320, 240, Rotation::Deg90))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(get("pi-hdmi-fb0.toml").display, DisplayConfig::Fb(_)));
    assert!(matches!(get("jetson-orin-nano-hdmi.toml").display, DisplayConfig::Fb(_)));
    let desktop = get("desktop.toml");
    assert!(desktop.stdin.enabled && matches!(desktop.display, DisplayConfig::Png(_)));
}

#[test]
fn errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"bad\"\n[display]\nkind = \"spi\"\ncontroller = \"st7735\"\n").unwrap();
    let e = Board::load(&path).unwrap_err().to_string();
    assert!(e.starts_with(&format!("board file {}: ", path.display())), "{e}");
    assert!(e.contains("st7735"), "{e}");
    std::fs::write(&path, "name = \"bad\"\n[serial]\ndevice = \"/dev/ttyS0\"\nbaud = \"fast\"\n").unwrap();
    let e = Board::load(&path).unwrap_err().to_string();
    assert!(e.contains("serial.baud") && e.contains("line 4"), "{e}");
    std::fs::write(&path, "name = \"bad\"\n[queue]\ncapacity = 2\nsize = 3\n").unwrap();
    let e = Board::load(&path).unwrap_err().to_string();
    assert!(e.contains("size"), "{e}");
    let e = Board::load(&dir.path().join("missing.toml")).unwrap_err().to_string();
    assert!(e.starts_with("cannot read board file"), "{e}");
}

/// Every shipped board keeps what its kiosk writes in the data home
/// (/var/lib/edgepaint as the service, ~/.local/share/edgepaint by hand),
/// so one file works both ways and nothing lands in the working directory.
#[test]
fn shipped_boards_write_under_the_data_home() {
    let home = edgepaint::data_home::data_home().unwrap();
    for (name, b) in boards() {
        assert!(b.output.dir.starts_with(&home), "{name}: pictures in {}", b.output.dir.display());
        assert!(b.data_dir().starts_with(&home), "{name}: feedback log in {}", b.data_dir().display());
        if let DisplayConfig::Png(p) = &b.display {
            assert!(p.dir.starts_with(&home), "{name}: frames in {}", p.dir.display());
        }
    }
}
