//! Board files (`board/*.toml`): parsing and the checks after it.

fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = edgepaint::board::Board::parse(text, "fuzz.toml");
        }
    });
}
