//! The controller's side of the broker (`edgepaint send`, `edgepaint fleet`):
//! a short-lived client that subscribes, publishes and reads until a deadline.

use super::client::{explain, options, MAX_PICTURE_BYTES};
use super::config::MqttConfig;
use super::{BoardStatus, Topics};
use std::collections::BTreeMap;
use rumqttc::{Client, Connection, Event, Packet, QoS, RecvTimeoutError};
use std::time::{Duration, Instant};

pub struct Remote {
    client: Client,
    connection: Connection,
    broker: String,
}

/// One message from the broker.
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retained: bool,
}

impl Remote {
    /// Connect and subscribe to `topics`; returns once the broker confirmed
    /// both (a refused login or an unreachable broker is an error at once).
    pub fn connect(config: &MqttConfig, topics: &[String]) -> Result<Remote, String> {
        let id = format!("edgepaint-ctl-{}-{:x}", std::process::id(), crate::noise::random_seed() & 0xffff_ffff);
        let o = options(config, &id, MAX_PICTURE_BYTES + 1024)?;
        let broker = config.url.clone().unwrap_or_default();
        let (client, connection) = Client::new(o, 64);
        let mut remote = Remote { client, connection, broker };
        remote.wait_for(|e| matches!(e, Event::Incoming(Packet::ConnAck(_))), "the connection")?;
        if !topics.is_empty() {
            let filters = topics.iter().map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtLeastOnce));
            remote.client.subscribe_many(filters).map_err(|e| e.to_string())?;
            remote.wait_for(|e| matches!(e, Event::Incoming(Packet::SubAck(_))), "the subscription")?;
        }
        Ok(remote)
    }

    fn wait_for(&mut self, done: impl Fn(&Event) -> bool, what: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.connection.recv_timeout(left) {
                Ok(Ok(e)) if done(&e) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(explain(&e, &self.broker)),
                Err(_) => return Err(format!("the broker {} did not confirm {what} within 10 s", self.broker)),
            }
        }
    }

    /// Publish with QoS 1 and wait for the broker's acknowledgement.
    pub fn publish(&mut self, topic: &str, payload: &str) -> Result<(), String> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec()).map_err(|e| e.to_string())?;
        self.wait_for(|e| matches!(e, Event::Incoming(Packet::PubAck(_))), "the message")
    }

    /// The next message, or None at `deadline`.
    pub fn next(&mut self, deadline: Instant) -> Result<Option<Message>, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            match self.connection.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    return Ok(Some(Message {
                        topic: p.topic.clone(),
                        payload: p.payload.to_vec(),
                        retained: p.retain,
                    }))
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(explain(&e, &self.broker)),
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => return Err("the MQTT client stopped".into()),
            }
        }
    }

    /// The retained status of every kiosk under `prefix` (the client must be
    /// subscribed to PREFIX/+/status). They arrive right after the
    /// subscription: read until 500 ms pass without one (3 s at most). An
    /// empty retained message clears a kiosk (mosquitto_pub -r -n); other
    /// messages are skipped.
    pub fn statuses(&mut self, prefix: &str) -> Result<BTreeMap<String, BoardStatus>, String> {
        let mut boards = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Some(m) = self.next(deadline.min(Instant::now() + Duration::from_millis(500)))? {
            let Some((name, "status")) = Topics::split(prefix, &m.topic) else { continue };
            match serde_json::from_slice::<BoardStatus>(&m.payload) {
                Ok(s) => {
                    boards.insert(name.to_string(), s);
                }
                Err(_) if m.payload.is_empty() => {
                    boards.remove(name);
                }
                Err(e) => log::warn!("{}: not a status message: {e}", m.topic),
            }
        }
        Ok(boards)
    }

    pub fn disconnect(mut self) {
        if self.client.disconnect().is_ok() {
            let _ = self.wait_for(|e| matches!(e, Event::Outgoing(rumqttc::Outgoing::Disconnect)), "the goodbye");
        }
    }
}
