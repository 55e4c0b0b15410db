//! The deadlines of one connection: handshake timeout and ZMTP 3.1 heartbeats.
//!
//! Time only ever comes in as an argument, so a test can step a connection through an hour
//! of heartbeats in microseconds.

use std::time::{Duration, Instant};

use super::config::HeartbeatConfig;

/// Something that must happen because a deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// The greeting and handshake took too long.
    Handshake(Duration),
    /// No traffic came within the timeout after our PING.
    Heartbeat(Duration),
    /// The peer announced a TTL in its PING and then went silent for that long.
    PeerTtl(Duration),
    /// Time to send the next PING.
    SendPing,
}

#[derive(Debug, Clone)]
pub(crate) struct Timers {
    heartbeat: HeartbeatConfig,
    handshake: Option<(Instant, Duration)>,
    next_ping: Option<Instant>,
    /// Set when we PING; cleared by any traffic.
    awaiting_traffic: Option<Instant>,
    /// Set when the peer PINGs with a TTL; cleared by any later traffic.
    peer_ttl: Option<(Instant, Duration)>,
}

impl Timers {
    pub(crate) fn new(
        now: Instant,
        handshake: Option<Duration>,
        heartbeat: HeartbeatConfig,
    ) -> Self {
        // Zero means "off" for every heartbeat setting, as in libzmq (a zero interval would
        // otherwise ask for a PING at every instant).
        let nonzero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        let heartbeat = HeartbeatConfig {
            interval: nonzero(heartbeat.interval),
            ttl: nonzero(heartbeat.ttl),
            timeout: nonzero(heartbeat.timeout),
        };
        Self {
            heartbeat,
            handshake: handshake.map(|limit| (now + limit, limit)),
            next_ping: None,
            awaiting_traffic: None,
            peer_ttl: None,
        }
    }

    /// The handshake is done; start pinging if the peer understands PING.
    pub(crate) fn on_ready(&mut self, now: Instant, peer_pings: bool) {
        self.handshake = None;
        if peer_pings {
            self.next_ping = self.heartbeat.interval.map(|ivl| now + ivl);
        }
    }

    /// Any octets from the peer are a sign of life.
    pub(crate) fn on_traffic(&mut self) {
        self.awaiting_traffic = None;
        self.peer_ttl = None;
    }

    /// The peer sent a PING announcing a TTL (in tenths of a second).
    pub(crate) fn on_peer_ping(&mut self, now: Instant, ttl_deciseconds: u16) {
        if ttl_deciseconds > 0 && self.peer_ttl.is_none() {
            let ttl = Duration::from_millis(u64::from(ttl_deciseconds) * 100);
            self.peer_ttl = Some((now + ttl, ttl));
        }
    }

    /// The TTL we announce in PINGs, in tenths of a second (saturating at 6553.5 s).
    pub(crate) fn ttl_deciseconds(&self) -> u16 {
        self.heartbeat.ttl.map_or(0, |ttl| {
            (ttl.as_millis() / 100).min(u128::from(u16::MAX)) as u16
        })
    }

