//! Cutting an MQTT byte stream into packets with a bound on what is held in memory, without
//! I/O. Both ends of the edge's MQTT use it: the embedded broker's front reading what a device
//! sends, and an MQTT source reading what its broker sends (`transport.rs`).
//!
//! A PUBLISH whose payload is over the limit (or whose topic is longer than
//! [`MAX_TOPIC_BYTES`]) is never held whole: its header (topic, packet id) is read, the
//! rest is dropped as it arrives, and the caller gets an [`Oversized`] notice instead, to
//! refuse the message, record a fault and acknowledge it, so one poisonous message cannot jam a
//! connection. Any other packet over [`MAX_CONTROL_PACKET`] is an error: no broker or
//! device sends SUBSCRIBEs or CONNECTs that large.

use bytes::{Buf, BytesMut};
use rumqttc::mqttbytes::QoS;

/// The longest topic a message may have (MQTT allows 65535 bytes; no device needs so many,
/// and the topic names the device in events and faults).
pub const MAX_TOPIC_BYTES: usize = 1024;

/// The largest packet other than PUBLISH (CONNECT with its will, SUBSCRIBE, acknowledgements).
pub const MAX_CONTROL_PACKET: usize = 64 * 1024;

/// MQTT control packet types (the first byte's high nibble).
pub const CONNECT: u8 = 1;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const PUBREL: u8 = 6;
pub const SUBSCRIBE: u8 = 8;
pub const SUBACK: u8 = 9;

/// What the framer cut from the stream.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A whole packet, at most [`Framer::max_packet`] bytes.
    Packet(BytesMut),
    /// A PUBLISH too large to take: its header was read and the rest is being dropped.
    Oversized(Oversized),
}

/// The header of a PUBLISH that was refused for its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    /// The topic, cut to [`MAX_TOPIC_BYTES`] (and made UTF-8 where it was not).
    pub topic: String,
    /// The topic's length as sent.
    pub topic_bytes: usize,
    pub qos: QoS,
    /// 0 for QoS 0.
    pub pkid: u16,
    pub dup: bool,
    pub retain: bool,
    /// The payload's length as sent.
    pub payload_bytes: usize,
}

/// Bytes that are not MQTT, or a packet other than PUBLISH over [`MAX_CONTROL_PACKET`]: the
/// connection cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("malformed MQTT packet: {0}")]
    Malformed(&'static str),
    #[error(
        "an MQTT packet of type {kind} with {len} bytes, over the limit of {MAX_CONTROL_PACKET} for anything but PUBLISH"
    )]
    TooLarge { kind: u8, len: usize },
}

/// Cuts packets from a buffer that the caller fills; holds only the state of a PUBLISH being
/// dropped.
#[derive(Debug, Clone)]
pub struct Framer {
    max_payload: usize,
    /// Bytes of a refused PUBLISH still to drop.
    skipping: usize,
}

/// The fixed header: packet type and flags, the length of the header and of what follows.
struct Header {
    byte1: u8,
    len: usize,
    remaining: usize,
}

fn header(buf: &[u8]) -> Result<Option<Header>, FramingError> {
    let Some(&byte1) = buf.first() else {
        return Ok(None);
    };
    if matches!(byte1 >> 4, 0 | 15) {
        return Err(FramingError::Malformed("reserved packet type"));
    }
    let mut remaining = 0usize;
    for (i, byte) in buf.iter().skip(1).take(4).enumerate() {
        remaining |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(Header {
                byte1,
                len: i + 2,
                remaining,
            }));
        }
    }
    if buf.len() >= 5 {
        return Err(FramingError::Malformed(
            "remaining length longer than 4 bytes",
        ));
    }
    Ok(None)
}

impl Framer {
    /// A framer that takes PUBLISH payloads up to `max_payload` bytes.
    pub fn new(max_payload: usize) -> Framer {
        Framer {
            max_payload,
            skipping: 0,
        }
    }

    /// The largest packet [`next`](Self::next) returns whole.
    pub fn max_packet(&self) -> usize {
        // Fixed header (5), topic length and topic, packet id, payload.
        (5 + 2 + MAX_TOPIC_BYTES + 2 + self.max_payload).max(5 + MAX_CONTROL_PACKET)
    }

    /// Whether a refused PUBLISH is still being dropped.
    pub fn skipping(&self) -> bool {
        self.skipping > 0
    }

