//! The broker flags shared by `kiosk`, `send` and `fleet` (over a board
//! file's `[mqtt]` section for the kiosk).

use crate::fleet::{config::check_topic_level, MqttConfig};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Default, Clone)]
pub struct BrokerArgs {
    /// MQTT broker: mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS).
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// First level of every topic (default: edgepaint).
    #[arg(long, value_name = "PREFIX", value_parser = topic_level)]
    pub topic_prefix: Option<String>,
    /// Broker login name.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// File holding the broker password (never on the command line).
    #[arg(long, value_name = "FILE", requires = "username")]
    pub password_file: Option<PathBuf>,
    /// CA certificate(s) (PEM) for mqtts:// (default: the system's).
    #[arg(long, value_name = "FILE.pem")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that ask for one.
    #[arg(long, value_name = "FILE.pem", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "FILE.pem", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
}

fn topic_level(s: &str) -> Result<String, String> {
    check_topic_level("the prefix", s).map(|_| s.to_string())
}

impl BrokerArgs {
    pub fn config(&self) -> MqttConfig {
        MqttConfig {
            url: self.mqtt.clone(),
            prefix: self.topic_prefix.clone(),
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            ca_file: self.ca_file.clone(),
            cert_file: self.cert_file.clone(),
            key_file: self.key_file.clone(),
            ..Default::default()
        }
    }
}
