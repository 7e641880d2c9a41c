//! Kiosk mode: the unattended loop. Inputs (serial, stdin, buttons) run on
//! their own threads and send [`Msg`]s into one channel; the generation runs
//! on a worker thread that reports back into the same channel; this thread
//! owns the queue, the replies and the display. The line protocol is in
//! `protocol.rs` and the README's "Kiosk" section; docs/architecture.md has
//! the threads and where a change goes.

mod attract;
mod broker;
mod controller;
mod event_loop;
pub mod lines;
mod msg;
mod outputs;
pub mod protocol;
mod queue;
mod ratings;
mod screen_state;
mod setup;
mod service;
pub mod snapshot;
pub mod store;
pub mod worker;

pub use event_loop::{Kiosk, KioskError, Stopper};
pub use msg::{Msg, SourceId};
pub use protocol::{Command, ErrorCode, Event, ProtocolError, Rating, MAX_LINE};
pub use setup::{run_board, Overrides};
pub use worker::{ModelInfo, Painter, WorkerEvent};
