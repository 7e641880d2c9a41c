//! Where edgepaint keeps what it writes by itself (a kiosk's pictures,
//! frames and feedback log) when nobody gave an absolute path: never the
//! working directory, which may be a checkout or `/`.
//!
//! - Under the systemd unit: `$STATE_DIRECTORY`, which systemd sets from the
//!   unit's `StateDirectory=edgepaint` (`/var/lib/edgepaint`, made and owned
//!   for the service's user by systemd).
//! - Otherwise the XDG base directory spec: `$XDG_DATA_HOME/edgepaint`,
//!   else `~/.local/share/edgepaint`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
#[error("no folder for edgepaint's files: neither $STATE_DIRECTORY, $XDG_DATA_HOME nor $HOME is set (give absolute paths in the board file, or set one of them)")]
pub struct NoDataHome;

/// The folder, from this process's environment.
pub fn data_home() -> Result<PathBuf, NoDataHome> {
    data_home_from(|name| std::env::var_os(name))
}

/// The folder, from an environment given as a lookup (tests).
pub fn data_home_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, NoDataHome> {
    // Set, non-empty and absolute: the XDG spec says to ignore relative ones.
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    // systemd joins several StateDirectory= entries with ':'; ours is the first.
    if let Some(state) = env("STATE_DIRECTORY") {
        let first = state.to_string_lossy().split(':').next().unwrap_or("").to_string();
        if Path::new(&first).is_absolute() {
            return Ok(PathBuf::from(first));
        }
    }
    if let Some(xdg) = absolute("XDG_DATA_HOME") {
        return Ok(xdg.join("edgepaint"));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".local/share/edgepaint"));
    }
    Err(NoDataHome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_service_state_directory_wins() {
        let vars = [("STATE_DIRECTORY", "/var/lib/edgepaint:/var/lib/other"), ("HOME", "/home/pi")];
        assert_eq!(data_home_from(env(&vars)), Ok(PathBuf::from("/var/lib/edgepaint")));
    }

    #[test]
    fn then_xdg_data_home_then_home() {
        let vars = [("XDG_DATA_HOME", "/data"), ("HOME", "/home/pi")];
        assert_eq!(data_home_from(env(&vars)), Ok(PathBuf::from("/data/edgepaint")));
        let vars = [("HOME", "/home/pi")];
        assert_eq!(data_home_from(env(&vars)), Ok(PathBuf::from("/home/pi/.local/share/edgepaint")));
    }

    #[test]
    fn relative_or_empty_values_are_ignored() {
        let vars = [("STATE_DIRECTORY", "rel"), ("XDG_DATA_HOME", ""), ("HOME", "/root")];
        assert_eq!(data_home_from(env(&vars)), Ok(PathBuf::from("/root/.local/share/edgepaint")));
        let vars = [("XDG_DATA_HOME", "data"), ("HOME", "home")];
        assert_eq!(data_home_from(env(&vars)), Err(NoDataHome));
    }
}
