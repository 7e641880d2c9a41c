//! A kiosk on an MQTT broker (`[mqtt] url`): the link is prepared before
//! the model loads (a bad section fails at once) and attached as one more
//! input once the kiosk exists. The link itself is `crate::fleet::link`.

use super::event_loop::{Kiosk, KioskError};
use crate::board::Board;

#[cfg(feature = "mqtt")]
pub struct Broker {
    link: crate::fleet::link::Link,
}

#[cfg(not(feature = "mqtt"))]
pub enum Broker {}

/// The board's broker link, not yet connected; None without `[mqtt] url`.
#[cfg(feature = "mqtt")]
pub fn prepare(board: &Board) -> Result<Option<Broker>, KioskError> {
    if board.mqtt.url.is_none() {
        return Ok(None);
    }
    let name = board.mqtt_name().map_err(KioskError::Setup)?;
    let identity = crate::fleet::BoardStatus {
        name,
        board: board.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    };
    let link = crate::fleet::link::Link::new(&board.mqtt, identity).map_err(KioskError::Setup)?;
    Ok(Some(Broker { link }))
}

#[cfg(not(feature = "mqtt"))]
pub fn prepare(board: &Board) -> Result<Option<Broker>, KioskError> {
    match board.mqtt.url {
        None => Ok(None),
        Some(_) => Err(KioskError::Setup(
            "mqtt.url: this edgepaint was built without MQTT (cargo feature `mqtt`; README \"Fleet\")".into(),
        )),
    }
}

impl Broker {
    /// One more input: lines from the broker, replies and status to it.
    #[cfg(feature = "mqtt")]
    pub fn attach(self, kiosk: &mut Kiosk) -> Result<(), KioskError> {
        let mut link = self.link;
        link.set_model(&kiosk.model_name());
        let source = kiosk.add_output("mqtt", link.events());
        kiosk.report_dropped_events(link.dropped());
        let observer = link.start(kiosk.sender(), source);
        kiosk.observe(observer);
        Ok(())
    }

    #[cfg(not(feature = "mqtt"))]
    pub fn attach(self, _kiosk: &mut Kiosk) -> Result<(), KioskError> {
        match self {}
    }
}
