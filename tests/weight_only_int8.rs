//! The weight-only int8 manifest (`model-w8.toml`: `export_diffusers
//! --weight-only-int8`; this fixture by scripts/fixtures/make_w8_fixture.py):
//! it loads through every hash check like the others, and its picture is
//! the f32 manifest's within int8 weight rounding, closer than the dynamic
//! int8 manifest's (which also rounds the activations).
mod common;
use common::{fixture, fox_picture};

fn picture(manifest: &str) -> Vec<u8> {
    fox_picture(&fixture(&format!("diffusers/sd-turbo/{manifest}")))
}

fn mean_levels(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (*x as f64 - *y as f64).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn the_weight_only_picture_is_the_f32_one_within_int8_rounding() {
    let f32 = picture("model-f32.toml");
    let w8 = picture("model-w8.toml");
    let dynamic = picture("model.toml");
    let (w8_off, dynamic_off) = (mean_levels(&w8, &f32), mean_levels(&dynamic, &f32));
    eprintln!("mean difference to the f32 picture: weight-only {w8_off:.2} levels, dynamic int8 {dynamic_off:.2}");
    assert!(w8 != f32, "the int8 weights changed nothing: were they quantized?");
    assert!(w8_off < 2.0, "{w8_off}");
    assert!(w8_off < dynamic_off, "{w8_off} vs {dynamic_off}");
}
