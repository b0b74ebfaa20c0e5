//! Streaming PCM16 resampling (8 kHz ⇄ 16 kHz / 24 kHz and any WAV rate → 8 kHz).
//!
//! Built on [`rubato`]'s synchronous FFT resampler (band-limited, anti-aliased), unlike the peer's
//! linear interpolation. One [`Resampler`] holds the filter state of **one stream**: give each call
//! and each direction its own instance so audio of different calls never mixes.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use super::AudioError;

/// A streaming mono PCM16 resampler with per-stream state.
///
/// Input may arrive in pieces of any size; output is produced in 20 ms input blocks. The
/// resampler's startup delay is trimmed, so output sample *n* corresponds to input sample
/// *n × out/in*. Call [`Resampler::flush`] at the end of a stream to get the last samples.
///
/// ```
/// use clawops::audio::Resampler;
///
/// let mut up = Resampler::new(8_000, 16_000)?;
/// let mut out = up.process(&[0i16; 800]);   // 100 ms in
/// out.extend(up.flush());
/// assert_eq!(out.len(), 1_600);             // 100 ms out
/// # Ok::<(), clawops::audio::AudioError>(())
/// ```
pub struct Resampler {
    inner: Fft<f32>,
    from: u32,
    to: u32,
    chunk: usize,
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    to_trim: usize,
    consumed: u64,
    produced: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// Creates a resampler from `from` Hz to `to` Hz (both non-zero).
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        if from == 0 || to == 0 {
            return Err(AudioError::Resampler(format!(
                "invalid sample rates {from} -> {to}"
            )));
        }
        // 20 ms of input per block keeps latency at one media frame.
        let chunk = (from as usize / 50).max(1);
        let inner = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input)
            .map_err(|e| AudioError::Resampler(e.to_string()))?;
        let out_max = inner.output_frames_max();
        let to_trim = inner.output_delay();
        Ok(Self {
            inner,
            from,
            to,
            chunk,
            pending: Vec::with_capacity(chunk),
            out_buf: vec![0.0; out_max],
            to_trim,
            consumed: 0,
            produced: 0,
        })
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Feeds samples; returns the resampled samples available now.
    pub fn process(&mut self, pcm: &[i16]) -> Vec<i16> {
        let mut out = Vec::with_capacity(pcm.len() * self.to as usize / self.from as usize + 16);
        for &s in pcm {
            self.pending.push(f32::from(s) / 32768.0);
            if self.pending.len() == self.chunk {
                self.run_block(None, &mut out);
                self.pending.clear();
            }
        }
        self.consumed += pcm.len() as u64;
        out
    }

    /// Ends the stream: processes the partial block and drains the filter delay so the total
    /// output length is `round_up(input × to / from)`. The resampler is reset afterwards.
    pub fn flush(&mut self) -> Vec<i16> {
        let expected = (self.consumed * u64::from(self.to))
            .div_ceil(u64::from(self.from))
            .saturating_sub(self.produced);
        let mut out = Vec::new();
        let partial = self.pending.len();
        if partial > 0 {
            self.pending.resize(self.chunk, 0.0);
            self.run_block(Some(partial), &mut out);
        }
        let mut guard = 0;
        while (out.len() as u64) < expected && guard < 64 {
            self.pending.clear();
            self.pending.resize(self.chunk, 0.0);
            self.run_block(Some(0), &mut out);
            guard += 1;
        }
        out.truncate(expected as usize);
        self.reset();
        out
    }

    /// Forgets all state (start of a new stream).
    pub fn reset(&mut self) {
        self.inner.reset();
        self.pending.clear();
        self.to_trim = self.inner.output_delay();
        self.consumed = 0;
        self.produced = 0;
    }

    fn run_block(&mut self, partial: Option<usize>, out: &mut Vec<i16>) {
        let frames_in = self.chunk;
        let frames_out = self.out_buf.len();
        let (Ok(input), Ok(mut output)) = (
            InterleavedSlice::new(&self.pending[..], 1, frames_in),
            InterleavedSlice::new_mut(&mut self.out_buf[..], 1, frames_out),
        ) else {
            return;
        };
        let indexing = partial.map(|p| Indexing::new().partial_len(p));
        let produced = match self
            .inner
            .process_into_buffer(&input, &mut output, indexing.as_ref())
        {
            Ok((_, produced)) => produced,
            Err(err) => {
                tracing::warn!(error = %err, "resampler block failed; block dropped");
                return;
            }
        };
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        for &v in &self.out_buf[skip..produced] {
            out.push((v * 32768.0).round().clamp(-32768.0, 32767.0) as i16);
        }
        self.produced += (produced - skip) as u64;
    }
}

