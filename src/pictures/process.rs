//! Decode → fit → orient → encode: what an uploaded picture becomes. Pure and synchronous, so
//! the benchmark can run the very same work; the service runs it on the picture pool.
//!
//! The format is recognised from the content alone. The pixel count is read from the header
//! and refused before any pixel is decoded, and the decoder's allocations are capped as well,
//! so one job never holds more than about [`MAX_DECODE_BYTES`] (docs/decisions/0019).

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

/// Largest upload, in bytes; a larger body is a `413`.
pub const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;
/// Largest width × height accepted, read from the header before decoding.
pub const MAX_PIXELS: u64 = 50_000_000;
/// A stored picture fits within `FIT` × `FIT`.
pub const FIT: u32 = 512;
pub const JPEG_QUALITY: u8 = 85;
/// The decoder's allocation cap: [`MAX_PIXELS`] at four bytes a pixel (8-bit RGBA).
pub const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4;
/// Longest side accepted. Fitting first scales the height, into a working copy of the full
/// width at 16 bytes a pixel (`f32` RGBA): a 49 000 000 × 1 image (a PNG of 200 KB) would need
/// 800 MB there. With this bound the copy is at most [`MAX_RESIZE_BYTES`].
pub const MAX_SIDE: u32 = 16_384;
/// The resize's working copy at its largest: the short side (at most √[`MAX_PIXELS`]) by
/// [`FIT`] pixels at 16 bytes each; one job holds at most this plus [`MAX_DECODE_BYTES`].
pub const MAX_RESIZE_BYTES: u64 = (MAX_PIXELS.isqrt() + 1) * FIT as u64 * 16;
/// The most one job holds, measured: a progressive JPEG at [`MAX_PIXELS`] keeps every DCT
/// coefficient (2 bytes × 3 components a pixel) besides its pixels (3 bytes) while it decodes,
/// which the decoder's cap does not count; everything else peaks lower
/// ([`MAX_DECODE_BYTES`] + [`MAX_RESIZE_BYTES`]).
pub const MAX_JOB_BYTES: u64 = MAX_PIXELS * 9;

/// Why an upload is not a picture we keep; each is a `400` on `profile_picture`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    #[error(
        "Upload a valid image. The file you uploaded was either not an image or a corrupted image."
    )]
    NotAnImage,
    #[error("Unsupported image format. Upload a JPEG, PNG or WebP image.")]
    UnsupportedFormat,
    #[error("Image too large: at most 50000000 pixels (width × height).")]
    TooManyPixels,
    #[error("Image too large: at most 16384 pixels on a side.")]
    TooLong,
    #[error("The picture could not be encoded.")]
    Encode,
}

/// The stored form of a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Jpeg,
    Png,
}

impl Output {
    pub fn extension(self) -> &'static str {
        match self {
            Output::Jpeg => "jpg",
            Output::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Output::Jpeg => "image/jpeg",
            Output::Png => "image/png",
        }
    }

    /// The form of a stored name's extension, if it is one of ours.
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension {
            "jpg" => Some(Output::Jpeg),
            "png" => Some(Output::Png),
            _ => None,
        }
    }
}

/// A picture ready to store: pixels only, no metadata.
#[derive(Debug, Clone)]
pub struct Processed {
    pub bytes: Vec<u8>,
    pub output: Output,
    pub width: u32,
    pub height: u32,
}

/// Decodes `bytes` (JPEG, PNG or WebP, recognised by content), fits the image within
/// [`FIT`]×[`FIT`] without upscaling, turns it the way its EXIF orientation says, and
/// re-encodes it: JPEG without alpha, PNG with.
pub fn process(bytes: &[u8]) -> Result<Processed, PictureError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|_| PictureError::NotAnImage)?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) => {}
        Some(_) => return Err(PictureError::UnsupportedFormat),
        None => return Err(PictureError::NotAnImage),
    }
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The JPEG decoder pads a cut-off file with grey rather than fail, as browsers do.
        return Err(PictureError::NotAnImage);
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(decoding)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PictureError::TooManyPixels);
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(PictureError::TooLong);
    }
    if width == 0 || height == 0 {
        return Err(PictureError::NotAnImage);
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let image = DynamicImage::from_decoder(decoder).map_err(decoding)?;
    // Fitting before turning gives the same picture (the box is square) and never holds a
    // second full-size copy of the decoded image.
    let mut image = if image.width() > FIT || image.height() > FIT {
        image.resize(FIT, FIT, FilterType::CatmullRom)
    } else {
        image
    };
    image.apply_orientation(orientation);
    encode(&image)
}

fn encode(image: &DynamicImage) -> Result<Processed, PictureError> {
    let mut bytes = Vec::new();
    let (width, height) = (image.width(), image.height());
    let output = if image.color().has_alpha() {
        let rgba = image.to_rgba8();
        rgba.write_with_encoder(PngEncoder::new(&mut bytes))
            .map_err(|_| PictureError::Encode)?;
        Output::Png
    } else {
        let rgb = image.to_rgb8();
        rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY))
            .map_err(|_| PictureError::Encode)?;
        Output::Jpeg
    };
    Ok(Processed {
        bytes,
        output,
        width,
        height,
    })
}

/// Whether a JPEG's segments reach its end-of-image marker. Segments are skipped by their
/// length (an EXIF thumbnail's own end marker does not count) and entropy-coded data is
/// scanned for the next marker; what follows the end marker (a phone's trailer) is ignored.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut at = 2; // after SOI
    while at + 1 < bytes.len() {
        if bytes[at] != 0xFF {
            return false;
        }
        let marker = bytes[at + 1];
        match marker {
            0xD9 => return true,
            0xFF => at += 1, // fill byte
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let Some(length) = bytes.get(at + 2..at + 4) else {
                    return false;
                };
                at += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
                if marker == 0xDA {
                    at = match next_marker_after_entropy_data(bytes, at) {
                        Some(next) => next,
                        None => return false,
                    };
                }
            }
        }
    }
    false
}

/// Where the marker after entropy-coded data starts (`FF 00` is a stuffed byte, `FF D0`–`FF D7`
/// a restart marker, both part of the data).
fn next_marker_after_entropy_data(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let offset = bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        at += offset;
        match bytes.get(at + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => at += 1,
            _ => return Some(at),
        }
    }
}

fn decoding(error: ImageError) -> PictureError {
    match error {
        ImageError::Limits(_) => PictureError::TooManyPixels,
        ImageError::Unsupported(_) => PictureError::UnsupportedFormat,
        _ => PictureError::NotAnImage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg() -> Vec<u8> {
        let image = image::RgbImage::from_pixel(64, 48, image::Rgb([200, 10, 10]));
        let mut out = Vec::new();
        image
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        out
    }

    #[test]
    fn a_whole_jpeg_is_complete_and_a_cut_one_is_not() {
        let whole = jpeg();
        assert!(jpeg_is_complete(&whole));
        let mut trailer = whole.clone();
        trailer.extend_from_slice(b"motion photo trailer");
        assert!(jpeg_is_complete(&trailer));
        for cut in [whole.len() - 2, whole.len() / 2, 20, 3] {
            assert!(!jpeg_is_complete(&whole[..cut]), "cut at {cut}");
        }
    }

    #[test]
    fn a_picture_is_fitted_and_never_upscaled() {
        let fitted = process(&jpeg()).unwrap();
        assert_eq!(
            (fitted.width, fitted.height, fitted.output),
            (64, 48, Output::Jpeg)
        );
    }
}
