//! Image resizing as Pillow does it, because the models' own preprocessors (Hugging Face's image
//! processors) resize with Pillow and the models were trained on those pixels.
//!
//! `image::imageops::resize` uses the same kernels (Pillow's bilinear is the triangle filter,
//! its bicubic is Catmull-Rom, a = −0.5, both widened when shrinking) but runs the vertical pass
//! first and keeps f32 between the passes. Pillow runs the horizontal pass first and rounds to
//! 8 bits between them, clipping a bicubic's overshoot. At hard edges that differs by up to 24
//! levels; done in Pillow's order it is within one level (`tests/models_onnx.rs`).
//!
//! [`ImagePreprocess`] is the rest of those processors (crop, rescale, normalise), read from a
//! model's `preprocessor_config.json`.

use std::path::Path;

use image::RgbImage;
use image::imageops::{self, FilterType};
use serde_json::Value;

use ort::value::Tensor;

use super::config::ConfigFile;
use super::session::inference;
use crate::models::ModelError;

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

/// How an image becomes `pixel_values`: the Hugging Face image processor's steps, from
/// `preprocessor_config.json` or the catalog's constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImagePreprocess {
    pub resize: Resize,
    pub filter: FilterType,
    /// Centre crop to `(width, height)` after resizing.
    pub crop: Option<(u32, u32)>,
    /// Pixel bytes are multiplied by this (`rescale_factor`, 1/255), in f64 as numpy does.
    pub rescale: f64,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Straight to `width` × `height` (ViT, Florence-2).
    Exact { width: u32, height: u32 },
    /// Shortest side to this, the other side scaled and truncated (CLIP).
    ShortestEdge(u32),
}

impl ImagePreprocess {
    /// A straight resize to `size`² with `filter`, rescaled by 1/255.
    pub fn exact(size: u32, filter: FilterType, mean: [f32; 3], std: [f32; 3]) -> Self {
        Self {
            resize: Resize::Exact {
                width: size,
                height: size,
            },
            filter,
            crop: None,
            rescale: 1.0 / 255.0,
            mean,
            std,
        }
    }

    /// The `(width, height)` of the tensor each image becomes.
    pub fn output_size(&self) -> (u32, u32) {
        match (self.crop, self.resize) {
            (Some(crop), _) => crop,
            (None, Resize::Exact { width, height }) => (width, height),
            (None, Resize::ShortestEdge(side)) => (side, side),
        }
    }

