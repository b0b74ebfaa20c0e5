//! Framing of outbound μ-law audio into 20 ms media frames.
//!
//! The platform paces playback itself, so the SDK only cuts audio into frames. The one rule that
//! matters (agent-protocol §3.6, incident 28): a partial last frame is sent **raw**, never padded
//! with silence. Padding mid-stream put 0–19 ms holes inside utterances; the server pads at the
//! next mark, where it knows the segment really ended.

use bytes::{Bytes, BytesMut};

/// μ-law sample rate on the media socket.
pub const ULAW_SAMPLE_RATE: u32 = 8_000;
/// Duration of one media frame in milliseconds.
pub const FRAME_MS: u32 = 20;
/// Bytes of one 20 ms μ-law frame at 8 kHz.
pub const ULAW_FRAME_BYTES: usize = 160;

/// Splits a μ-law buffer into 160-byte frames; the last frame may be shorter and is **not** padded.
///
/// ```
/// let frames: Vec<_> = clawops::audio::split_frames(&[0u8; 350]).collect();
/// assert_eq!(frames.iter().map(|f| f.len()).collect::<Vec<_>>(), vec![160, 160, 30]);
/// ```
pub fn split_frames(ulaw: &[u8]) -> impl Iterator<Item = &[u8]> {
    ulaw.chunks(ULAW_FRAME_BYTES)
}

/// Streaming re-framer: accepts audio in arbitrary pieces and yields whole 160-byte frames,
/// carrying the remainder to the next push. [`Framer::finish`] returns the remainder raw.
///
/// ```
/// use clawops::audio::Framer;
///
/// let mut framer = Framer::new();
/// assert!(framer.push(&[1u8; 100]).is_empty());
/// let frames = framer.push(&[2u8; 100]);
/// assert_eq!(frames.len(), 1);
/// assert_eq!(frames[0].len(), 160);
/// assert_eq!(framer.finish().map(|tail| tail.len()), Some(40));
/// assert_eq!(framer.finish(), None);
/// ```
#[derive(Debug, Default)]
pub struct Framer {
    carry: BytesMut,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds audio; returns every complete frame now available, in order.
    pub fn push(&mut self, ulaw: &[u8]) -> Vec<Bytes> {
        self.carry.extend_from_slice(ulaw);
        let mut out = Vec::with_capacity(self.carry.len() / ULAW_FRAME_BYTES);
        while self.carry.len() >= ULAW_FRAME_BYTES {
            out.push(self.carry.split_to(ULAW_FRAME_BYTES).freeze());
        }
        out
    }

    /// Bytes waiting for a complete frame.
    pub fn pending(&self) -> usize {
        self.carry.len()
    }

    /// Ends a segment: returns the partial remainder unpadded (or `None` when empty).
    pub fn finish(&mut self) -> Option<Bytes> {
        if self.carry.is_empty() {
            None
        } else {
            Some(self.carry.split().freeze())
        }
    }

    /// Drops the remainder (barge-in).
    pub fn clear(&mut self) {
        self.carry.clear();
    }
}

/// Duration of a μ-law buffer at 8 kHz, in milliseconds (rounded down).
pub fn ulaw_duration_ms(len: usize) -> u64 {
    (len as u64 * 1000) / u64::from(ULAW_SAMPLE_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_28_partial_tail_is_not_padded() {
        let audio: Vec<u8> = (0..=255u8).cycle().take(170).collect();
        let frames: Vec<&[u8]> = split_frames(&audio).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], &audio[..160]);
        // The tail is the raw 10 bytes, no 0xFF padding.
        assert_eq!(frames[1], &audio[160..]);
        assert_eq!(frames[1].len(), 10);
    }

    #[test]
    fn exact_multiple_has_no_tail() {
        assert_eq!(split_frames(&[0u8; 320]).count(), 2);
        assert_eq!(split_frames(&[]).count(), 0);
    }

    #[test]
    fn framer_carries_and_finishes_raw() {
        let mut f = Framer::new();
        let a: Vec<u8> = (0..150).map(|i| i as u8).collect();
        assert!(f.push(&a).is_empty());
        assert_eq!(f.pending(), 150);
        let b: Vec<u8> = (150..400).map(|i| (i % 256) as u8).collect();
        let frames = f.push(&b);
        assert_eq!(frames.len(), 2);
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        let all: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
        assert_eq!(joined, all[..320]);
        let tail = f.finish().unwrap();
        assert_eq!(&tail[..], &all[320..]);
        assert_eq!(f.pending(), 0);
        f.push(&[1, 2, 3]);
        f.clear();
        assert_eq!(f.finish(), None);
    }

    #[test]
    fn durations() {
        assert_eq!(ulaw_duration_ms(160), 20);
        assert_eq!(ulaw_duration_ms(8000), 1000);
        assert_eq!(ulaw_duration_ms(7), 0);
    }
}
