//! Benchmark helper for the upload scenario: the image library alone doing what the service's
//! `pictures::process` does to an uploaded picture (decode within the pixel bound and the
//! allocation cap, fit within 512×512 with CatmullRom, apply the EXIF orientation, encode JPEG
//! quality 85, or PNG when the image has alpha), so `bench/run` can set uploads per second against images per second.
//!
//! - `picture_baseline make-input --out FILE [--width 2000 --height 1500]` writes the photo the
//!   scenario uploads: a JPEG stored sideways with an EXIF orientation tag (6) and camera tags,
//!   like a phone's, with smooth gradients and sensor-like noise so it compresses like a photo.
//! - `picture_baseline run --input FILE --threads N --seconds T` processes that file over and
//!   over on N threads for T seconds and prints one JSON line with the images per second.
//!
//! The constants below are the service's (`src/pictures`); bench/tests checks they are equal.

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader, Limits, RgbImage};

/// The service's allocator (src/main.rs): a decoded picture is megabytes, and the system
/// allocator maps and unmaps such blocks on every image, which the service does not pay.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The service's bounds and output settings (`src/pictures`).
const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;
const MAX_PIXELS: u64 = 50_000_000;
const FIT: u32 = 512;
const JPEG_QUALITY: u8 = 85;
/// The decoder's allocation cap: `MAX_PIXELS` at four bytes a pixel (8-bit RGBA).
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4;

#[derive(Debug, Parser)]
#[command(
    name = "picture_baseline",
    about = "The image library alone doing what a picture upload does"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the phone-like JPEG the upload scenario sends.
    MakeInput {
        #[arg(long)]
        out: PathBuf,
        /// Width as stored (the photo is stored sideways: it shows `height` wide).
        #[arg(long, default_value_t = 2000)]
        width: u32,
        #[arg(long, default_value_t = 1500)]
        height: u32,
    },
    /// Process `--input` on `--threads` threads for `--seconds`; print one JSON line.
    Run {
        #[arg(long)]
        input: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::MakeInput { out, width, height } => make_input(&out, width, height),
        Command::Run {
            input,
            threads,
            seconds,
        } => run(&input, threads.max(1), seconds),
    }
}

/// What one upload's processing produced.
struct Output {
    bytes: usize,
    width: u32,
    height: u32,
    format: &'static str,
}

/// Decode within the pixel bound, orient, fit, encode: what the service does to one upload.
fn process(bytes: &[u8]) -> anyhow::Result<Output> {
    if bytes.len() > MAX_PICTURE_BYTES {
        bail!("input over {MAX_PICTURE_BYTES} bytes");
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        bail!("{w}×{h} is over {MAX_PIXELS} pixels");
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)?;
    // Fitted before it is turned, as the service does: the box is square, so the picture is
    // the same, and no second full-size copy is made.
    if img.width() > FIT || img.height() > FIT {
        img = img.resize(FIT, FIT, FilterType::CatmullRom);
    }
    img.apply_orientation(orientation);
    let mut out = Vec::new();
    let format = if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        PngEncoder::new(&mut out).write_image(
            &rgba,
            rgba.width(),
            rgba.height(),
            image::ExtendedColorType::Rgba8,
        )?;
        "png"
    } else {
        let rgb = img.to_rgb8();
        JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).write_image(
            &rgb,
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        )?;
        "jpeg"
    };
    Ok(Output {
        bytes: out.len(),
        width: img.width(),
        height: img.height(),
        format,
    })
}

