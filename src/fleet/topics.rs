//! The topics of one kiosk (README "Fleet"): PREFIX/NAME/{in,events,status,picture},
//! and PREFIX/all/in that every kiosk also listens to.

pub struct Topics {
    prefix: String,
    name: String,
}

/// The address that reaches every kiosk under a prefix.
pub const ALL: &str = "all";

impl Topics {
    pub fn new(prefix: &str, name: &str) -> Topics {
        Topics { prefix: prefix.to_string(), name: name.to_string() }
    }

    fn topic(&self, name: &str, leaf: &str) -> String {
        format!("{}/{name}/{leaf}", self.prefix)
    }

    pub fn input(&self) -> String {
        self.topic(&self.name, "in")
    }

    pub fn all_input(&self) -> String {
        self.topic(ALL, "in")
    }

    pub fn events(&self) -> String {
        self.topic(&self.name, "events")
    }

    pub fn status(&self) -> String {
        self.topic(&self.name, "status")
    }

    pub fn picture(&self) -> String {
        self.topic(&self.name, "picture")
    }

    /// Every kiosk's `leaf` topic (a subscription with a wildcard).
    pub fn every(prefix: &str, leaf: &str) -> String {
        format!("{prefix}/+/{leaf}")
    }

    /// The kiosk name and leaf of a topic under `prefix`, if it is one of ours.
    pub fn split<'a>(prefix: &str, topic: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
        let (name, leaf) = rest.split_once('/')?;
        (!leaf.contains('/')).then_some((name, leaf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let t = Topics::new("edgepaint", "hall-1");
        assert_eq!(t.input(), "edgepaint/hall-1/in");
        assert_eq!(t.all_input(), "edgepaint/all/in");
        assert_eq!(t.status(), "edgepaint/hall-1/status");
        assert_eq!(Topics::every("x", "events"), "x/+/events");
        assert_eq!(Topics::split("edgepaint", "edgepaint/hall-1/picture"), Some(("hall-1", "picture")));
        assert_eq!(Topics::split("edgepaint", "edgepaintx/a/b"), None);
        assert_eq!(Topics::split("edgepaint", "edgepaint/a/b/c"), None);
    }
}
