//! Kiosks on an MQTT broker (README "Fleet"): the board file's `[mqtt]`
//! section and the topics are always built; the broker client itself (the
//! kiosk's link, `edgepaint send`, `edgepaint fleet`) needs the `mqtt` feature.

pub mod config;
pub mod follow;
pub mod status;
pub mod topics;

#[cfg(feature = "mqtt")]
pub mod client;
#[cfg(feature = "mqtt")]
pub mod link;
#[cfg(feature = "mqtt")]
pub mod remote;

pub use config::{parse_url, BrokerUrl, MqttConfig};
pub use status::BoardStatus;
pub use topics::Topics;