    /// The next frame from the front of `buf`, taking its bytes out; `None` when more bytes
    /// are needed (the caller reads more into `buf` and asks again). Bytes of a refused
    /// PUBLISH are dropped from `buf` as they come, so `buf` never holds more than one whole
    /// packet of at most [`max_packet`](Self::max_packet) bytes plus what was last read.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FramingError> {
        if self.skipping > 0 {
            let n = self.skipping.min(buf.len());
            buf.advance(n);
            self.skipping -= n;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        let Some(h) = header(buf)? else {
            return Ok(None);
        };
        let total = h.len + h.remaining;
        if h.byte1 >> 4 != PUBLISH {
            if h.remaining > MAX_CONTROL_PACKET {
                return Err(FramingError::TooLarge {
                    kind: h.byte1 >> 4,
                    len: h.remaining,
                });
            }
            return Ok((buf.len() >= total).then(|| Frame::Packet(buf.split_to(total))));
        }
        let qos = match (h.byte1 >> 1) & 0b11 {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            _ => return Err(FramingError::Malformed("PUBLISH with QoS 3")),
        };
        if h.remaining < 2 {
            return Err(FramingError::Malformed("PUBLISH without a topic"));
        }
        let Some(len_bytes) = buf.get(h.len..h.len + 2) else {
            return Ok(None);
        };
        let topic_bytes = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let variable = 2 + topic_bytes + if qos == QoS::AtMostOnce { 0 } else { 2 };
        let Some(payload_bytes) = h.remaining.checked_sub(variable) else {
            return Err(FramingError::Malformed(
                "PUBLISH shorter than its topic and packet id",
            ));
        };
        if topic_bytes <= MAX_TOPIC_BYTES && payload_bytes <= self.max_payload {
            return Ok((buf.len() >= total).then(|| Frame::Packet(buf.split_to(total))));
        }
        // Too large: wait only for the variable header (at most 65541 bytes), then drop the
        // payload as it arrives.
        let head = h.len + variable;
        if buf.len() < head {
            return Ok(None);
        }
        let topic_at = h.len + 2;
        let kept = &buf[topic_at..topic_at + topic_bytes.min(MAX_TOPIC_BYTES)];
        let topic = String::from_utf8_lossy(kept).into_owned();
        let pkid = match qos {
            QoS::AtMostOnce => 0,
            _ => u16::from_be_bytes([buf[head - 2], buf[head - 1]]),
        };
        buf.advance(head);
        self.skipping = payload_bytes;
        let dropped = self.skipping.min(buf.len());
        buf.advance(dropped);
        self.skipping -= dropped;
        Ok(Some(Frame::Oversized(Oversized {
            topic,
            topic_bytes,
            qos,
            pkid,
            dup: h.byte1 & 0b1000 != 0,
            retain: h.byte1 & 1 != 0,
            payload_bytes,
        })))
    }
}

