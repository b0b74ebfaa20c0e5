//! Call recording: `{call}_in.wav`, `{call}_out.wav`, `{call}_mix.wav` (agent-protocol §10).
//!
//! All three files are 8 kHz mono 16-bit PCM WAV (hound), aligned on one timeline:
//!
//! - inbound audio is placed at its **media timestamp** (relative to the first timestamp seen),
//!   gaps filled with silence, so wall-clock jitter never stretches the file (incident 3);
//! - outbound audio is placed at `max(out cursor, position of the latest inbound frame)`, and
//!   chunks sent back to back advance the cursor (no overlap, incident 4);
//! - the mix is the sample-wise sum, clipped to 16 bits;
//! - at [`Recorder::finish`] the three files are padded to the same length.
//!
//! Memory stays bounded: only the last [`REORDER_WINDOW_MS`] of the timeline is kept in memory
//! (late or reordered frames within it are placed correctly); older audio is streamed to disk.
//!
//! The call id comes from the network, so it is sanitised with [`sanitize_call_id`] before it
//! becomes part of a file name (the peer used it raw: `../../etc/passwd` escaped the directory).

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::AgentError;
use crate::audio::{ULAW_SAMPLE_RATE, ulaw_to_linear};

/// How much of the timeline stays in memory for late/reordered frames.
pub const REORDER_WINDOW_MS: u64 = 2_000;
const SAMPLES_PER_MS: u64 = ULAW_SAMPLE_RATE as u64 / 1000;
const WINDOW: u64 = REORDER_WINDOW_MS * SAMPLES_PER_MS;
/// Flush in batches of at least this many samples (1 s).
const FLUSH_BATCH: u64 = ULAW_SAMPLE_RATE as u64;
const MAX_ID_LEN: usize = 64;

/// Makes a network-supplied call id safe as a file name component: only `A-Z a-z 0-9 _ -`
/// survive (others become `_`), at most 64 characters; when anything had to change, a short
/// hash of the original id is appended so distinct hostile ids do not collide.
///
/// ```
/// use clawops::agent::recorder::sanitize_call_id;
///
/// assert_eq!(sanitize_call_id("CA0123abc"), "CA0123abc");
/// let s = sanitize_call_id("../../etc/passwd");
/// assert!(s.starts_with("______etc_passwd-"));
/// assert!(!s.contains('/') && !s.contains('.'));
/// ```
pub fn sanitize_call_id(call_id: &str) -> String {
    let mut out: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_ID_LEN)
        .collect();
    let changed = out != call_id || out.is_empty();
    if changed {
        // FNV-1a 32: stable across runs and platforms.
        let mut hash: u32 = 0x811c_9dc5;
        for b in call_id.as_bytes() {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        if out.is_empty() {
            out.push_str("call");
        }
        out.push_str(&format!("-{hash:08x}"));
    }
    out
}

/// Paths of the three recording files.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingFiles {
    /// Caller audio (after rx gain).
    pub inbound: PathBuf,
    /// Everything sent to the caller (after tx gain).
    pub outbound: PathBuf,
    /// Sum of both.
    pub mix: PathBuf,
}

type Writer = hound::WavWriter<BufWriter<File>>;

/// Records one call. Not thread-safe by itself: the connection layer owns it per call (e.g. in
/// a `Mutex`) and feeds both legs.
pub struct Recorder {
    files: RecordingFiles,
    writers: Option<[Writer; 3]>,
    base_ts: Option<u64>,
    /// Samples already written to disk (same for all three files).
    flushed: u64,
    inbound: VecDeque<i16>,
    outbound: VecDeque<i16>,
    latest_in_pos: u64,
    out_cursor: u64,
    late_samples_dropped: u64,
    failed: Option<String>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("files", &self.files)
            .field("flushed", &self.flushed)
            .finish_non_exhaustive()
    }
}