    /// `preprocessor_config.json` in `dir` over `fallback`; `fallback` alone without the file.
    pub fn read(model: &str, dir: &Path, fallback: Self) -> Result<Self, ModelError> {
        let Some(config) = ConfigFile::open(model, &dir.join("preprocessor_config.json"))? else {
            return Ok(fallback);
        };
        let mut out = fallback;
        let size_of = |field: &str, value: &Value| -> Result<Resize, ModelError> {
            let side = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .filter(|&v| v > 0)
            };
            match (side("height"), side("width"), side("shortest_edge")) {
                (Some(height), Some(width), None) => Ok(Resize::Exact { width, height }),
                (None, None, Some(edge)) if value.get("longest_edge").is_none() => {
                    Ok(Resize::ShortestEdge(edge))
                }
                _ => match value.as_u64().and_then(|v| u32::try_from(v).ok()) {
                    // Old configs give one number for a square.
                    Some(side) if side > 0 => Ok(Resize::Exact {
                        width: side,
                        height: side,
                    }),
                    _ => Err(config.error(field, format!("{value} is not supported"))),
                },
            }
        };
        if config.bool("do_resize")? == Some(false) {
            return Err(config.error("do_resize", "false is not supported"));
        }
        if let Some(size) = config.get("size") {
            out.resize = size_of("size", size)?;
        }
        if let Some(resample) = config.u64("resample")? {
            out.filter = match resample {
                // Pillow's numbering.
                1 => FilterType::Lanczos3,
                2 => FilterType::Triangle,
                3 => FilterType::CatmullRom,
                other => {
                    return Err(config.error(
                        "resample",
                        format!("{other} is not supported (1 Lanczos, 2 bilinear, 3 bicubic are)"),
                    ));
                }
            };
        }
        match config.bool("do_center_crop")? {
            Some(true) => {
                let crop = config
                    .get("crop_size")
                    .ok_or_else(|| config.error("crop_size", "missing while do_center_crop"))?;
                out.crop = match size_of("crop_size", crop)? {
                    Resize::Exact { width, height } => Some((width, height)),
                    Resize::ShortestEdge(_) => {
                        return Err(config.error("crop_size", "must give height and width"));
                    }
                };
            }
            Some(false) => out.crop = None,
            None => {}
        }
        if out.crop.is_none() && matches!(out.resize, Resize::ShortestEdge(_)) {
            return Err(config.error(
                "size",
                "shortest_edge without a centre crop gives images of varying size",
            ));
        }
        out.rescale = match (config.bool("do_rescale")?, config.f64("rescale_factor")?) {
            (Some(false), _) => 1.0,
            (_, Some(factor)) if factor.is_finite() && factor > 0.0 => factor,
            (_, Some(factor)) => {
                return Err(config.error("rescale_factor", format!("{factor} is not positive")));
            }
            (_, None) => out.rescale,
        };
        let triple = |field: &str| -> Result<Option<[f32; 3]>, ModelError> {
            let Some(value) = config.get(field) else {
                return Ok(None);
            };
            let numbers: Option<Vec<f32>> = match value {
                Value::Array(items) => items.iter().map(|v| v.as_f64().map(|v| v as f32)).collect(),
                other => other.as_f64().map(|v| vec![v as f32; 3]),
            };
            match numbers.as_deref() {
                Some(&[a, b, c]) => Ok(Some([a, b, c])),
                _ => Err(config.error(field, "expected three numbers")),
            }
        };
        if config.bool("do_normalize")? == Some(false) {
            (out.mean, out.std) = ([0.0; 3], [1.0; 3]);
        } else {
            out.mean = triple("image_mean")?.unwrap_or(out.mean);
            out.std = triple("image_std")?.unwrap_or(out.std);
            if out.std.contains(&0.0) {
                return Err(config.error("image_std", "a standard deviation of 0"));
            }
        }
        Ok(out)
    }

    /// `count` images' CHW f32 `pixels` as one `pixel_values` tensor `[count, 3, height, width]`.
    pub fn tensor(
        &self,
        model: &str,
        pixels: Vec<f32>,
        count: usize,
    ) -> Result<Tensor<f32>, ModelError> {
        let (width, height) = self.output_size();
        Tensor::from_array(([count, 3, height as usize, width as usize], pixels))
            .map_err(|e| inference(model, format!("building pixel_values: {e}")))
    }

    /// `images` preprocessed into one `pixel_values` tensor.
    pub fn batch(&self, model: &str, images: &[&RgbImage]) -> Result<Tensor<f32>, ModelError> {
        let (width, height) = self.output_size();
        let mut pixels = Vec::with_capacity(images.len() * 3 * (width * height) as usize);
        for image in images {
            pixels.extend(
                self.pixels(image)
                    .map_err(|message| inference(model, message))?,
            );
        }
        self.tensor(model, pixels, images.len())
    }

    /// `image` as CHW f32 `pixel_values` of [`Self::output_size`].
    pub fn pixels(&self, image: &RgbImage) -> Result<Vec<f32>, String> {
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Err("cannot use an empty image".into());
        }
        let (new_width, new_height) = match self.resize {
            Resize::Exact { width, height } => (width, height),
            // As the Hugging Face processor: the long side is truncated, not rounded.
            Resize::ShortestEdge(side) if width <= height => (
                side,
                ((u64::from(side) * u64::from(height)) / u64::from(width)).max(1) as u32,
            ),
            Resize::ShortestEdge(side) => (
                ((u64::from(side) * u64::from(width)) / u64::from(height)).max(1) as u32,
                side,
            ),
        };
        let resized = resize_like_pillow(image, new_width, new_height, self.filter);
        let (out_width, out_height) = self.output_size();
        let (out_width, out_height) = (out_width.min(new_width), out_height.min(new_height));
        if (out_width, out_height) != self.output_size() {
            return Err(format!(
                "a {new_width}×{new_height} resized image is smaller than the crop"
            ));
        }
        let left = (new_width - out_width) / 2;
        let top = (new_height - out_height) / 2;
        let plane = (out_width * out_height) as usize;
        let mut pixels = vec![0f32; 3 * plane];
        for y in 0..out_height {
            for x in 0..out_width {
                let pixel = resized.get_pixel(left + x, top + y);
                let index = (y * out_width + x) as usize;
                for channel in 0..3 {
                    let value = (f64::from(pixel[channel]) * self.rescale) as f32;
                    pixels[channel * plane + index] =
                        (value - self.mean[channel]) / self.std[channel];
                }
            }
        }
        Ok(pixels)
    }
}