/// Resamples a whole clip in one go (e.g. a hold-audio WAV file).
pub fn resample_clip(pcm: &[i16], from: u32, to: u32) -> Result<Vec<i16>, AudioError> {
    if from == to {
        return Ok(pcm.to_vec());
    }
    let mut r = Resampler::new(from, to)?;
    let mut out = r.process(pcm);
    out.extend(r.flush());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f32, ms: u32, amp: f32) -> Vec<i16> {
        let n = (rate * ms / 1000) as usize;
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin()) as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn lengths_are_exact_for_supported_ratios() {
        for (from, to, n_in, n_out) in [
            (8_000, 16_000, 8_000, 16_000),
            (16_000, 8_000, 16_000, 8_000),
            (8_000, 24_000, 8_000, 24_000),
            (24_000, 8_000, 24_000, 8_000),
            (8_000, 16_000, 1_234, 2_468),
            (24_000, 8_000, 1_001, 334),
        ] {
            let out = resample_clip(&vec![0i16; n_in], from, to).unwrap();
            assert_eq!(out.len(), n_out, "{from}->{to} with {n_in} samples");
        }
    }

    #[test]
    fn streaming_in_odd_pieces_equals_one_shot() {
        let input = sine(8_000, 440.0, 300, 8_000.0);
        let one_shot = resample_clip(&input, 8_000, 16_000).unwrap();
        let mut r = Resampler::new(8_000, 16_000).unwrap();
        let mut streamed = Vec::new();
        for piece in input.chunks(37) {
            streamed.extend(r.process(piece));
        }
        streamed.extend(r.flush());
        assert_eq!(streamed, one_shot);
    }

    #[test]
    fn tone_survives_round_trip_and_aliases_are_removed() {
        // 1 kHz survives 8k -> 24k -> 8k with its level.
        let input = sine(8_000, 1_000.0, 500, 10_000.0);
        let up = resample_clip(&input, 8_000, 24_000).unwrap();
        let down = resample_clip(&up, 24_000, 8_000).unwrap();
        assert_eq!(down.len(), input.len());
        let mid = 800..3_200;
        let ratio = rms(&down[mid.clone()]) / rms(&input[mid]);
        assert!((0.9..1.1).contains(&ratio), "level ratio {ratio}");
        // A 6 kHz tone at 24 kHz is above the 4 kHz Nyquist of 8 kHz: it must be filtered out.
        let high = sine(24_000, 6_000.0, 500, 10_000.0);
        let down = resample_clip(&high, 24_000, 8_000).unwrap();
        assert!(rms(&down[800..3_200]) < 300.0, "alias rms {}", rms(&down));
    }

    #[test]
    fn independent_streams_do_not_share_state() {
        let a = sine(8_000, 300.0, 100, 9_000.0);
        let mut r1 = Resampler::new(8_000, 16_000).unwrap();
        let mut r2 = Resampler::new(8_000, 16_000).unwrap();
        let mut out1 = r1.process(&a);
        let _ = r2.process(&vec![12_000i16; 800]);
        out1.extend(r1.flush());
        assert_eq!(out1, resample_clip(&a, 8_000, 16_000).unwrap());
    }

    #[test]
    fn rejects_zero_rates() {
        assert!(Resampler::new(0, 8_000).is_err());
        assert!(Resampler::new(8_000, 0).is_err());
    }
}
