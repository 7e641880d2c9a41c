//! edgepaint: offline text-to-image for small boards.
//!
//! The pipeline is a library API: a [`pipeline::Request`] and a progress
//! callback go in, an image and per-stage timings come out. The CLI
//! (`src/cli`) is a thin shell over it. Only [`runtime`] talks to the inference engine.

pub mod bench;
pub mod board;
pub mod bundle;
pub mod cli;
pub mod credentials;
#[cfg(feature = "onnx")]
pub mod convert;
pub mod data_home;
pub mod display;
pub mod feedback;
pub mod filter;
pub mod fleet;
pub mod gpio;
pub mod image;
pub mod input;
pub mod kiosk;
pub mod picture;
pub mod noise;
pub mod pipeline;
pub mod runtime;
pub mod scheduler;
pub mod scorer;
pub mod tensor;
pub mod tokenizer;
pub mod watermark;
