use super::*;
use crate::audio::linear_to_ulaw;

fn read(path: &Path) -> Vec<i16> {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 8000, 16)
    );
    r.samples::<i16>().map(Result::unwrap).collect()
}

fn frame(value: i16, n: usize) -> Vec<u8> {
    vec![linear_to_ulaw(value); n]
}

#[test]
fn sanitises_hostile_call_ids() {
    assert_eq!(sanitize_call_id("CA_1-x"), "CA_1-x");
    let traversal = sanitize_call_id("../../etc/passwd");
    assert!(traversal.starts_with("______etc_passwd-"), "{traversal}");
    assert_eq!(traversal.len(), "______etc_passwd-".len() + 8);
    assert!(sanitize_call_id("a/b\\c").starts_with("a_b_c-"));
    assert!(sanitize_call_id("nul\0byte").starts_with("nul_byte-"));
    assert!(sanitize_call_id("").starts_with("call-"));
    assert!(sanitize_call_id("..").starts_with("__-"));
    let long = "A".repeat(500);
    let s = sanitize_call_id(&long);
    assert_eq!(s.len(), 64 + 9);
    // Distinct hostile ids stay distinct.
    assert_ne!(sanitize_call_id("a/b"), sanitize_call_id("a.b"));
    for id in [
        "../../etc/passwd",
        "a/b",
        "nul\0byte",
        "",
        "..",
        &long,
        "한국어",
    ] {
        let s = sanitize_call_id(id);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "{s}"
        );
    }
}

#[test]
fn hostile_call_id_stays_inside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let rec_dir = dir.path().join("recordings");
    let mut rec = Recorder::create(&rec_dir, "../../etc/passwd").unwrap();
    let files = rec.finish().unwrap();
    for p in [&files.inbound, &files.outbound, &files.mix] {
        assert_eq!(p.parent().unwrap(), rec_dir.as_path());
        assert!(p.exists());
    }
    assert!(
        files
            .inbound
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("_in.wav")
    );
}

#[test]
fn zero_length_call_produces_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "CA0").unwrap();
    let files = rec.finish().unwrap();
    assert!(read(&files.inbound).is_empty());
    assert!(read(&files.outbound).is_empty());
    assert!(read(&files.mix).is_empty());
    assert_eq!(files.mix, dir.path().join("CA0_mix.wav"));
}

#[test]
fn incident_3_inbound_placed_by_media_timestamp_with_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "CA1").unwrap();
    // First timestamp is the base; a 60 ms gap (lost frames) stays a gap.
    rec.record_inbound(&frame(1000, 160), 5_000);
    rec.record_inbound(&frame(2000, 160), 5_020);
    rec.record_inbound(&frame(3000, 160), 5_100);
    let files = rec.finish().unwrap();
    let pcm = read(&files.inbound);
    assert_eq!(pcm.len(), 100 * 8 + 160);
    let d = |v| crate::audio::ulaw_to_linear(linear_to_ulaw(v));
    assert!(pcm[..160].iter().all(|&s| s == d(1000)));
    assert!(pcm[160..320].iter().all(|&s| s == d(2000)));
    assert!(pcm[320..800].iter().all(|&s| s == 0));
    assert!(pcm[800..].iter().all(|&s| s == d(3000)));
    // All three files have the same length.
    assert_eq!(read(&files.outbound).len(), pcm.len());
    assert_eq!(read(&files.mix).len(), pcm.len());
}

