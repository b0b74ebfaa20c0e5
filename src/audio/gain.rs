//! Gain applied to μ-law audio (rx gain on caller audio, tx gain on agent audio).

use super::{AudioError, linear_to_ulaw, ulaw_to_linear};

/// A validated linear gain for μ-law audio: finite and ≥ 0.
///
/// Applying a gain decodes each byte, multiplies, rounds half to even, clips to 16 bits and
/// re-encodes. Because μ-law has only 256 values, the whole operation is precomputed into a
/// 256-byte lookup table at construction, so applying it costs one table look-up per sample.
/// A gain of exactly `1.0` leaves bytes untouched.
///
/// ```
/// use clawops::audio::Gain;
///
/// let half = Gain::new(0.5)?;
/// assert_eq!(half.factor(), 0.5);
/// let mut frame = vec![0x80u8; 4];
/// half.apply(&mut frame);
/// assert_ne!(frame, vec![0x80; 4]);
///
/// assert!(Gain::new(f32::NAN).is_err());
/// assert!(Gain::new(-1.0).is_err());
/// # Ok::<(), clawops::audio::AudioError>(())
/// ```
#[derive(Clone)]
pub struct Gain {
    factor: f32,
    table: Option<Box<[u8; 256]>>,
}

impl Gain {
    /// Unity gain: bytes pass unchanged.
    pub const UNITY: Gain = Gain {
        factor: 1.0,
        table: None,
    };

    /// Builds a gain, rejecting NaN, infinities and negative values.
    pub fn new(factor: f32) -> Result<Self, AudioError> {
        if !factor.is_finite() || factor < 0.0 {
            return Err(AudioError::InvalidGain(factor));
        }
        if factor == 1.0 {
            return Ok(Self::UNITY);
        }
        let mut table = Box::new([0u8; 256]);
        for (i, out) in table.iter_mut().enumerate() {
            let scaled = (f64::from(ulaw_to_linear(i as u8)) * f64::from(factor)).round_ties_even();
            let clipped = scaled.clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16;
            *out = linear_to_ulaw(clipped);
        }
        Ok(Self {
            factor,
            table: Some(table),
        })
    }

    /// The linear factor.
    pub fn factor(&self) -> f32 {
        self.factor
    }

    /// Whether this gain leaves audio untouched.
    pub fn is_unity(&self) -> bool {
        self.table.is_none()
    }

    /// Applies the gain in place.
    pub fn apply(&self, ulaw: &mut [u8]) {
        if let Some(table) = &self.table {
            for b in ulaw.iter_mut() {
                *b = table[*b as usize];
            }
        }
    }

    /// Applies the gain into a new buffer.
    pub fn applied(&self, ulaw: &[u8]) -> Vec<u8> {
        let mut out = ulaw.to_vec();
        self.apply(&mut out);
        out
    }
}

impl Default for Gain {
    fn default() -> Self {
        Self::UNITY
    }
}

impl std::fmt::Debug for Gain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Gain").field(&self.factor).finish()
    }
}

impl PartialEq for Gain {
    fn eq(&self, other: &Self) -> bool {
        self.factor == other.factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::ULAW_SILENCE;

    #[test]
    fn rejects_non_finite_and_negative() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.5, -1e-9] {
            assert!(
                matches!(Gain::new(bad), Err(AudioError::InvalidGain(_))),
                "{bad}"
            );
        }
        assert!(Gain::new(0.0).is_ok());
        assert!(Gain::new(1e6).is_ok());
    }

    #[test]
    fn unity_is_identity() {
        let g = Gain::new(1.0).unwrap();
        assert!(g.is_unity());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(g.applied(&all), all);
    }

    #[test]
    fn zero_gain_is_silence() {
        let g = Gain::new(0.0).unwrap();
        let all: Vec<u8> = (0..=255).collect();
        assert!(g.applied(&all).iter().all(|&b| b == ULAW_SILENCE));
    }

    #[test]
    fn gain_matches_reference_computation() {
        let g = Gain::new(2.0).unwrap();
        // 0xF0 decodes to 120; ×2 = 240 → re-encoded.
        assert_eq!(g.applied(&[0xF0]), vec![linear_to_ulaw(240)]);
        // Large values clip at full scale.
        assert_eq!(g.applied(&[0x80]), vec![0x80]);
        assert_eq!(g.applied(&[0x00]), vec![0x00]);
        let half = Gain::new(0.5).unwrap();
        // 0xFE decodes to 8; ×0.5 = 4 → 4 encodes to 0xFF (below first step).
        assert_eq!(half.applied(&[0xFE]), vec![linear_to_ulaw(4)]);
        // Round half to even: 0xF0 = 120 × 0.0125 = 1.5 → 2.
        let g = Gain::new(0.0125).unwrap();
        assert_eq!(g.applied(&[0xF0]), vec![linear_to_ulaw(2)]);
    }
}
