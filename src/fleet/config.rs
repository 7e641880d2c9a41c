//! The board file's `[mqtt]` section and the command line's broker flags:
//! which broker, as whom, and under which name a kiosk answers.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[mqtt]` in a board file (README "Fleet"). Relative files are relative
/// to the board file's folder.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS); unset: no broker.
    pub url: Option<String>,
    /// The kiosk's name in topics (default: the board's name).
    pub name: Option<String>,
    /// First level of every topic (default "edgepaint").
    pub prefix: Option<String>,
    pub username: Option<String>,
    /// A file holding the password (never the password itself: board files
    /// are world-readable in the package).
    pub password_file: Option<PathBuf>,
    /// CA certificate(s), PEM, for mqtts:// (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and its key, PEM, for brokers that ask for one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Publish every finished PNG to PREFIX/NAME/picture.
    #[serde(default)]
    pub pictures: bool,
    /// Seconds between keep-alive pings; the last will fires after 1.5x this.
    pub keep_alive_seconds: Option<u64>,
}

pub const DEFAULT_PREFIX: &str = "edgepaint";

/// A broker address from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl std::fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        match self.host.contains(':') {
            true => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            false => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

/// Parses mqtt://HOST[:PORT] and mqtts://HOST[:PORT] (IPv6 in brackets).
/// By hand: a URL crate would add a dependency for two schemes and no path.
pub fn parse_url(url: &str) -> Result<BrokerUrl, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (true, r)
    } else {
        return Err(format!("{url:?}: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
        (h, after.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
        return Err(format!(
            "{url:?}: expected mqtt://HOST[:PORT] (no user, path or query; credentials go in username/password_file)"
        ));
    }
    let port = match port {
        None => default_port,
        Some(p) => {
            p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| format!("{url:?}: the port must be 1-65535"))?
        }
    };
    Ok(BrokerUrl { host: host.to_string(), port, tls })
}

/// A topic level of ours (kiosk name, prefix): no MQTT wildcards or separators.
pub fn check_topic_level(what: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || value.len() > 64 {
        return Err(format!("{what} must be 1-64 characters"));
    }
    if value.chars().any(|c| matches!(c, '/' | '+' | '#') || c.is_control() || c.is_whitespace()) {
        return Err(format!("{what} {value:?} may not hold '/', '+', '#', spaces or control characters"));
    }
    Ok(())
}

/// A kiosk's name: one topic level, and not the address of all kiosks.
pub fn check_kiosk_name(name: &str) -> Result<(), String> {
    check_topic_level("the name", name)?;
    match name == super::topics::ALL {
        true => Err("\"all\" is the topic every kiosk listens to; choose another name".into()),
        false => Ok(()),
    }
}

impl MqttConfig {
    /// Check the section as a board file gives it: Err((field, message)).
    pub fn check(&self) -> Result<(), (String, String)> {
        let field = |f: &str, m: String| Err((format!("mqtt.{f}"), m));
        if let Some(url) = &self.url {
            if let Err(m) = parse_url(url) {
                return field("url", m);
            }
        }
        if let Some(name) = &self.name {
            if let Err(m) = check_kiosk_name(name) {
                return field("name", m);
            }
        }
        if let Some(prefix) = &self.prefix {
            if let Err(m) = check_topic_level("the prefix", prefix) {
                return field("prefix", m);
            }
        }
        if self.password_file.is_some() && self.username.is_none() {
            return field("password_file", "needs username".into());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return field("cert_file", "cert_file and key_file go together".into());
        }
        if matches!(self.keep_alive_seconds, Some(s) if !(5..=3600).contains(&s)) {
            return field("keep_alive_seconds", "must be 5-3600".into());
        }
        Ok(())
    }

    /// Files named relative to the board file's folder.
    pub fn resolve_files(&mut self, dir: &Path) {
        for f in
            [&mut self.password_file, &mut self.ca_file, &mut self.cert_file, &mut self.key_file].into_iter().flatten()
        {
            if f.is_relative() {
                *f = dir.join(&*f);
            }
        }
    }

    /// `other`'s settings where it has them (the command line over the board file).
    pub fn overridden_by(&self, other: &MqttConfig) -> MqttConfig {
        MqttConfig {
            url: other.url.clone().or_else(|| self.url.clone()),
            name: other.name.clone().or_else(|| self.name.clone()),
            prefix: other.prefix.clone().or_else(|| self.prefix.clone()),
            username: other.username.clone().or_else(|| self.username.clone()),
            password_file: other.password_file.clone().or_else(|| self.password_file.clone()),
            ca_file: other.ca_file.clone().or_else(|| self.ca_file.clone()),
            cert_file: other.cert_file.clone().or_else(|| self.cert_file.clone()),
            key_file: other.key_file.clone().or_else(|| self.key_file.clone()),
            pictures: other.pictures || self.pictures,
            keep_alive_seconds: other.keep_alive_seconds.or(self.keep_alive_seconds),
        }
    }

    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = |s| parse_url(s);
        assert_eq!(u("mqtt://pi.local").unwrap(), BrokerUrl { host: "pi.local".into(), port: 1883, tls: false });
        assert_eq!(u("mqtts://10.0.0.2:9883/").unwrap(), BrokerUrl { host: "10.0.0.2".into(), port: 9883, tls: true });
        assert_eq!(u("mqtts://broker").unwrap().port, 8883);
        assert_eq!(u("mqtt://[::1]:1884").unwrap().to_string(), "mqtt://[::1]:1884");
        for bad in
            ["http://x", "mqtt://", "mqtt://h:0", "mqtt://h:99999", "mqtt://user:pw@h", "mqtt://h/topic", "mqtt://[::1"]
        {
            assert!(u(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_name_the_field() {
        let field = |c: MqttConfig| c.check().unwrap_err().0;
        assert_eq!(field(MqttConfig { url: Some("tcp://x".into()), ..Default::default() }), "mqtt.url");
        assert_eq!(field(MqttConfig { name: Some("a/b".into()), ..Default::default() }), "mqtt.name");
        assert_eq!(field(MqttConfig { name: Some("all".into()), ..Default::default() }), "mqtt.name");
        assert_eq!(field(MqttConfig { prefix: Some("#".into()), ..Default::default() }), "mqtt.prefix");
        assert_eq!(field(MqttConfig { password_file: Some("p".into()), ..Default::default() }), "mqtt.password_file");
        assert_eq!(field(MqttConfig { key_file: Some("k".into()), ..Default::default() }), "mqtt.cert_file");
        assert!(MqttConfig { url: Some("mqtt://h".into()), name: Some("hall-1".into()), ..Default::default() }
            .check()
            .is_ok());
    }
}