fn run(input: &PathBuf, threads: usize, seconds: f64) -> anyhow::Result<()> {
    let bytes = Arc::new(std::fs::read(input).with_context(|| format!("reading {input:?}"))?);
    // Untimed: the first image pays for page faults and lazy tables.
    let first = process(&bytes)?;
    let (in_w, in_h) = ImageReader::new(Cursor::new(bytes.as_slice()))
        .with_guessed_format()?
        .into_dimensions()?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (bytes, stop) = (Arc::clone(&bytes), Arc::clone(&stop));
            std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
                let mut ms = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    process(&bytes)?;
                    ms.push(t.elapsed().as_secs_f64() * 1e3);
                }
                Ok(ms)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds.max(0.1)));
    stop.store(true, Ordering::Relaxed);
    let mut ms = Vec::new();
    for w in workers {
        match w.join() {
            Ok(r) => ms.extend(r?),
            Err(_) => bail!("a worker thread panicked"),
        }
    }
    // Every image started before the stop is finished and counted, so the rate is over the
    // time until the last one ended.
    let elapsed = started.elapsed().as_secs_f64();
    ms.sort_by(f64::total_cmp);
    let median = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    let line = serde_json::json!({
        "threads": threads,
        "seconds": elapsed,
        "images": ms.len(),
        "images_per_s": ms.len() as f64 / elapsed,
        "image_ms": {"median": median, "min": ms.first(), "max": ms.last()},
        "input": {"bytes": bytes.len(), "width": in_w, "height": in_h},
        "output": {"bytes": first.bytes, "width": first.width, "height": first.height,
                   "format": first.format},
        "constants": {"max_picture_bytes": MAX_PICTURE_BYTES, "max_pixels": MAX_PIXELS,
                      "max_decode_bytes": MAX_DECODE_BYTES, "fit": FIT,
                      "jpeg_quality": JPEG_QUALITY},
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// A phone-like photo: smooth light over the frame, a few soft shapes, and per-pixel noise
/// (a sensor's), so the JPEG is about the size a photo of these dimensions is.
fn make_input(out: &PathBuf, width: u32, height: u32) -> anyhow::Result<()> {
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % 13) as f32 - 6.0
    };
    let (fw, fh) = (width as f32, height as f32);
    let img = RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / fw, y as f32 / fh);
        let light = 0.55 + 0.45 * ((u * 2.1 + v * 1.3).sin() * 0.5 + 0.5);
        let ripple = ((u * 37.0).sin() * (v * 23.0).cos()) * 18.0;
        let blob = (-(((u - 0.6).powi(2) + (v - 0.4).powi(2)) * 18.0)).exp() * 90.0;
        let base = [
            70.0 + 120.0 * u + blob,
            90.0 + 80.0 * v + ripple,
            150.0 - 60.0 * u + ripple * 0.5,
        ];
        let px = base.map(|c| (c * light + noise()).clamp(0.0, 255.0) as u8);
        image::Rgb(px)
    });
    let mut bytes = Vec::new();
    let mut enc = JpegEncoder::new_with_quality(&mut bytes, 90);
    enc.set_exif_metadata(exif_sideways())
        .map_err(|e| anyhow::anyhow!("EXIF: {e}"))?;
    enc.write_image(&img, width, height, image::ExtendedColorType::Rgb8)?;
    std::fs::write(out, &bytes).with_context(|| format!("writing {out:?}"))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        serde_json::json!({"path": out, "bytes": bytes.len(), "width": width,
                           "height": height, "orientation": 6})
    )?;
    Ok(())
}

/// A little-endian TIFF block, as a camera writes it: Make, Model and Orientation 6 (the
/// picture was taken with the phone turned; shown rotated 90° clockwise).
fn exif_sideways() -> Vec<u8> {
    let make = b"BenchPhone\0";
    let model = b"Model 1\0";
    let entries: u16 = 3;
    let ifd_end = 8 + 2 + 12 * u32::from(entries) + 4;
    let mut t = Vec::new();
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&entries.to_le_bytes());
    let ascii = |t: &mut Vec<u8>, tag: u16, len: usize, offset: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&2u16.to_le_bytes());
        t.extend_from_slice(&(len as u32).to_le_bytes());
        t.extend_from_slice(&offset.to_le_bytes());
    };
    ascii(&mut t, 0x010F, make.len(), ifd_end);
    ascii(&mut t, 0x0110, model.len(), ifd_end + make.len() as u32);
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&6u16.to_le_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(make);
    t.extend_from_slice(model);
    t
}
