//! Audio throughput per call-second.
//!
//! Every benchmark processes **one call-second** of audio per iteration (8 000 μ-law bytes, or
//! the equivalent PCM at the source rate) in 20 ms frames, the way the media loop does, and
//! reports `Throughput::Elements(1)`: criterion's `elem/s` figure is therefore "call-seconds
//! processed per CPU-second" (e.g. 100 Kelem/s = one core keeps up with 100 000 concurrent
//! calls for that stage).
//!
//! Run: `cargo bench -p clawops --bench audio`.

use std::hint::black_box;

use clawops::audio::{Gain, Resampler, ulaw_decode_into, ulaw_encode};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn call_second_ulaw() -> Vec<u8> {
    (0..8_000u32)
        .map(|i| clawops::audio::linear_to_ulaw(((i as f32 * 0.05).sin() * 12_000.0) as i16))
        .collect()
}

fn pcm(rate: u32) -> Vec<i16> {
    (0..rate)
        .map(|i| {
            ((i as f32 * 2.0 * std::f32::consts::PI * 440.0 / rate as f32).sin() * 12_000.0) as i16
        })
        .collect()
}

fn codec(c: &mut Criterion) {
    let ulaw = call_second_ulaw();
    let pcm8 = pcm(8_000);
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ulaw_decode/call-second", |b| {
        let mut out = Vec::with_capacity(160);
        b.iter(|| {
            for frame in ulaw.chunks(160) {
                out.clear();
                ulaw_decode_into(black_box(frame), &mut out);
                black_box(&out);
            }
        })
    });
    g.bench_function("ulaw_encode/call-second", |b| {
        b.iter(|| {
            for frame in pcm8.chunks(160) {
                black_box(ulaw_encode(black_box(frame)));
            }
        })
    });
    let gain = Gain::new(1.5).expect("valid gain");
    g.bench_function("gain_1.5/call-second", |b| {
        let mut buf = ulaw.clone();
        b.iter(|| {
            for frame in buf.chunks_mut(160) {
                gain.apply(black_box(frame));
            }
        })
    });
    g.finish();
}

fn resampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("resample");
    g.throughput(Throughput::Elements(1));
    for (from, to) in [
        (8_000, 16_000),
        (8_000, 24_000),
        (16_000, 8_000),
        (24_000, 8_000),
    ] {
        let input = pcm(from);
        let frame = from as usize / 50;
        let mut r = Resampler::new(from, to).expect("supported rates");
        g.bench_function(format!("{from}->{to}/call-second"), |b| {
            b.iter(|| {
                for chunk in input.chunks(frame) {
                    black_box(r.process(black_box(chunk)));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, codec, resampling);
criterion_main!(benches);
