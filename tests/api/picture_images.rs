//! Real image files for the picture tests, made here with the image crate (and by hand where a
//! file must be odd: EXIF segments, a decompression bomb, a GIF).

use std::io::Write;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};

/// A `width`×`height` JPEG: its left half red, its right half blue.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A `width`×`height` PNG with a transparent left half.
pub fn png_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 200, 0, 255])
        }
    });
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&image, width, height, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// A `width`×`height` lossless WebP, all green.
pub fn webp(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_pixel(width, height, Rgb([0, 160, 0]));
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

pub const CAMERA_MAKE: &str = "SecretCameraMaker";
pub const CAMERA_MODEL: &str = "PrivateModel X1";

/// `jpeg` with an EXIF segment: camera make and model, GPS position, and `orientation`.
pub fn jpeg_with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let tiff = tiff_with_tags(orientation);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A big-endian TIFF block: IFD0 (Make, Model, Orientation, GPS pointer), then the GPS IFD
/// (latitude reference and latitude), then the values that do not fit in an entry.
fn tiff_with_tags(orientation: u16) -> Vec<u8> {
    let make = format!("{CAMERA_MAKE}\0");
    let model = format!("{CAMERA_MODEL}\0");
    let ifd0_at = 8u32;
    let ifd0_len = 2 + 4 * 12 + 4;
    let gps_at = ifd0_at + ifd0_len;
    let gps_len = 2 + 2 * 12 + 4;
    let make_at = gps_at + gps_len;
    let model_at = make_at + make.len() as u32;
    let latitude_at = model_at + model.len() as u32;
    let entry = |out: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        out.extend_from_slice(&value);
    };
    let mut t = b"MM\0\x2a".to_vec();
    t.extend_from_slice(&ifd0_at.to_be_bytes());
    t.extend_from_slice(&4u16.to_be_bytes());
    entry(&mut t, 0x010F, 2, make.len() as u32, make_at.to_be_bytes());
    entry(
        &mut t,
        0x0110,
        2,
        model.len() as u32,
        model_at.to_be_bytes(),
    );
    let [o1, o2] = orientation.to_be_bytes();
    entry(&mut t, 0x0112, 3, 1, [o1, o2, 0, 0]);
    entry(&mut t, 0x8825, 4, 1, gps_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&2u16.to_be_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, latitude_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(make.as_bytes());
    t.extend_from_slice(model.as_bytes());
    for (numerator, denominator) in [(52u32, 1u32), (31, 1), (1234, 100)] {
        t.extend_from_slice(&numerator.to_be_bytes());
        t.extend_from_slice(&denominator.to_be_bytes());
    }
    t
}

/// A 20000×20000 black 1-bit PNG: 400 million pixels in a few dozen kilobytes.
pub fn png_bomb() -> Vec<u8> {
    black_png(20_000, 20_000)
}

/// A black 1-bit PNG of any size, its rows compressed to almost nothing.
pub fn black_png(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    let row = vec![0u8; 1 + (width as usize).div_ceil(8)];
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..height {
        deflate.write_all(&row).unwrap();
    }
    let idat = deflate.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &idat), (b"IEND", &[])] {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    out
}

/// A 1×1 GIF.
pub const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00\
!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

pub const SVG: &[u8] = br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10" fill="red"/></svg>"#;

/// A `width`×`height` JPEG of noise: large for its pixel count, as a phone photo is.
pub fn noisy_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    let image = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let [r, g, b, _] = state.to_le_bytes();
        Rgb([r, g, b])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 100)
        .write_image(&image, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}
