//! Image resizing as Pillow does it, because the models' own preprocessors (Hugging Face's image
//! processors) resize with Pillow and the models were trained on those pixels.
//!
//! `image::imageops::resize` uses the same kernels (Pillow's bilinear is the triangle filter,
//! its bicubic is Catmull-Rom, a = −0.5, both widened when shrinking) but runs the vertical pass
//! first and keeps f32 between the passes. Pillow runs the horizontal pass first and rounds to
//! 8 bits between them, clipping a bicubic's overshoot. At hard edges that differs by up to 24
//! levels; done in Pillow's order it is within one level (`tests/models_onnx.rs`).

use image::RgbImage;
use image::imageops::{self, FilterType};

/// `image` resized to `width` × `height` with `filter`, one axis at a time in Pillow's order.
pub fn resize_like_pillow(
    image: &RgbImage,
    width: u32,
    height: u32,
    filter: FilterType,
) -> RgbImage {
    // Each call does one real pass: the axis that keeps its size is an identity.
    let wide = if image.width() == width {
        image.clone()
    } else {
        imageops::resize(image, width, image.height(), filter)
    };
    if wide.height() == height {
        wide
    } else {
        imageops::resize(&wide, width, height, filter)
    }
}
