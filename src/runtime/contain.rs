//! A panic inside tract becomes an error, not the end of the process.
//!
//! tract 0.23.9 panics on some malformed graphs (a Conv with strides 0, a
//! DepthToSpace with block size 0: divide by zero; a Gather index past its
//! table at run time) instead of returning an error. A kiosk must survive a
//! bad bundle, so every call into tract runs under `catch_unwind` (the
//! release profile unwinds: Cargo.toml says what it costs) and the panic's
//! message and place become a [`RuntimeError`]. While tract runs, the panic
//! hook stays quiet (the error says it all, once); a panic anywhere else is
//! reported as before.

use super::RuntimeError;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

thread_local! {
    static INSIDE: Cell<bool> = const { Cell::new(false) };
    static PLACE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Run `f` (a call into tract for the graph at `path`); a panic in it is
/// returned as `RuntimeError::Graph` naming the graph, the message and where
/// in tract it happened.
pub(super) fn contain<T>(path: &Path, f: impl FnOnce() -> Result<T, RuntimeError>) -> Result<T, RuntimeError> {
    install_hook();
    let outer = INSIDE.with(|c| c.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    INSIDE.with(|c| c.set(outer));
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = PLACE.with(|p| p.borrow_mut().take()).map(|p| format!(" at {p}")).unwrap_or_default();
        Err(RuntimeError::Graph {
            path: path.to_path_buf(),
            message: format!("the runtime failed on this graph (tract panicked{place}: {message})"),
        })
    })
}

/// Keep the default hook for panics outside [`contain`]; inside, only note
/// where it happened.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if INSIDE.with(|c| c.get()) {
                let place = info.location().map(|l| format!("{}:{}", short(l.file()), l.line()));
                PLACE.with(|p| *p.borrow_mut() = place);
            } else {
                previous(info);
            }
        }));
    });
}

/// `.../tract-core-0.23.9/src/ops/array/gather.rs` -> `tract-core-0.23.9/src/ops/array/gather.rs`.
fn short(file: &str) -> &str {
    file.find("tract-").map(|i| &file[i..]).unwrap_or(file)
}