    /// Stops every timer (the connection is closed).
    pub(crate) fn clear(&mut self) {
        *self = Self {
            heartbeat: self.heartbeat,
            handshake: None,
            next_ping: None,
            awaiting_traffic: None,
            peer_ttl: None,
        };
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.handshake.map(|(at, _)| at),
            self.next_ping,
            self.awaiting_traffic,
            self.peer_ttl.map(|(at, _)| at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The first deadline that has passed at `now`; fatal ones first. Sending a PING
    /// re-arms the ping timer, so calling this in a loop terminates.
    pub(crate) fn poll_expired(&mut self, now: Instant) -> Option<Expired> {
        if let Some((at, limit)) = self.handshake
            && at <= now
        {
            return Some(Expired::Handshake(limit));
        }
        if let Some(at) = self.awaiting_traffic
            && at <= now
        {
            return Some(Expired::Heartbeat(self.pong_timeout()));
        }
        if let Some((at, ttl)) = self.peer_ttl
            && at <= now
        {
            return Some(Expired::PeerTtl(ttl));
        }
        if let Some(at) = self.next_ping
            && at <= now
        {
            let interval = self
                .heartbeat
                .interval
                .expect("pings are scheduled only with an interval");
            self.next_ping = Some(now + interval);
            if self.awaiting_traffic.is_none() {
                self.awaiting_traffic = Some(now + self.pong_timeout());
            }
            return Some(Expired::SendPing);
        }
        None
    }

    fn pong_timeout(&self) -> Duration {
        self.heartbeat
            .timeout
            .or(self.heartbeat.interval)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn handshake_deadline_fires_once_passed() {
        let t0 = Instant::now();
        let mut timers = Timers::new(t0, Some(secs(5)), HeartbeatConfig::default());
        assert_eq!(timers.next_deadline(), Some(t0 + secs(5)));
        assert_eq!(timers.poll_expired(t0 + secs(4)), None);
        assert_eq!(
            timers.poll_expired(t0 + secs(5)),
            Some(Expired::Handshake(secs(5)))
        );
        timers.on_ready(t0, true);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn ping_then_timeout_unless_traffic() {
        let t0 = Instant::now();
        let heartbeat = HeartbeatConfig {
            interval: Some(secs(1)),
            ttl: Some(Duration::from_millis(2500)),
            timeout: Some(secs(3)),
        };
        let mut timers = Timers::new(t0, None, heartbeat);
        assert_eq!(timers.ttl_deciseconds(), 25);
        timers.on_ready(t0, true);
        assert_eq!(timers.poll_expired(t0 + secs(1)), Some(Expired::SendPing));
        assert_eq!(timers.poll_expired(t0 + secs(1)), None);
        assert_eq!(timers.poll_expired(t0 + secs(2)), Some(Expired::SendPing));
        timers.on_traffic();
        assert_eq!(timers.poll_expired(t0 + secs(3)), Some(Expired::SendPing));
        // The timeout counts from the first unanswered PING (at 3 s), not the latest.
        assert_eq!(timers.poll_expired(t0 + secs(4)), Some(Expired::SendPing));
        assert_eq!(
            timers.poll_expired(t0 + secs(6)),
            Some(Expired::Heartbeat(secs(3)))
        );
    }

    #[test]
    fn no_pings_towards_a_peer_that_cannot_answer() {
        let t0 = Instant::now();
        let heartbeat = HeartbeatConfig {
            interval: Some(secs(1)),
            ..Default::default()
        };
        let mut timers = Timers::new(t0, None, heartbeat);
        timers.on_ready(t0, false);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn zero_settings_mean_off() {
        let t0 = Instant::now();
        let heartbeat = HeartbeatConfig {
            interval: Some(Duration::ZERO),
            ttl: Some(Duration::ZERO),
            timeout: Some(Duration::ZERO),
        };
        let mut timers = Timers::new(t0, None, heartbeat);
        timers.on_ready(t0, true);
        assert_eq!(timers.next_deadline(), None);
        assert_eq!(timers.poll_expired(t0 + secs(1)), None);
        assert_eq!(timers.ttl_deciseconds(), 0);
    }

    #[test]
    fn peer_ttl_is_cleared_by_traffic() {
        let t0 = Instant::now();
        let mut timers = Timers::new(t0, None, HeartbeatConfig::default());
        timers.on_peer_ping(t0, 10);
        assert_eq!(timers.next_deadline(), Some(t0 + secs(1)));
        timers.on_traffic();
        assert_eq!(timers.next_deadline(), None);
        timers.on_peer_ping(t0, 10);
        assert_eq!(
            timers.poll_expired(t0 + secs(1)),
            Some(Expired::PeerTtl(secs(1)))
        );
        timers.on_peer_ping(t0, 0);
    }
}
