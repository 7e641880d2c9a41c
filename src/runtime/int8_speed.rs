//! A warning when a graph's integer products will run slowly on this CPU.
//!
//! Why: tract 0.23.9 has fast int8 kernels where the CPU has int8 dot
//! products (SDOT on Pi 5 / Orin, VNNI on recent x86). On an x86 CPU with
//! AVX2 but without VNNI its integer kernels lose to its f32 ones (README
//! "Real-size models": a 512×512 SD-Turbo step 345 s in dynamic int8 on an
//! AVX2-only AMD host, against seconds in f32), and nothing else tells the
//! user that the bundle's weight-only int8 or f32 manifest is faster there.
use std::sync::Once;
use tract_nnef::internal::*;
use tract_nnef::tract_core::ops::cnn::Conv;
use tract_nnef::tract_core::ops::einsum::EinSum;

/// How many of the decluttered `model`'s products compute in integers.
pub(crate) fn integer_products(model: &TypedModel) -> usize {
    model
        .nodes()
        .iter()
        .filter(|node| {
            node.op_as::<EinSum>().is_some_and(|e| e.q_params.is_some())
                || node.op_as::<Conv>().is_some_and(|c| c.q_params.is_some())
        })
        .count()
}

/// Whether this CPU runs tract's int8 products at least about as fast as
/// its f32 ones.
pub(crate) fn fast_int8() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512vnni") || std::is_x86_feature_detected!("avxvnni");
    #[cfg(not(target_arch = "x86_64"))]
    true // ARM: SDOT where the core has it, else tract's widening kernels (not measured slower than f32)
}

/// Warn once per process when `model` (read from `path`) has integer
/// products and this CPU runs them slowly.
pub(crate) fn warn_if_slow(model: &TypedModel, path: &std::path::Path) {
    static WARNED: Once = Once::new();
    // Once warned, the other graphs and segments are not scanned again.
    if WARNED.is_completed() || fast_int8() || integer_products(model) == 0 {
        return;
    }
    WARNED.call_once(|| {
        log::warn!(
            "{}: int8 products on a CPU without int8 dot-product instructions (x86 without VNNI) run \
             slower than f32 in tract (a 512x512 SD-Turbo step 1.8x to 40x, README \"Real-size models\"); \
             the bundle's model-w8.toml (weight-only int8: export with --weight-only-int8) or \
             model-f32.toml is faster here",
            path.display()
        )
    });
}

#[cfg(all(test, feature = "onnx"))]
mod tests {
    use super::super::{load_decluttered, InputSpec, Pin};
    use super::integer_products;

    /// The tiny SD-Turbo fixture's decoder: the dynamic int8 graph has integer
    /// products, the f32 and weight-only int8 ones none (no warning for them).
    #[test]
    fn integer_products_are_found_in_dynamic_int8_graphs_only() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/diffusers/sd-turbo");
        let specs = [InputSpec::new("latents", false, vec![1, 4, 8, 8])];
        let count = |file: &str| {
            let (model, _) = load_decluttered(&dir.join(file), &Pin::ByPosition(&specs), None).unwrap();
            integer_products(&model)
        };
        assert!(count("decoder.int8.onnx") > 0);
        assert_eq!(count("decoder.onnx"), 0);
        assert_eq!(count("decoder.w8.onnx"), 0);
    }
}