fn spec() -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate: ULAW_SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl Recorder {
    /// Creates `dir` (with parents) and the three files for `call_id` (sanitised).
    pub fn create(dir: impl AsRef<Path>, call_id: &str) -> Result<Self, AgentError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .map_err(|e| AgentError::Recorder(format!("{}: {e}", dir.display())))?;
        let stem = sanitize_call_id(call_id);
        let files = RecordingFiles {
            inbound: dir.join(format!("{stem}_in.wav")),
            outbound: dir.join(format!("{stem}_out.wav")),
            mix: dir.join(format!("{stem}_mix.wav")),
        };
        let open = |p: &Path| {
            hound::WavWriter::create(p, spec())
                .map_err(|e| AgentError::Recorder(format!("{}: {e}", p.display())))
        };
        let writers = [
            open(&files.inbound)?,
            open(&files.outbound)?,
            open(&files.mix)?,
        ];
        Ok(Self {
            files,
            writers: Some(writers),
            base_ts: None,
            flushed: 0,
            inbound: VecDeque::new(),
            outbound: VecDeque::new(),
            latest_in_pos: 0,
            out_cursor: 0,
            late_samples_dropped: 0,
            failed: None,
        })
    }

    /// The file paths.
    pub fn files(&self) -> &RecordingFiles {
        &self.files
    }

    /// Caller audio (μ-law after rx gain) with its media timestamp in ms.
    pub fn record_inbound(&mut self, ulaw: &[u8], timestamp_ms: u64) {
        let base = *self.base_ts.get_or_insert(timestamp_ms);
        let pos = timestamp_ms.saturating_sub(base) * SAMPLES_PER_MS;
        self.latest_in_pos = pos;
        place(
            &mut self.inbound,
            self.flushed,
            pos,
            ulaw,
            &mut self.late_samples_dropped,
        );
        self.maybe_flush(false);
    }

    /// Audio sent to the caller (μ-law after tx gain).
    pub fn record_outbound(&mut self, ulaw: &[u8]) {
        let pos = self.out_cursor.max(self.latest_in_pos);
        place(
            &mut self.outbound,
            self.flushed,
            pos,
            ulaw,
            &mut self.late_samples_dropped,
        );
        self.out_cursor = pos + ulaw.len() as u64;
        self.maybe_flush(false);
    }

    fn end(&self) -> u64 {
        self.flushed + self.inbound.len().max(self.outbound.len()) as u64
    }

    fn maybe_flush(&mut self, all: bool) {
        let end = self.end();
        let upto = if all {
            end
        } else {
            let watermark = end.saturating_sub(WINDOW);
            if watermark < self.flushed + FLUSH_BATCH {
                return;
            }
            watermark
        };
        let n = (upto - self.flushed) as usize;
        if let Some(writers) = &mut self.writers
            && self.failed.is_none()
        {
            let mut result = Ok(());
            for i in 0..n {
                let a = self.inbound.get(i).copied().unwrap_or(0);
                let b = self.outbound.get(i).copied().unwrap_or(0);
                let mix = (i32::from(a) + i32::from(b)).clamp(-32768, 32767) as i16;
                result = writers[0]
                    .write_sample(a)
                    .and_then(|()| writers[1].write_sample(b))
                    .and_then(|()| writers[2].write_sample(mix));
                if result.is_err() {
                    break;
                }
            }
            if let Err(e) = result {
                tracing::warn!(path = %self.files.inbound.display(), error = %e, "recording write failed; recording stopped");
                self.failed = Some(e.to_string());
            }
        }
        self.inbound.drain(..n.min(self.inbound.len()));
        self.outbound.drain(..n.min(self.outbound.len()));
        self.flushed = upto;
    }

    /// Writes everything, pads the three files to the same length and finalises the headers.
    /// Idempotent; also run (errors logged) when the recorder is dropped.
    pub fn finish(&mut self) -> Result<RecordingFiles, AgentError> {
        if self.writers.is_some() {
            self.maybe_flush(true);
            if self.late_samples_dropped > 0 {
                tracing::debug!(
                    samples = self.late_samples_dropped,
                    "late audio outside the reorder window was not recorded"
                );
            }
            if let Some(writers) = self.writers.take() {
                for w in writers {
                    if let Err(e) = w.finalize() {
                        self.failed.get_or_insert(e.to_string());
                    }
                }
            }
        }
        match &self.failed {
            Some(e) => Err(AgentError::Recorder(e.clone())),
            None => Ok(self.files.clone()),
        }
    }

    /// Samples in each file so far (written plus buffered), i.e. the final length if the call
    /// ended now.
    pub fn len_samples(&self) -> u64 {
        self.end()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.writers.is_some()
            && let Err(e) = self.finish()
        {
            tracing::warn!(error = %e, "recording could not be finalised");
        }
    }
}

/// Writes decoded μ-law at absolute sample `pos` into a leg buffer starting at `flushed`.
fn place(leg: &mut VecDeque<i16>, flushed: u64, pos: u64, ulaw: &[u8], dropped: &mut u64) {
    let mut samples = ulaw.iter().map(|&b| ulaw_to_linear(b));
    let mut pos = pos;
    if pos < flushed {
        let skip = (flushed - pos).min(ulaw.len() as u64);
        *dropped += skip;
        for _ in 0..skip {
            samples.next();
        }
        pos = flushed;
    }
    let start = (pos - flushed) as usize;
    for (i, s) in samples.enumerate() {
        let idx = start + i;
        if idx < leg.len() {
            leg[idx] = s;
        } else {
            while leg.len() < idx {
                leg.push_back(0);
            }
            leg.push_back(s);
        }
    }
}

#[cfg(test)]
mod tests;
