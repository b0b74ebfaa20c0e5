//! G.711 μ-law ⇄ linear PCM16, table based.
//!
//! Both directions are plain table look-ups computed at compile time: decoding uses the standard
//! 256-entry G.711 table, encoding a 65 536-entry table indexed by the sample (the reference
//! algorithm with a 32 635 clip and a 0x84 bias, evaluated once per possible input).

/// One μ-law byte of digital silence (PCM 0 encodes to `0xFF`).
pub const ULAW_SILENCE: u8 = 0xFF;

const BIAS: i32 = 0x84;
const CLIP: i32 = 32_635;

const fn decode_one(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if sign != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn encode_one(sample: i16) -> u8 {
    let mut value = sample as i32;
    let sign: i32 = if value < 0 { 0x80 } else { 0 };
    if value < 0 {
        value = -value;
    }
    if value > CLIP {
        value = CLIP;
    }
    value += BIAS;
    let mut exponent: i32 = 7;
    let mut mask: i32 = 0x4000;
    while exponent > 0 && (value & mask) == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (value >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

const DECODE: [i16; 256] = {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_one(i as u8);
        i += 1;
    }
    table
};

static ENCODE: [u8; 65_536] = {
    let mut table = [0u8; 65_536];
    let mut i = 0;
    while i < 65_536 {
        // index = sample as u16
        table[i] = encode_one(i as u16 as i16);
        i += 1;
    }
    table
};

/// Decodes one μ-law byte to a linear PCM16 sample.
///
/// ```
/// assert_eq!(clawops::audio::ulaw_to_linear(0x00), -32124);
/// assert_eq!(clawops::audio::ulaw_to_linear(0xFF), 0);
/// ```
#[inline]
pub fn ulaw_to_linear(byte: u8) -> i16 {
    DECODE[byte as usize]
}

/// Encodes one linear PCM16 sample to μ-law (magnitude clipped at 32 635).
///
/// ```
/// assert_eq!(clawops::audio::linear_to_ulaw(0), 0xFF);
/// assert_eq!(clawops::audio::linear_to_ulaw(i16::MIN), 0x00);
/// ```
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    ENCODE[sample as u16 as usize]
}

/// Decodes a μ-law buffer to PCM16 samples.
///
/// ```
/// let pcm = clawops::audio::ulaw_decode(&[0xFF, 0x80]);
/// assert_eq!(pcm, vec![0, 32124]);
/// ```
pub fn ulaw_decode(ulaw: &[u8]) -> Vec<i16> {
    ulaw.iter().map(|&b| DECODE[b as usize]).collect()
}

/// Decodes a μ-law buffer into `out` (appending), avoiding a fresh allocation per frame.
pub fn ulaw_decode_into(ulaw: &[u8], out: &mut Vec<i16>) {
    out.extend(ulaw.iter().map(|&b| DECODE[b as usize]));
}

/// Encodes PCM16 samples to μ-law.
///
/// ```
/// assert_eq!(clawops::audio::ulaw_encode(&[0, 32124]), vec![0xFF, 0x80]);
/// ```
pub fn ulaw_encode(pcm: &[i16]) -> Vec<u8> {
    pcm.iter().map(|&s| linear_to_ulaw(s)).collect()
}

/// Decodes μ-law to PCM16 **little-endian bytes** (the wire format of PCM media profiles and WAV).
pub fn ulaw_to_pcm16le(ulaw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ulaw.len() * 2);
    for &b in ulaw {
        out.extend_from_slice(&DECODE[b as usize].to_le_bytes());
    }
    out
}

/// Encodes PCM16 little-endian bytes to μ-law; a trailing odd byte is ignored.
pub fn pcm16le_to_ulaw(pcm: &[u8]) -> Vec<u8> {
    pcm.chunks_exact(2)
        .map(|c| linear_to_ulaw(i16::from_le_bytes([c[0], c[1]])))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_decode_values() {
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x0F), -16764);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(ulaw_to_linear(0x70), -120);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0x7E), -8);
    }

    #[test]
    fn known_encode_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(32635), 0x80);
        assert_eq!(linear_to_ulaw(8), 0xFE);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
    }

    #[test]
    fn full_256_round_trip() {
        for b in 0u8..=255 {
            let pcm = ulaw_to_linear(b);
            let back = linear_to_ulaw(pcm);
            // 0x7F (-0) decodes to 0, which encodes to the canonical +0 (0xFF).
            let expected = if b == 0x7F { 0xFF } else { b };
            assert_eq!(back, expected, "byte {b:#04x} -> {pcm} -> {back:#04x}");
        }
    }

    #[test]
    fn table_matches_reference_for_every_sample() {
        for s in i16::MIN..=i16::MAX {
            assert_eq!(linear_to_ulaw(s), encode_one(s));
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        let mut last = ulaw_to_linear(linear_to_ulaw(i16::MIN));
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let d = ulaw_to_linear(linear_to_ulaw(s));
            assert!(d >= last);
            last = d;
        }
    }

    #[test]
    fn le_byte_helpers() {
        let bytes = ulaw_to_pcm16le(&[0x80, 0xFF]);
        assert_eq!(bytes, vec![0x7C, 0x7D, 0x00, 0x00]);
        assert_eq!(pcm16le_to_ulaw(&bytes), vec![0x80, 0xFF]);
        assert_eq!(pcm16le_to_ulaw(&[0x00, 0x00, 0x01]), vec![0xFF]);
    }
}
