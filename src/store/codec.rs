//! Binary encodings: vectors as little-endian f32 blobs (the old tool's format), images as
//! lossless PNG with fast (fdeflate) compression: exact pixels, and about half the CPU time of
//! lossless WebP to encode (see BENCHMARKS.md), which matters because every generated image
//! is encoded on the engine's write path. Imported WebP images from the old tool are stored as
//! they came; `decode_image` reads either.

use image::RgbImage;
use sha2::{Digest, Sha256};

use super::{Result, StoreError};
use crate::models::Output;

pub fn encode_vector(vector: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(vector.len() * 4);
    for value in vector {
        bytes.extend_from_slice(&value.to_le_bytes());
    }
    bytes
}

pub fn decode_vector(bytes: &[u8]) -> Result<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt {
            what: "vector".into(),
            detail: format!("{} bytes is not a whole number of f32s", bytes.len()),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect())
}

pub fn encode_image(image: &RgbImage) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| StoreError::Corrupt {
            what: "image".into(),
            detail: e.to_string(),
        })?;
    Ok(bytes)
}

/// Decodes a stored image (WebP, or any format `image` reads, for imported data).
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    image::load_from_memory(bytes)
        .map(|image| image.to_rgb8())
        .map_err(|e| StoreError::Corrupt {
            what: "image".into(),
            detail: e.to_string(),
        })
}

/// Identity of an output for loop detection: exact text, or exact decoded pixels and size.
pub fn output_hash(output: &Output) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match output {
        Output::Text(text) => {
            hasher.update(b"text\0");
            hasher.update(text.as_bytes());
        }
        Output::Image(image) => {
            hasher.update(b"image\0");
            hasher.update(image.width().to_le_bytes());
            hasher.update(image.height().to_le_bytes());
            hasher.update(image.as_raw());
        }
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_bit_exactly() {
        let vector = vec![0.0, -1.5, f32::MIN_POSITIVE, 3.25e7];
        assert_eq!(
            decode_vector(&encode_vector(&vector)).expect("decode"),
            vector
        );
        assert!(decode_vector(&[1, 2, 3]).is_err());
    }

    #[test]
    fn images_round_trip_losslessly() {
        let image = RgbImage::from_fn(37, 21, |x, y| image::Rgb([x as u8 * 7, y as u8 * 11, 200]));
        let bytes = encode_image(&image).expect("encode");
        assert_eq!(decode_image(&bytes).expect("decode"), image);
        assert!(decode_image(b"not an image").is_err());
    }

    #[test]
    fn hashes_distinguish_kind_content_and_size() {
        let text = output_hash(&Output::Text("a".into()));
        assert_eq!(text, output_hash(&Output::Text("a".into())));
        assert_ne!(text, output_hash(&Output::Text("b".into())));
        let small = output_hash(&Output::Image(RgbImage::new(2, 8)));
        assert_ne!(small, output_hash(&Output::Image(RgbImage::new(4, 4))));
    }
}
