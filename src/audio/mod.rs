//! Audio utilities for the telephony media path.
//!
//! The media socket carries G.711 μ-law at 8 kHz in 20 ms frames (160 bytes). This module has
//! everything the agent needs around that format, with no I/O:
//!
//! - [`ulaw_decode`] / [`ulaw_encode`]: table-based G.711 μ-law ⇄ PCM16;
//! - [`Gain`]: validated rx/tx gain applied directly on μ-law bytes;
//! - [`Resampler`]: streaming, per-stream 8 kHz ⇄ 16/24 kHz resampling (rubato FFT);
//! - [`split_frames`] / [`Framer`]: cutting outbound audio into frames **without** padding a
//!   partial tail;
//! - [`HoldAudio`]: hold-audio clips cut into frame-sized chunks.
//!
//! ```
//! use clawops::audio::{Gain, split_frames, ulaw_decode, ulaw_encode};
//!
//! let pcm: Vec<i16> = (0..400).map(|i| (i * 50) as i16).collect();
//! let mut ulaw = ulaw_encode(&pcm);
//! Gain::new(0.5)?.apply(&mut ulaw);
//! assert_eq!(split_frames(&ulaw).count(), 3);
//! assert_eq!(ulaw_decode(&ulaw).len(), 400);
//! # Ok::<(), clawops::audio::AudioError>(())
//! ```

mod frames;
mod g711;
mod gain;
mod hold;
mod resample;

pub use frames::{
    FRAME_MS, Framer, ULAW_FRAME_BYTES, ULAW_SAMPLE_RATE, split_frames, ulaw_duration_ms,
};
pub use g711::{
    ULAW_SILENCE, linear_to_ulaw, pcm16le_to_ulaw, ulaw_decode, ulaw_decode_into, ulaw_encode,
    ulaw_to_linear, ulaw_to_pcm16le,
};
pub use gain::Gain;
pub use hold::HoldAudio;
pub use resample::{Resampler, resample_clip};

/// Errors of the audio utilities.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// A gain that is NaN, infinite or negative.
    #[error("gain must be finite and >= 0, got {0}")]
    InvalidGain(f32),
    /// The resampler could not be built for these rates.
    #[error("resampler: {0}")]
    Resampler(String),
    /// A WAV file could not be read or has an unsupported format.
    #[error("wav: {0}")]
    Wav(String),
}