/// A byte count for people: `512 B`, `64.0 KiB`, `2.0 MiB`.
pub fn human_bytes(n: usize) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f >= KIB * KIB {
        format!("{:.1} MiB", f / KIB / KIB)
    } else if f >= KIB {
        format!("{:.1} KiB", f / KIB)
    } else {
        format!("{n} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rumqttc::mqttbytes::v4::{Publish, Subscribe};

    fn publish(topic: &str, qos: QoS, pkid: u16, payload: usize) -> BytesMut {
        let mut p = Publish::new(topic, qos, vec![b'x'; payload]);
        p.pkid = pkid;
        let mut out = BytesMut::new();
        p.write(&mut out).unwrap();
        out
    }

    fn subscribe(filter: &str) -> BytesMut {
        let mut s = Subscribe::new(filter, QoS::AtLeastOnce);
        s.pkid = 9;
        let mut out = BytesMut::new();
        s.write(&mut out).unwrap();
        out
    }

    /// The stream, fed in pieces of the given sizes; every frame and the most `buf` held.
    fn feed(stream: &[u8], pieces: &[usize], max_payload: usize) -> (Vec<Frame>, usize) {
        let mut framer = Framer::new(max_payload);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        let mut most = 0;
        let mut at = 0;
        let mut sizes = pieces.iter().cycle();
        while at < stream.len() {
            let n = (*sizes.next().unwrap()).clamp(1, stream.len() - at);
            buf.extend_from_slice(&stream[at..at + n]);
            at += n;
            most = most.max(buf.len());
            while let Some(f) = framer.next(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert!(buf.is_empty() && !framer.skipping(), "all consumed");
        (frames, most)
    }

    fn stream() -> (Vec<u8>, Vec<Frame>) {
        let small = publish("plant/p1/count", QoS::AtLeastOnce, 1, 10);
        let big = publish("plant/p1/count", QoS::AtLeastOnce, 2, 100 * 1024);
        let sub = subscribe("plant/#");
        let huge = publish("plant/p2/count", QoS::AtMostOnce, 0, 2 * 1024 * 1024);
        let long_topic = publish(&"t".repeat(2000), QoS::ExactlyOnce, 3, 1);
        let last = publish("plant/p1/count", QoS::AtLeastOnce, 4, 64 * 1024);
        let mut bytes = Vec::new();
        for p in [&small, &big, &sub, &huge, &long_topic, &last] {
            bytes.extend_from_slice(p);
        }
        let expect = vec![
            Frame::Packet(small),
            Frame::Oversized(Oversized {
                topic: "plant/p1/count".into(),
                topic_bytes: 14,
                qos: QoS::AtLeastOnce,
                pkid: 2,
                dup: false,
                retain: false,
                payload_bytes: 100 * 1024,
            }),
            Frame::Packet(sub),
            Frame::Oversized(Oversized {
                topic: "plant/p2/count".into(),
                topic_bytes: 14,
                qos: QoS::AtMostOnce,
                pkid: 0,
                dup: false,
                retain: false,
                payload_bytes: 2 * 1024 * 1024,
            }),
            Frame::Oversized(Oversized {
                topic: "t".repeat(MAX_TOPIC_BYTES),
                topic_bytes: 2000,
                qos: QoS::ExactlyOnce,
                pkid: 3,
                dup: false,
                retain: false,
                payload_bytes: 1,
            }),
            Frame::Packet(last),
        ];
        (bytes, expect)
    }

    #[test]
    fn oversized_publishes_are_cut_to_their_header_and_the_stream_goes_on() {
        let (bytes, expect) = stream();
        let (frames, most) = feed(&bytes, &[bytes.len()], 64 * 1024);
        assert_eq!(frames, expect);
        assert_eq!(most, bytes.len(), "fed whole, held whole");
        // Fed as a socket would, it never holds an oversized payload.
        let (frames, most) = feed(&bytes, &[16 * 1024], 64 * 1024);
        assert_eq!(frames, expect);
        assert!(
            most <= Framer::new(64 * 1024).max_packet() + 16 * 1024,
            "{most}"
        );
    }

    proptest! {
        #[test]
        fn any_split_of_the_stream_gives_the_same_frames(
            pieces in proptest::collection::vec(1usize..70_000, 1..8)
        ) {
            let (bytes, expect) = stream();
            let (frames, most) = feed(&bytes, &pieces, 64 * 1024);
            prop_assert_eq!(frames, expect);
            prop_assert!(most <= Framer::new(64 * 1024).max_packet() + 70_000);
        }

        #[test]
        fn garbage_is_an_error_or_a_wait_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            let mut framer = Framer::new(16);
            let mut buf = BytesMut::from(&bytes[..]);
            for _ in 0..300 {
                match framer.next(&mut buf) {
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn non_mqtt_and_huge_control_packets_are_errors() {
        let mut f = Framer::new(1024);
        assert!(matches!(
            f.next(&mut BytesMut::from(&[0u8, 0][..])),
            Err(FramingError::Malformed(_))
        ));
        assert!(matches!(
            f.next(&mut BytesMut::from(
                &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01][..]
            )),
            Err(FramingError::Malformed(_))
        ));
        assert!(matches!(
            f.next(&mut BytesMut::from(&[0x36, 0x04, 0, 1, b't', 0][..])),
            Err(FramingError::Malformed(_))
        ));
        // A SUBSCRIBE announcing 1 MiB: refused before any of it arrives.
        assert!(matches!(
            f.next(&mut BytesMut::from(&[0x82, 0x80, 0x80, 0x40][..])),
            Err(FramingError::TooLarge { kind: 8, .. })
        ));
        // A PUBLISH whose topic runs past its packet.
        assert!(matches!(
            f.next(&mut BytesMut::from(&[0x30, 0x03, 0, 9, b't'][..])),
            Err(FramingError::Malformed(_))
        ));
    }

    #[test]
    fn byte_counts_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(100 * 1024), "100.0 KiB");
        assert_eq!(human_bytes(2 * 1024 * 1024), "2.0 MiB");
    }
}
