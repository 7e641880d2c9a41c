//! The kiosk's link to a broker: messages on PREFIX/NAME/in and PREFIX/all/in
//! become protocol lines of one more kiosk input; its replies (and the
//! events every output gets) go to PREFIX/NAME/events; a retained
//! PREFIX/NAME/status follows the kiosk, with a last will for when it dies.
//! Runs on its own thread and never holds up the kiosk: while the broker is
//! away outgoing messages wait in a bounded buffer, then are dropped and counted.

use super::client::{explain, options};
use super::config::MqttConfig;
use super::status::BoardStatus;
use super::topics::Topics;
use crate::kiosk::lines::LineReader;
use crate::kiosk::protocol::{ErrorCode, ProtocolError};
use crate::kiosk::snapshot::{Observer, Snapshot};
use crate::kiosk::{Msg, SourceId};
use rumqttc::{Client, Connection, Event, LastWill, Outgoing, Packet, QoS};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Outgoing messages held while the broker cannot take them; more are dropped.
pub const BUFFER: usize = 256;
/// A message to a kiosk is a protocol line (512 bytes); anything far larger
/// ends the connection (rumqttc's limit), see `reset_session`.
const MAX_INCOMING: usize = 64 << 10;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the link thread and the kiosk's thread share.
struct Shared {
    /// The latest status, published again after every (re)connection.
    status: Mutex<BoardStatus>,
    dropped: Arc<AtomicU64>,
    stop: AtomicBool,
}

/// A configured link, not yet running (see [`Link::start`]).
pub struct Link {
    client: Client,
    connection: Connection,
    topics: Topics,
    broker: String,
    pictures: bool,
    shared: Arc<Shared>,
}

impl Link {
    /// Check the settings and prepare the client; nothing touches the
    /// network yet. `identity`: the name, board, model and version the status carries.
    pub fn new(config: &MqttConfig, identity: BoardStatus) -> Result<Link, String> {
        let topics = Topics::new(config.prefix(), &identity.name);
        let mut o = options(config, &format!("edgepaint-{}", identity.name), MAX_INCOMING)?;
        // A persistent session: lines the broker took while we were away are delivered on return.
        o.set_clean_session(false);
        o.set_manual_acks(true);
        o.set_last_will(LastWill::new(topics.status(), identity.will().to_json(), QoS::AtLeastOnce, true));
        let broker = config.url.clone().unwrap_or_default();
        let (client, connection) = Client::new(o, BUFFER);
        let shared = Arc::new(Shared {
            status: Mutex::new(BoardStatus { online: true, state: "idle".into(), ..identity }),
            dropped: Arc::default(),
            stop: AtomicBool::new(false),
        });
        Ok(Link { client, connection, topics, broker, pictures: config.pictures, shared })
    }

    /// The model name the status carries (known once the model is loaded).
    pub fn set_model(&mut self, model: &str) {
        if let Ok(mut s) = self.shared.status.lock() {
            s.model = model.to_string();
            let will = LastWill::new(self.topics.status(), s.will().to_json(), QoS::AtLeastOnce, true);
            self.connection.eventloop.mqtt_options.set_last_will(will);
        }
    }

    /// Where the kiosk writes the events for this input.
    pub fn events(&self) -> Box<dyn Write + Send> {
        let (client, topic, dropped) = (self.client.clone(), self.topics.events(), self.shared.dropped.clone());
        Box::new(EventWriter { client, topic, dropped, pending: Vec::new() })
    }

    /// The count of dropped outgoing messages (for `/status`).
    pub fn dropped(&self) -> Arc<AtomicU64> {
        self.shared.dropped.clone()
    }

    /// Start the thread; lines go to `tx` as coming from `source`. The
    /// returned observer publishes the status (and pictures) and says goodbye.
    pub fn start(self, tx: Sender<Msg>, source: SourceId) -> Box<dyn Observer> {
        let Link { client, connection, topics, broker, pictures, shared } = self;
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let observer = StatusPublisher {
            client: client.clone(),
            status_topic: topics.status(),
            picture_topic: pictures.then(|| topics.picture()),
            last_picture: None,
            shared: shared.clone(),
            done: Some(done_rx),
        };
        let thread = LinkThread { client, connection, topics, broker, tx, source, shared };
        std::thread::Builder::new()
            .name("kiosk-mqtt".into())
            .spawn(move || {
                thread.run();
                drop(done_tx);
            })
            .expect("spawn mqtt thread");
        Box::new(observer)
    }
}

struct LinkThread {
    client: Client,
    connection: Connection,
    topics: Topics,
    broker: String,
    tx: Sender<Msg>,
    source: SourceId,
    shared: Arc<Shared>,
}

