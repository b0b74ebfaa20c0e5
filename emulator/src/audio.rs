//! G.711 μ-law, caller audio sources and the two-leg WAV recording.

use std::io::Cursor;

/// Bytes in one 20 ms μ-law frame at 8 kHz.
pub const FRAME_BYTES: usize = 160;
/// μ-law silence.
pub const ULAW_SILENCE: u8 = 0xFF;
const SAMPLE_RATE: u32 = 8000;

/// Encodes one linear PCM16 sample as G.711 μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes one G.711 μ-law byte to linear PCM16.
pub fn ulaw_to_linear(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// What the simulated caller says.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CallerAudio {
    /// A 440 Hz sine tone.
    Tone,
    /// μ-law silence.
    Silence,
    /// A speech-like pattern: 1.2 s of modulated voice-band tones, then 0.4 s of silence, repeated,
    /// ending with silence so a voice-activity detector sees an end of speech.
    Speech,
    /// 8 kHz mono WAV file (PCM16 or μ-law; other rates are resampled by nearest sample).
    Wav(String),
    /// Frames stamped for latency measurement: the first 8 bytes of frame `n` are `n` as a
    /// little-endian `u64`, the rest is silence. An agent that echoes them lets the emulator
    /// time each frame from caller out to agent in (`echoDelaysUs` in the call's view).
    Stamped,
}

impl CallerAudio {
    /// Parses the control API's `audio` value (`tone`, `silence`, `speech` or a WAV path).
    pub fn parse(value: &str) -> Self {
        match value {
            "tone" => Self::Tone,
            "silence" => Self::Silence,
            "speech" => Self::Speech,
            "stamped" => Self::Stamped,
            path => Self::Wav(path.to_owned()),
        }
    }

    /// Renders `seconds` of audio as μ-law bytes (a whole number of 20 ms frames).
    pub fn render(&self, seconds: f64) -> Result<Vec<u8>, String> {
        let frames = ((seconds.max(0.0) * 50.0).round() as usize).max(1);
        let n = frames * FRAME_BYTES;
        let pcm: Vec<i16> = match self {
            Self::Silence => return Ok(vec![ULAW_SILENCE; n]),
            Self::Stamped => {
                let mut out = vec![ULAW_SILENCE; n];
                for (k, frame) in out.chunks_mut(FRAME_BYTES).enumerate() {
                    frame[..8].copy_from_slice(&(k as u64).to_le_bytes());
                }
                return Ok(out);
            }
            Self::Tone => (0..n).map(|i| sine(i, 440.0, 8000.0)).collect(),
            Self::Speech => (0..n)
                .map(|i| {
                    let t = i % 12_800; // 1.6 s period
                    if t < 9_600 && i + 4_000 < n {
                        let envelope = (std::f64::consts::PI * t as f64 / 9_600.0).sin();
                        let a = sine(i, 220.0 + 60.0 * (i as f64 / 4000.0).sin(), 6000.0);
                        let b = sine(i, 660.0, 2500.0);
                        ((f64::from(a) + f64::from(b)) * envelope) as i16
                    } else {
                        0
                    }
                })
                .collect(),
            Self::Wav(path) => read_wav(path)?,
        };
        let mut out: Vec<u8> = pcm.into_iter().map(linear_to_ulaw).collect();
        if matches!(self, Self::Wav(_)) {
            let whole = out.len().div_ceil(FRAME_BYTES).max(1) * FRAME_BYTES;
            out.resize(whole, ULAW_SILENCE);
        }
        Ok(out)
    }
}

fn sine(i: usize, freq: f64, amplitude: f64) -> i16 {
    (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(SAMPLE_RATE)).sin())
        as i16
}

fn read_wav(path: &str) -> Result<Vec<i16>, String> {
    let mut reader =
        hound::WavReader::open(path).map_err(|e| format!("cannot read WAV {path}: {e}"))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let samples: Vec<i16> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 16) => reader.samples::<i16>().filter_map(Result::ok).collect(),
        (hound::SampleFormat::Int, 8) => reader
            .samples::<i8>()
            .filter_map(Result::ok)
            .map(|s| i16::from(s) << 8)
            .collect(),
        (hound::SampleFormat::Int, bits) if bits > 16 => reader
            .samples::<i32>()
            .filter_map(Result::ok)
            .map(|s| (s >> (bits - 16)) as i16)
            .collect(),
        (hound::SampleFormat::Float, _) => reader
            .samples::<f32>()
            .filter_map(Result::ok)
            .map(|s| (s.clamp(-1.0, 1.0) * 32_767.0) as i16)
            .collect(),
        _ => return Err(format!("unsupported WAV format in {path}")),
    };
    let mono: Vec<i16> = samples
        .chunks(channels)
        .filter_map(|c| c.first().copied())
        .collect();
    if spec.sample_rate == SAMPLE_RATE {
        return Ok(mono);
    }
    let ratio = f64::from(spec.sample_rate) / f64::from(SAMPLE_RATE);
    let len = (mono.len() as f64 / ratio) as usize;
    Ok((0..len)
        .filter_map(|i| mono.get((i as f64 * ratio) as usize).copied())
        .collect())
}

/// Both legs of a call, as μ-law, aligned on the call's media clock.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    caller: Vec<u8>,
    agent: Vec<u8>,
}

impl Recording {
    pub(crate) fn caller(&mut self, ulaw: &[u8]) {
        self.caller.extend_from_slice(ulaw);
    }

    /// Agent audio as it is played. A reply that starts after a pause is placed at the caller's
    /// clock (less the frame being played in the same tick), so the two legs stay aligned.
    pub(crate) fn agent(&mut self, ulaw: &[u8]) {
        let clock = self.caller.len().saturating_sub(FRAME_BYTES);
        if self.agent.len() < clock {
            self.agent.resize(clock, ULAW_SILENCE);
        }
        self.agent.extend_from_slice(ulaw);
    }

    /// A stereo 8 kHz PCM16 WAV: left = caller, right = agent.
    pub(crate) fn to_wav(&self) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = Cursor::new(Vec::new());
        let len = self.caller.len().max(self.agent.len());
        if let Ok(mut writer) = hound::WavWriter::new(&mut cursor, spec) {
            for i in 0..len {
                let l = self.caller.get(i).copied().unwrap_or(ULAW_SILENCE);
                let r = self.agent.get(i).copied().unwrap_or(ULAW_SILENCE);
                if writer.write_sample(ulaw_to_linear(l)).is_err()
                    || writer.write_sample(ulaw_to_linear(r)).is_err()
                {
                    break;
                }
            }
            let _ = writer.finalize();
        }
        cursor.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_round_trip_is_close() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        for s in [-32_000i16, -1000, -1, 0, 1, 100, 1000, 8000, 32_000] {
            let back = ulaw_to_linear(linear_to_ulaw(s));
            assert!(
                (i32::from(back) - i32::from(s)).abs() <= i32::from(s).abs() / 16 + 8,
                "{s} -> {back}"
            );
        }
    }

    #[test]
    fn renders_whole_frames() {
        assert_eq!(CallerAudio::Tone.render(1.0).unwrap().len(), 8000);
        assert_eq!(CallerAudio::Silence.render(0.02).unwrap(), vec![0xFF; 160]);
        let speech = CallerAudio::Speech.render(2.0).unwrap();
        assert_eq!(speech.len(), 16_000);
        assert_eq!(&speech[15_000..], &[0xFF; 1000][..]);
    }
}
