//! The broker connection's options from an [`MqttConfig`]: address, TLS,
//! credentials, packet limits. Shared by the kiosk's link and the
//! `send`/`fleet` commands.

use super::config::{parse_url, MqttConfig};
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use std::time::Duration;

/// PNG pictures travel as single messages; ours are far below this.
pub const MAX_PICTURE_BYTES: usize = 32 << 20;

/// Options for a client named `client_id`. `incoming` caps the size of a
/// message this client accepts (the kiosk takes lines, the controller pictures).
pub fn options(config: &MqttConfig, client_id: &str, incoming: usize) -> Result<MqttOptions, String> {
    let url = config.url.as_deref().ok_or("no broker: give --mqtt URL or [mqtt] url")?;
    let broker = parse_url(url)?;
    let mut o = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    o.set_keep_alive(Duration::from_secs(config.keep_alive_seconds.unwrap_or(30)));
    o.set_max_packet_size(incoming, MAX_PICTURE_BYTES + 1024);
    if let Some(user) = &config.username {
        let password = match &config.password_file {
            Some(f) => read(f, "password_file")?.trim_end_matches(['\n', '\r']).to_string(),
            None => String::new(),
        };
        o.set_credentials(user.clone(), password);
    }
    if broker.tls {
        install_crypto();
        let client_auth = match (&config.cert_file, &config.key_file) {
            (Some(c), Some(k)) => Some((read(c, "cert_file")?.into_bytes(), read(k, "key_file")?.into_bytes())),
            _ => None,
        };
        let tls = match &config.ca_file {
            Some(ca) => TlsConfiguration::Simple { ca: read(ca, "ca_file")?.into_bytes(), alpn: None, client_auth },
            // The system's roots (/etc/ssl/certs), for a broker with a public certificate.
            None if client_auth.is_none() => TlsConfiguration::default(),
            None => return Err("cert_file needs ca_file too".into()),
        };
        o.set_transport(Transport::tls_with_config(tls));
    }
    Ok(o)
}

fn read(path: &std::path::Path, field: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("mqtt.{field}: cannot read {}: {e}", path.display()))
}

/// rustls is built with `ring` alone; make it the process default once.
fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A connection error as one line a person can act on.
pub fn explain(error: &rumqttc::ConnectionError, broker: &str) -> String {
    use rumqttc::{ConnectReturnCode, ConnectionError};
    match error {
        ConnectionError::ConnectionRefused(
            ConnectReturnCode::NotAuthorized | ConnectReturnCode::BadUserNamePassword,
        ) => {
            format!("the broker {broker} refused the login: check [mqtt] username and password_file")
        }
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker {broker} refused the connection: {code:?}")
        }
        ConnectionError::Io(e) => format!("cannot reach the broker {broker}: {e}"),
        ConnectionError::NetworkTimeout | ConnectionError::FlushTimeout => {
            format!("the broker {broker} does not answer (timeout)")
        }
        ConnectionError::Tls(e) => format!("TLS with the broker {broker} failed: {e}"),
        other => format!("connection to the broker {broker} lost: {other}"),
    }
}
