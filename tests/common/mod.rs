//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Largest absolute difference, after checking the lengths agree.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Read a little-endian f32 .npy written by numpy (header + raw data).
pub fn read_npy_f32(path: &std::path::Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().iter().map(|&d| d as usize).collect();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// `edgepaint kiosk` on the desktop board with the bundle `model` and
/// `--display DISPLAY`, writing its pictures (and its data) under `dir`,
/// run in `dir` with its data home in `dir/data` and without `$EDGEPAINT_MODEL`.
pub fn kiosk_command(dir: &std::path::Path, model: &std::path::Path, display: &str) -> std::process::Command {
    let mut c = edgepaint_command();
    c.arg("kiosk")
        .arg("--board")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("board/desktop.toml"))
        .arg("--model")
        .arg(model)
        .arg("--output")
        .arg(dir.join("pictures"))
        .args(["--display", display])
        .current_dir(dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env_remove("STATE_DIRECTORY")
        .env_remove("EDGEPAINT_MODEL");
    c
}

/// A `Command` for the edgepaint binary built with these tests. When the
/// tests themselves run under qemu-user (cross-compiled, see scripts/cross.sh)
/// the kernel cannot exec the ARM binary (no binfmt_misc here), so it is
/// started through the same emulator, found from `EDGEPAINT_TEST_RUNNER`
/// ("qemu-aarch64 -L /usr/aarch64-linux-gnu") or from the target architecture.
pub fn edgepaint_command() -> std::process::Command {
    use std::process::Command;
    use std::sync::OnceLock;
    static RUNNER: OnceLock<Vec<String>> = OnceLock::new();
    let bin = env!("CARGO_BIN_EXE_edgepaint");
    let runner = RUNNER.get_or_init(|| {
        if let Ok(r) = std::env::var("EDGEPAINT_TEST_RUNNER") {
            return r.split_whitespace().map(String::from).collect();
        }
        // Under qemu-user a failed exec shows as exit status 127 or as
        // ENOEXEC, depending on how the libc spawns: test that it runs.
        match Command::new(bin).arg("--version").output() {
            Ok(o) if o.status.success() => Vec::new(),
            _ => default_qemu_runner(),
        }
    });
    match runner.split_first() {
        None => Command::new(bin),
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin);
            c
        }
    }
}

fn default_qemu_runner() -> Vec<String> {
    let (qemu, sysroot) = if cfg!(target_arch = "aarch64") {
        ("qemu-aarch64", "/usr/aarch64-linux-gnu")
    } else if cfg!(target_arch = "arm") {
        ("qemu-arm", "/usr/arm-linux-gnueabihf")
    } else {
        panic!("cannot exec {} and no emulator is known for this architecture", env!("CARGO_BIN_EXE_edgepaint"))
    };
    // A static (musl) binary needs no sysroot; -L is harmless for it.
    vec![qemu.to_string(), "-L".to_string(), sysroot.to_string()]
}

/// A kiosk output that keeps what was written (shared between clones).
#[derive(Clone, Default)]
pub struct Replies(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Replies {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The pixels `manifest` paints for "a red fox in the snow", seed 5, its
/// default steps: the picture the SD-fixture manifests are compared by.
pub fn fox_picture(manifest: &std::path::Path) -> Vec<u8> {
    use edgepaint::pipeline::{Options, Pipeline, Request};
    let mut pipeline = Pipeline::load(manifest, Options::default()).unwrap();
    let request = Request { prompt: "a red fox in the snow".into(), seed: 5, steps: None, initial_latents: None };
    pipeline.generate(&request, &mut |_| std::ops::ControlFlow::Continue(())).unwrap().image.pixels
}