#[test]
fn incident_4_outbound_aligned_to_latest_inbound_and_back_to_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "CA2").unwrap();
    // Agent audio before any inbound starts at 0.
    rec.record_outbound(&frame(500, 80));
    rec.record_inbound(&frame(100, 160), 0);
    rec.record_inbound(&frame(100, 160), 200);
    // Reply after the inbound at 200 ms: placed at 1600, not at the cursor (80).
    rec.record_outbound(&frame(700, 160));
    // Same timestamp, next chunk: advances the cursor, no overlap.
    rec.record_outbound(&frame(900, 100));
    let files = rec.finish().unwrap();
    let out = read(&files.outbound);
    let d = |v| crate::audio::ulaw_to_linear(linear_to_ulaw(v));
    assert_eq!(out.len(), 1600 + 160 + 100);
    assert!(out[..80].iter().all(|&s| s == d(500)));
    assert!(out[80..1600].iter().all(|&s| s == 0));
    assert!(out[1600..1760].iter().all(|&s| s == d(700)));
    assert!(out[1760..].iter().all(|&s| s == d(900)));
    let inb = read(&files.inbound);
    assert_eq!(inb.len(), out.len());
    let mix = read(&files.mix);
    assert_eq!(mix.len(), out.len());
    for i in 0..mix.len() {
        let expected = (i32::from(inb[i]) + i32::from(out[i])).clamp(-32768, 32767) as i16;
        assert_eq!(mix[i], expected, "sample {i}");
    }
    assert_eq!(mix[0], d(100) + d(500));
}

#[test]
fn mix_clips_to_sixteen_bits() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "CA3").unwrap();
    rec.record_inbound(&frame(30_000, 160), 0);
    rec.record_outbound(&frame(30_000, 160));
    rec.record_inbound(&frame(-30_000, 160), 20);
    rec.record_outbound(&frame(-30_000, 160));
    let files = rec.finish().unwrap();
    let mix = read(&files.mix);
    assert!(mix[..160].iter().all(|&s| s == 32767));
    assert!(mix[160..].iter().all(|&s| s == -32768));
}

#[test]
fn long_call_streams_to_disk_with_bounded_memory_and_exact_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "CA4").unwrap();
    // 60 s of inbound frames, echo every frame back.
    for i in 0..3_000u64 {
        rec.record_inbound(&frame((i % 100) as i16 * 100, 160), 1_000 + i * 20);
        rec.record_outbound(&frame(-((i % 100) as i16) * 100, 160));
        assert!(rec.inbound.len() as u64 <= WINDOW + FLUSH_BATCH + 160);
        assert!(rec.outbound.len() as u64 <= WINDOW + FLUSH_BATCH + 320);
    }
    // A frame reordered within the window is still placed at its timestamp.
    rec.record_inbound(&frame(4_000, 160), 1_000 + 2_990 * 20);
    assert_eq!(rec.len_samples(), 3_000 * 160);
    let files = rec.finish().unwrap();
    let inb = read(&files.inbound);
    let out = read(&files.outbound);
    assert_eq!(inb.len(), 3_000 * 160);
    assert_eq!(out.len(), 3_000 * 160);
    let d = |v| crate::audio::ulaw_to_linear(linear_to_ulaw(v));
    assert_eq!(inb[2_990 * 160], d(4_000));
    assert_eq!(inb[1_234 * 160], d(34 * 100));
    assert_eq!(out[1_234 * 160], d(-34 * 100));
}

#[test]
fn frames_older_than_the_window_are_dropped_not_misplaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = Recorder::create(dir.path(), "CA5").unwrap();
    for i in 0..500u64 {
        rec.record_inbound(&frame(100, 160), i * 20);
    }
    let before = rec.len_samples();
    rec.record_inbound(&frame(9_000, 160), 0); // 10 s late
    assert_eq!(rec.len_samples(), before);
    let files = rec.finish().unwrap();
    let inb = read(&files.inbound);
    let d = crate::audio::ulaw_to_linear(linear_to_ulaw(100));
    assert!(inb.iter().all(|&s| s == d));
}

#[test]
fn drop_finalises_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = {
        let mut rec = Recorder::create(dir.path(), "CA6").unwrap();
        rec.record_inbound(&frame(100, 160), 0);
        rec.files().clone()
    };
    assert_eq!(read(&files.inbound).len(), 160);
    assert_eq!(read(&files.mix).len(), 160);
}

#[test]
fn unwritable_directory_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(
        Recorder::create(&file, "CA7"),
        Err(AgentError::Recorder(_))
    ));
}
