//! Hold audio played while tools run (agent-protocol §7.5, §11.4).

use std::path::Path;

use bytes::Bytes;

use super::{AudioError, ULAW_FRAME_BYTES, ULAW_SAMPLE_RATE, resample_clip, ulaw_encode};

/// A hold-audio clip as μ-law 8 kHz, cut into 160-byte chunks (the last one may be shorter).
///
/// The player (connection layer) loops the chunks through `send_audio`, one per 20 ms, and sends
/// `clear` when the tool batch finishes. Hold audio is never played for a batch containing
/// `collect_dtmf` (incident 49).
///
/// ```
/// use clawops::audio::HoldAudio;
///
/// let hold = HoldAudio::from_ulaw(vec![0xFF; 400]);
/// let sizes: Vec<usize> = hold.chunks().iter().map(|c| c.len()).collect();
/// assert_eq!(sizes, vec![160, 160, 80]);
/// ```
#[derive(Clone)]
pub struct HoldAudio {
    chunks: Vec<Bytes>,
}

impl std::fmt::Debug for HoldAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoldAudio")
            .field("chunks", &self.chunks.len())
            .finish()
    }
}

impl HoldAudio {
    /// Raw μ-law 8 kHz bytes, used as they are.
    pub fn from_ulaw(ulaw: impl Into<Bytes>) -> Self {
        let all: Bytes = ulaw.into();
        let chunks = (0..all.len())
            .step_by(ULAW_FRAME_BYTES)
            .map(|start| all.slice(start..(start + ULAW_FRAME_BYTES).min(all.len())))
            .collect();
        Self { chunks }
    }

    /// A 16-bit PCM WAV file at any rate; stereo uses the left channel; resampled to 8 kHz.
    pub fn from_wav(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let reader = hound::WavReader::open(path.as_ref())
            .map_err(|e| AudioError::Wav(format!("{}: {e}", path.as_ref().display())))?;
        Self::from_wav_reader(reader)
    }

    /// Like [`HoldAudio::from_wav`], from bytes in memory.
    pub fn from_wav_bytes(wav: &[u8]) -> Result<Self, AudioError> {
        let reader = hound::WavReader::new(std::io::Cursor::new(wav))
            .map_err(|e| AudioError::Wav(e.to_string()))?;
        Self::from_wav_reader(reader)
    }

    fn from_wav_reader<R: std::io::Read>(reader: hound::WavReader<R>) -> Result<Self, AudioError> {
        let spec = reader.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(AudioError::Wav(format!(
                "hold audio must be 16-bit PCM WAV, got {:?} {} bits",
                spec.sample_format, spec.bits_per_sample
            )));
        }
        let channels = usize::from(spec.channels.max(1));
        let mut left = Vec::new();
        for (i, sample) in reader.into_samples::<i16>().enumerate() {
            let sample = sample.map_err(|e| AudioError::Wav(e.to_string()))?;
            if i % channels == 0 {
                left.push(sample);
            }
        }
        let pcm = resample_clip(&left, spec.sample_rate, ULAW_SAMPLE_RATE)?;
        Ok(Self::from_ulaw(ulaw_encode(&pcm)))
    }

    /// A generated soft chime (C5 pentatonic bell notes, volume 0.12), about 12.8 s per loop.
    pub fn chime() -> Self {
        const NOTES: [f32; 8] = [
            523.25, 659.25, 783.99, 880.0, 783.99, 659.25, 587.33, 523.25,
        ];
        let rate = ULAW_SAMPLE_RATE as f32;
        let note_len = (rate * 1.6) as usize;
        let mut pcm = Vec::with_capacity(note_len * NOTES.len());
        for freq in NOTES {
            for i in 0..note_len {
                let t = i as f32 / rate;
                let env = (-3.0 * t).exp() * (t * 200.0).min(1.0);
                let v = (2.0 * std::f32::consts::PI * freq * t).sin() * 0.8
                    + (4.0 * std::f32::consts::PI * freq * t).sin() * 0.2;
                pcm.push((v * env * 0.12 * 32767.0) as i16);
            }
        }
        Self::from_ulaw(ulaw_encode(&pcm))
    }

    /// The chunks, in playback order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// Whether the clip is empty.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, bits: u16, frames: usize) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = std::io::Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
            for i in 0..frames {
                for ch in 0..channels {
                    // left = loud, right = silent, so we can tell which one was used
                    let v: i32 = if ch == 0 { 8_000 } else { 0 };
                    if bits == 16 && rate == 8_000 {
                        w.write_sample(v as i16 * if i % 2 == 0 { 1 } else { -1 })
                            .unwrap();
                    } else if bits == 16 {
                        // a 200 Hz tone on the left channel
                        let t = i as f32 / rate as f32;
                        let s = (2.0 * std::f32::consts::PI * 200.0 * t).sin() * v as f32;
                        w.write_sample(s as i16).unwrap();
                    } else {
                        w.write_sample(v).unwrap();
                    }
                }
            }
            w.finalize().unwrap();
        }
        cur.into_inner()
    }

    #[test]
    fn raw_ulaw_is_chunked_without_padding() {
        let hold = HoldAudio::from_ulaw((0..=255u8).cycle().take(500).collect::<Vec<_>>());
        let sizes: Vec<usize> = hold.chunks().iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![160, 160, 160, 20]);
        assert_eq!(hold.chunks()[3][0], (480 % 256) as u8);
    }

    #[test]
    fn stereo_wav_uses_left_and_resamples_to_8k() {
        let hold = HoldAudio::from_wav_bytes(&wav(16_000, 2, 16, 16_000)).unwrap();
        let total: usize = hold.chunks().iter().map(|c| c.len()).sum();
        assert_eq!(total, 8_000);
        // Not silence: the loud left channel was taken.
        assert!(hold.chunks()[10].iter().any(|&b| b != 0xFF));
    }

    #[test]
    fn eight_khz_wav_is_encoded_as_is() {
        let hold = HoldAudio::from_wav_bytes(&wav(8_000, 1, 16, 320)).unwrap();
        assert_eq!(hold.chunks().len(), 2);
        assert_eq!(hold.chunks()[0][0], crate::audio::linear_to_ulaw(8_000));
        assert_eq!(hold.chunks()[0][1], crate::audio::linear_to_ulaw(-8_000));
    }

    #[test]
    fn non_16_bit_wav_is_rejected() {
        let err = HoldAudio::from_wav_bytes(&wav(8_000, 1, 24, 10)).unwrap_err();
        assert!(matches!(err, AudioError::Wav(_)));
        assert!(matches!(
            HoldAudio::from_wav("/nonexistent/hold.wav"),
            Err(AudioError::Wav(_))
        ));
    }

    #[test]
    fn chime_is_about_thirteen_seconds() {
        let chime = HoldAudio::chime();
        let total: usize = chime.chunks().iter().map(|c| c.len()).sum();
        assert_eq!(total, 8 * 12_800);
        assert!(chime.chunks().iter().all(|c| c.len() == 160));
    }
}
