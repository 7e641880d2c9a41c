//! `edgepaint bench` on the fixture bundles: the report's structure, FLOP
//! bookkeeping and the saved inputs (timings themselves are not asserted).

mod common;
use common::{edgepaint_command, fixture, read_npy_f32};
use serde_json::Value;
use std::path::Path;

fn bench(bundle: &str, inputs: &Path, extra: &[&str]) -> Value {
    let o = edgepaint_command()
        .args(["bench", "--runs", "2", "--warmup", "0", "--json", "--model"])
        .arg(fixture(bundle))
        .arg("--save-inputs")
        .arg(inputs)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

fn stage<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no stage {name}"))
}

fn flops(report: &Value, name: &str) -> u64 {
    stage(report, name)["flops"].as_u64().unwrap()
}

#[test]
fn report_counts_flops_per_stage_and_the_whole_image() {
    let dir = tempfile::tempdir().unwrap();
    // tiny-euler has guidance 3: every denoiser step and the prompt encoding run twice.
    let r = bench("bundles/tiny-euler", dir.path(), &["--threads", "1"]);
    assert_eq!(r["steps"], 2);
    assert_eq!(r["threads"], 1);
    assert_eq!(stage(&r, "denoiser step")["calls"], 2);
    for name in ["text encoder", "denoiser step", "decoder"] {
        assert!(flops(&r, name) > 0, "{name}: no FLOPs counted");
        let t = &stage(&r, name)["times_ms"];
        assert_eq!(t["runs"], 2);
        assert!(t["min"].as_f64().unwrap() <= t["median"].as_f64().unwrap());
    }
    let whole = 2 * flops(&r, "text encoder") + 2 * flops(&r, "denoiser step") + flops(&r, "decoder");
    assert_eq!(flops(&r, "whole image"), whole);
    let share = r["denoise_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "denoise share {share}");
    assert!(r["peak_rss_bytes"].as_u64().unwrap() > 1_000_000);

    // Without guidance a step is one call: the same graph shape costs the same per call.
    let flow = bench("bundles/tiny-flow", &dir.path().join("flow"), &["--threads", "2"]);
    assert_eq!(stage(&flow, "denoiser step")["calls"], 1);
    assert_eq!(flow["threads"], 2);
}

#[test]
fn saved_inputs_have_the_graph_shapes() {
    let dir = tempfile::tempdir().unwrap();
    bench("bundles/tiny-flow", dir.path(), &[]);
    let (shape, _) = read_npy_f32(&dir.path().join("sample.npy"));
    assert_eq!(shape, vec![1, 4, 8, 8]);
    let (shape, states) = read_npy_f32(&dir.path().join("encoder_hidden_states.npy"));
    assert_eq!(shape[..2], [1, 16]);
    assert!(states.iter().all(|v| v.is_finite()));
    let (shape, t) = read_npy_f32(&dir.path().join("timestep.npy"));
    assert_eq!((shape, t.len()), (vec![1], 1));
    let bytes = std::fs::read(dir.path().join("input_ids.npy")).unwrap();
    let ids = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(ids.shape(), &[1, 16]);
    let ids: Vec<i64> = ids.into_vec().unwrap();
    assert_eq!(ids[0], 49406, "start token");
}

#[test]
fn zero_runs_is_an_error() {
    let o = edgepaint_command().args(["bench", "--runs", "0", "--model"]).arg(fixture("bundles/tiny-flow")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("runs must be at least 1"));
}
