//! Play subscriptions: which sessions asked to play which streams, and which
//! streams are live. Pure data; [`crate::media`] drives it.
//!
//! A subscription lasts from `PlayStream` until `StopPlaying` or the session
//! leaves; it survives the stream stopping and coming back, and a signaling
//! resume, and so does its cap on the video layers (`PlayStream.max_layer`,
//! `PlayVideoLayer`). Each change of liveness names the subscribers to tell.

use crate::sfu::StreamKey;
use protocol::VideoLayer;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Subscriptions and liveness of the streams on this node.
#[derive(Debug, Default)]
pub(crate) struct PlaySubscriptions {
    /// Per stream, its subscribers with their video layer caps.
    by_stream: HashMap<StreamKey, BTreeMap<String, VideoLayer>>,
    by_session: HashMap<String, BTreeSet<StreamKey>>,
    live: HashSet<StreamKey>,
}

impl PlaySubscriptions {
    /// Registers `session_id` as a player of `stream` (again is fine),
    /// with the highest video layer it wants. Returns whether the stream
    /// is live now.
    pub(crate) fn subscribe(
        &mut self,
        stream: &StreamKey,
        session_id: &str,
        cap: VideoLayer,
    ) -> bool {
        self.by_stream
            .entry(stream.clone())
            .or_default()
            .insert(session_id.to_owned(), cap);
        self.by_session
            .entry(session_id.to_owned())
            .or_default()
            .insert(stream.clone());
        self.live.contains(stream)
    }

    /// Removes a subscription. `false` if there was none.
    pub(crate) fn unsubscribe(&mut self, stream: &StreamKey, session_id: &str) -> bool {
        let removed = self
            .by_stream
            .get_mut(stream)
            .is_some_and(|s| s.remove(session_id).is_some());
        if self.by_stream.get(stream).is_some_and(BTreeMap::is_empty) {
            self.by_stream.remove(stream);
        }
        if let Some(streams) = self.by_session.get_mut(session_id) {
            streams.remove(stream);
            if streams.is_empty() {
                self.by_session.remove(session_id);
            }
        }
        removed
    }

    /// The video layer cap of `session_id`'s subscription to `stream`.
    pub(crate) fn cap(&self, stream: &StreamKey, session_id: &str) -> Option<VideoLayer> {
        self.by_stream.get(stream)?.get(session_id).copied()
    }

    /// Changes the cap of a subscription; `false` if there is none.
    pub(crate) fn set_cap(
        &mut self,
        stream: &StreamKey,
        session_id: &str,
        cap: VideoLayer,
    ) -> bool {
        match self
            .by_stream
            .get_mut(stream)
            .and_then(|s| s.get_mut(session_id))
        {
            Some(old) => {
                *old = cap;
                true
            }
            None => false,
        }
    }

    /// Removes every subscription of a session that left; returns its streams.
    pub(crate) fn drop_session(&mut self, session_id: &str) -> Vec<StreamKey> {
        let streams: Vec<StreamKey> = self
            .by_session
            .remove(session_id)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for stream in &streams {
            if let Some(subs) = self.by_stream.get_mut(stream) {
                subs.remove(session_id);
                if subs.is_empty() {
                    self.by_stream.remove(stream);
                }
            }
        }
        streams
    }

    /// The stream went live; returns the subscribers to tell (none if it
    /// already was).
    pub(crate) fn set_live(&mut self, stream: &StreamKey) -> Vec<String> {
        if !self.live.insert(stream.clone()) {
            return Vec::new();
        }
        self.subscribers(stream)
    }

    /// The stream stopped; returns the subscribers to tell (none if it was not live).
    pub(crate) fn set_ended(&mut self, stream: &StreamKey) -> Vec<String> {
        if !self.live.remove(stream) {
            return Vec::new();
        }
        self.subscribers(stream)
    }

    /// The live streams `session_id` subscribes to.
    pub(crate) fn live_streams_of(&self, session_id: &str) -> Vec<StreamKey> {
        self.by_session
            .get(session_id)
            .map(|s| {
                s.iter()
                    .filter(|k| self.live.contains(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Subscribers of a stream.
    pub(crate) fn subscribers(&self, stream: &StreamKey) -> Vec<String> {
        self.by_stream
            .get(stream)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// (streams with subscribers, sessions with subscriptions).
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.by_stream.len(), self.by_session.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> StreamKey {
        StreamKey {
            app_id: 1,
            stream_id: id.into(),
        }
    }

    #[test]
    fn liveness_changes_name_subscribers_once() {
        let mut p = PlaySubscriptions::default();
        assert!(!p.subscribe(&key("s"), "a", VideoLayer::High));
        assert_eq!(p.set_live(&key("s")), vec!["a".to_owned()]);
        assert!(p.set_live(&key("s")).is_empty());
        assert!(p.subscribe(&key("s"), "b", VideoLayer::High));
        assert_eq!(p.set_ended(&key("s")), vec!["a".to_owned(), "b".to_owned()]);
        assert!(p.set_ended(&key("s")).is_empty());
        // Subscriptions outlive the stream.
        assert_eq!(p.set_live(&key("s")).len(), 2);
        assert_eq!(p.live_streams_of("a"), vec![key("s")]);
    }

    #[test]
    fn unsubscribe_and_drop_session_clean_up() {
        let mut p = PlaySubscriptions::default();
        p.subscribe(&key("s"), "a", VideoLayer::High);
        p.subscribe(&key("t"), "a", VideoLayer::High);
        p.subscribe(&key("s"), "b", VideoLayer::High);
        assert!(p.unsubscribe(&key("s"), "b"));
        assert!(!p.unsubscribe(&key("s"), "b"));
        assert!(p.cap(&key("s"), "a").is_some());
        let mut gone = p.drop_session("a");
        gone.sort();
        assert_eq!(gone, vec![key("s"), key("t")]);
        assert_eq!(p.counts(), (0, 0));
        // Another app's stream of the same ID is another stream.
        let other = StreamKey {
            app_id: 2,
            stream_id: "s".into(),
        };
        p.subscribe(&other, "c", VideoLayer::High);
        assert!(p.cap(&key("s"), "c").is_none());
    }

    #[test]
    fn a_cap_stays_with_its_subscription() {
        let mut p = PlaySubscriptions::default();
        assert!(!p.set_cap(&key("s"), "a", VideoLayer::Low));
        p.subscribe(&key("s"), "a", VideoLayer::Medium);
        assert_eq!(p.cap(&key("s"), "a"), Some(VideoLayer::Medium));
        assert!(p.set_cap(&key("s"), "a", VideoLayer::Low));
        p.set_live(&key("s"));
        p.set_ended(&key("s"));
        assert_eq!(p.cap(&key("s"), "a"), Some(VideoLayer::Low));
        assert!(!p.set_cap(&key("s"), "b", VideoLayer::Low));
        // Asking to play again sets it anew.
        p.subscribe(&key("s"), "a", VideoLayer::High);
        assert_eq!(p.cap(&key("s"), "a"), Some(VideoLayer::High));
        p.unsubscribe(&key("s"), "a");
        assert_eq!(p.cap(&key("s"), "a"), None);
    }
}