impl LinkThread {
    fn run(mut self) {
        let mut backoff = Duration::from_secs(1);
        let mut last_error = String::new();
        loop {
            let Ok(event) = self.connection.recv() else {
                return;
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    log::info!("connected to the MQTT broker {} as {}", self.broker, self.topics.input());
                    (backoff, last_error) = (Duration::from_secs(1), String::new());
                    self.connection.eventloop.mqtt_options.set_clean_session(false);
                    self.on_connected();
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if p.topic == self.topics.input() || p.topic == self.topics.all_input() {
                        let mut lines = LineReader::new(&p.payload[..]);
                        while let Ok(line) = lines.next_line() {
                            if self.tx.send(Msg::Line { source: self.source, line }).is_err() {
                                return;
                            }
                        }
                    }
                    // Acknowledged once the lines are in the kiosk's queue:
                    // a line the broker holds is never lost (QoS 1 in).
                    let _ = self.client.try_ack(&p);
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => {
                    if self.shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if too_large(&e) {
                        self.reset_session();
                    }
                    let message = explain(&e, &self.broker);
                    if message != last_error {
                        log::warn!("{message}; retrying every {} s at most", MAX_BACKOFF.as_secs());
                        last_error = message;
                    }
                    self.sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn on_connected(&self) {
        let subscriptions =
            [self.topics.input(), self.topics.all_input()].map(|t| rumqttc::SubscribeFilter::new(t, QoS::AtLeastOnce));
        if self.client.try_subscribe_many(subscriptions).is_err() {
            log::warn!("cannot subscribe to {}: the outgoing buffer is full", self.topics.input());
        }
        let status = self.shared.status.lock().map(|s| s.to_json()).unwrap_or_default();
        let _ = self.client.try_publish(self.topics.status(), QoS::AtLeastOnce, true, status);
    }

    /// A message too large to read ends the connection, and a persistent
    /// session would deliver it again forever: the next connection starts a
    /// clean session (dropping what the broker queued), and the sender gets
    /// the error a too long line gets.
    fn reset_session(&mut self) {
        log::warn!(
            "a message over {MAX_INCOMING} bytes came from the broker: dropping this kiosk's queued messages there"
        );
        self.connection.eventloop.mqtt_options.set_clean_session(true);
        let e = ProtocolError::new(
            ErrorCode::LineTooLong,
            format!("the line is longer than {} bytes", crate::kiosk::MAX_LINE),
        );
        let _ = self.tx.send(Msg::Line { source: self.source, line: Err(e) });
    }

    fn sleep(&self, d: Duration) {
        let until = std::time::Instant::now() + d;
        while std::time::Instant::now() < until && !self.shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn too_large(e: &rumqttc::ConnectionError) -> bool {
    use rumqttc::{ConnectionError, StateError};
    matches!(
        e,
        ConnectionError::MqttState(StateError::Deserialization(rumqttc::mqttbytes::Error::PayloadSizeLimitExceeded(_)))
    )
}

/// The kiosk's replies for the broker input: one message per line.
struct EventWriter {
    client: Client,
    topic: String,
    dropped: Arc<AtomicU64>,
    pending: Vec<u8>,
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        for line in pending.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if self.client.try_publish(&self.topic, QoS::AtLeastOnce, false, line.to_vec()).is_err() {
                count_drop(&self.dropped, "event");
            }
        }
        Ok(())
    }
}

fn count_drop(dropped: &AtomicU64, what: &str) {
    let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
    // Logged at the first and then at every 100th: an outage must not flood the log.
    if n == 1 || n % 100 == 0 {
        log::warn!("MQTT: the outgoing buffer is full (broker away?): dropped a {what}, {n} dropped since start");
    }
}

/// Keeps the retained status up to date, publishes pictures, says goodbye.
struct StatusPublisher {
    client: Client,
    status_topic: String,
    picture_topic: Option<String>,
    last_picture: Option<u64>,
    shared: Arc<Shared>,
    /// Closed when the link thread has ended.
    done: Option<std::sync::mpsc::Receiver<()>>,
}

impl StatusPublisher {
    fn publish_status(&self, snapshot: &Snapshot, change: impl FnOnce(BoardStatus) -> BoardStatus) {
        let Ok(mut status) = self.shared.status.lock() else {
            return;
        };
        *status = change(status.with(snapshot, self.shared.dropped.load(Ordering::Relaxed)));
        if self.client.try_publish(&self.status_topic, QoS::AtLeastOnce, true, status.to_json()).is_err() {
            // Published again on the next connection.
            log::debug!("MQTT status not sent: buffer full");
        }
    }

    /// The finished picture's bytes, read back from disk (it is there before `done`).
    fn publish_picture(&mut self, snapshot: &Snapshot) {
        let (Some(topic), Some(p)) = (&self.picture_topic, &snapshot.last_picture) else {
            return;
        };
        if self.last_picture.replace(p.id) == Some(p.id) {
            return;
        }
        match std::fs::read(&p.path) {
            Ok(bytes) => {
                if self.client.try_publish(topic, QoS::AtLeastOnce, false, bytes).is_err() {
                    count_drop(&self.shared.dropped, "picture");
                }
            }
            Err(e) => log::warn!("cannot publish picture {}: {e}", p.path),
        }
    }
}

impl Observer for StatusPublisher {
    fn changed(&mut self, snapshot: &Snapshot) {
        self.publish_status(snapshot, |s| s);
        self.publish_picture(snapshot);
    }

    fn stopped(&mut self, snapshot: &Snapshot) {
        self.publish_status(snapshot, |s| BoardStatus { online: false, state: "stopped".into(), current: None, ..s });
        let _ = self.client.try_disconnect();
        // Connected: the thread sends the goodbye and ends; not: it stops retrying.
        // Either way the shutdown waits 2 s at most.
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(done) = self.done.take() {
            let _ = done.recv_timeout(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_beyond_the_buffer_are_dropped_and_counted() {
        // Never connected (nothing polls the connection): the buffer only fills.
        let config = MqttConfig { url: Some("mqtt://127.0.0.1:1".into()), ..Default::default() };
        let identity = BoardStatus { name: "t".into(), ..Default::default() };
        let link = Link::new(&config, identity).unwrap();
        let mut events = link.events();
        for i in 0..BUFFER + 44 {
            events.write_all(format!("{{\"event\":\"progress\",\"step\":{i}}}\n").as_bytes()).unwrap();
            events.flush().unwrap();
        }
        assert_eq!(link.dropped().load(Ordering::Relaxed), 44);
    }
}
