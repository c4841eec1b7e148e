//! CLIP-style joint text/image embedder: separate text and vision towers (`text_model.onnx`
//! → `text_embeds`, `vision_model.onnx` → `image_embeds`), or the combined `model.onnx` that needs
//! both inputs on every call (the unused side gets a placeholder). Vectors are L2-normalised, so
//! text and images share one cosine space.

use std::path::Path;

use image::RgbImage;
use image::imageops::FilterType;
use ort::session::Session;
use ort::value::{Tensor, TensorElementType};
use tokenizers::Tokenizer;

use super::pixels::{ImagePreprocess, Resize};
use super::session::{self, Inputs, SessionOptions, inference, l2_normalise};
use super::text::{MAX_RUN_BATCH, load_tokenizer, tokenize};
use crate::models::catalog::ClipSpec;
use crate::models::{Embedder, EmbedderInfo, Input, Modality, ModelError};
use crate::paths::AppPaths;

enum Towers {
    Split { text: Session, vision: Session },
    Combined(Session),
}

impl Towers {
    fn text(&mut self) -> &mut Session {
        match self {
            Towers::Split { text, .. } => text,
            Towers::Combined(session) => session,
        }
    }

    fn vision(&mut self) -> &mut Session {
        match self {
            Towers::Split { vision, .. } => vision,
            Towers::Combined(session) => session,
        }
    }

    fn combined(&self) -> bool {
        matches!(self, Towers::Combined(_))
    }
}

pub struct ClipEmbedder {
    info: EmbedderInfo,
    tokenizer: Tokenizer,
    towers: Towers,
    ids_type: TensorElementType,
    mask_type: Option<TensorElementType>,
    preprocess: ImagePreprocess,
}

impl ClipEmbedder {
    /// Opens the towers in `dir` when both exist, else the combined graph.
    pub fn load(
        name: &str,
        dir: &Path,
        spec: ClipSpec,
        paths: &AppPaths,
        options: SessionOptions,
    ) -> Result<Self, ModelError> {
        let (text_path, vision_path) = (dir.join(spec.text_model), dir.join(spec.vision_model));
        let combined_path = dir.join(spec.combined_model);
        let towers = if text_path.is_file() && vision_path.is_file() {
            Towers::Split {
                text: session::open(paths, &text_path, options)?,
                vision: session::open(paths, &vision_path, options)?,
            }
        } else if combined_path.is_file() {
            Towers::Combined(session::open(paths, &combined_path, options)?)
        } else {
            return Err(ModelError::MissingFiles {
                model: name.to_owned(),
                missing: vec![
                    text_path.display().to_string(),
                    vision_path.display().to_string(),
                ],
            });
        };
        let tokenizer = load_tokenizer(
            name,
            &dir.join(spec.tokenizer),
            spec.max_length,
            spec.pad_token,
        )?;
        let fallback = clip_preprocess(spec.image_size, spec.mean, spec.std);
        let preprocess = ImagePreprocess::read(name, dir, fallback)?;
        let mut towers = towers;
        let text = towers.text();
        let ids_type = session::input_type(text, "input_ids")
            .ok_or_else(|| inference(name, "the text graph has no input_ids input"))?;
        let mask_type = session::input_type(text, "attention_mask");
        let dimension = output_dimension(text, "text_embeds").ok_or_else(|| {
            inference(
                name,
                "the text graph has no text_embeds output of fixed width",
            )
        })?;
        let image_dimension = output_dimension(towers.vision(), "image_embeds");
        if image_dimension != Some(dimension) {
            return Err(inference(
                name,
                format!(
                    "image_embeds width {image_dimension:?} differs from text_embeds width {dimension}"
                ),
            ));
        }
        Ok(Self {
            info: EmbedderInfo {
                name: name.to_owned(),
                modalities: vec![Modality::Text, Modality::Image],
                dimension,
                normalised: true,
            },
            tokenizer,
            towers,
            ids_type,
            mask_type,
            preprocess,
        })
    }

    /// How images become `pixel_values`.
    pub fn preprocess(&self) -> &ImagePreprocess {
        &self.preprocess
    }

    fn text_inputs(&self, texts: Vec<String>) -> Result<(Inputs, usize), ModelError> {
        let name = self.info.name.as_str();
        let tokenized = tokenize(name, &self.tokenizer, texts)?;
        let inputs = tokenized.id_and_mask_inputs(name, self.ids_type, self.mask_type)?;
        Ok((inputs, tokenized.batch))
    }

    fn pixel_input(tensor: Tensor<f32>) -> Inputs {
        vec![("pixel_values".into(), tensor.into())]
    }

    fn run(
        &mut self,
        vision: bool,
        inputs: Inputs,
        output: &str,
        rows: usize,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let dimension = self.info.dimension;
        let name = self.info.name.clone();
        let session = if vision {
            self.towers.vision()
        } else {
            self.towers.text()
        };
        let outputs = session
            .run(inputs)
            .map_err(|e| inference(&name, e.to_string()))?;
        let value = outputs
            .get(output)
            .ok_or_else(|| inference(&name, format!("no output {output}")))?;
        let (shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| inference(&name, format!("{output}: {e}")))?;
        if **shape != [rows as i64, dimension as i64] {
            return Err(inference(
                &name,
                format!("{output} has shape {shape:?}, expected [{rows}, {dimension}]"),
            ));
        }
        Ok(data
            .chunks_exact(dimension)
            .map(|row| {
                let mut vector = row.to_vec();
                l2_normalise(&mut vector);
                vector
            })
            .collect())
    }

    pub fn embed_texts(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(MAX_RUN_BATCH) {
            let (mut inputs, rows) =
                self.text_inputs(chunk.iter().map(|t| (*t).to_owned()).collect())?;
            if self.towers.combined() {
                // The combined graph also wants an image; one grey placeholder.
                let (width, height) = self.preprocess.output_size();
                let values = 3 * (width * height) as usize;
                let placeholder = self
                    .preprocess
                    .tensor(&self.info.name, vec![0.0; values], 1)?;
                inputs.extend(Self::pixel_input(placeholder));
            }
            vectors.extend(self.run(false, inputs, "text_embeds", rows)?);
        }
        Ok(vectors)
    }

    pub fn embed_images(&mut self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut vectors = Vec::with_capacity(images.len());
        for chunk in images.chunks(MAX_RUN_BATCH) {
            let mut inputs = Self::pixel_input(self.preprocess.batch(&self.info.name, chunk)?);
            if self.towers.combined() {
                // The combined graph also wants text; the empty prompt.
                inputs.extend(self.text_inputs(vec![String::new()])?.0);
            }
            vectors.extend(self.run(true, inputs, "image_embeds", chunk.len())?);
        }
        Ok(vectors)
    }
}

fn output_dimension(session: &Session, name: &str) -> Option<usize> {
    let output = session
        .outputs()
        .iter()
        .find(|output| output.name() == name)?;
    let last = *output.dtype().tensor_shape()?.last()?;
    usize::try_from(last).ok()
}

/// CLIP preprocessing: resize the shortest side to `size` (bicubic), centre-crop `size`², scale
/// to [0, 1], normalise per channel, and lay out as CHW f32.
pub fn clip_pixels(
    image: &RgbImage,
    size: u32,
    mean: [f32; 3],
    std: [f32; 3],
) -> Result<Vec<f32>, String> {
    clip_preprocess(size, mean, std).pixels(image)
}

/// The CLIP image processor's steps for `size`² inputs.
fn clip_preprocess(size: u32, mean: [f32; 3], std: [f32; 3]) -> ImagePreprocess {
    ImagePreprocess {
        resize: Resize::ShortestEdge(size),
        filter: FilterType::CatmullRom,
        crop: Some((size, size)),
        rescale: 1.0 / 255.0,
        mean,
        std,
    }
}

impl Embedder for ClipEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed(&mut self, inputs: &[Input<'_>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut texts = Vec::new();
        let mut images = Vec::new();
        for (index, input) in inputs.iter().enumerate() {
            match input {
                Input::Text(text) => texts.push((index, *text)),
                Input::Image(image) => images.push((index, *image)),
            }
        }
        let mut vectors = vec![Vec::new(); inputs.len()];
        if !texts.is_empty() {
            let embedded = self.embed_texts(&texts.iter().map(|(_, t)| *t).collect::<Vec<_>>())?;
            for ((index, _), vector) in texts.iter().zip(embedded) {
                vectors[*index] = vector;
            }
        }
        if !images.is_empty() {
            let embedded =
                self.embed_images(&images.iter().map(|(_, i)| *i).collect::<Vec<_>>())?;
            for ((index, _), vector) in images.iter().zip(embedded) {
                vectors[*index] = vector;
            }
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::catalog::{CLIP_MEAN, CLIP_STD};

    #[test]
    fn preprocessing_crops_the_centre_of_the_resized_image() {
        // 448×224: left half black, right half white, a red centre column.
        let mut image = RgbImage::from_fn(448, 224, |x, _| {
            if x < 224 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        for y in 0..224 {
            image.put_pixel(223, y, image::Rgb([255, 0, 0]));
        }
        let pixels = clip_pixels(&image, 224, CLIP_MEAN, CLIP_STD).expect("pixels");
        assert_eq!(pixels.len(), 3 * 224 * 224);
        // Crop starts at x = 112: first column black, last column white.
        let black = (0.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        let white = (1.0 - CLIP_MEAN[2]) / CLIP_STD[2];
        assert!((pixels[0] - black).abs() < 1e-5);
        assert!((pixels[2 * 224 * 224 + 223] - white).abs() < 1e-5);
        // The red column lands at x = 111 in the crop.
        assert!((pixels[111] - (1.0 - CLIP_MEAN[0]) / CLIP_STD[0]).abs() < 1e-5);
    }

    #[test]
    fn small_images_are_upscaled_and_empty_ones_rejected() {
        let image = RgbImage::from_pixel(10, 20, image::Rgb([128, 128, 128]));
        assert_eq!(
            clip_pixels(&image, 224, CLIP_MEAN, CLIP_STD)
                .expect("pixels")
                .len(),
            3 * 224 * 224
        );
        assert!(clip_pixels(&RgbImage::new(0, 5), 224, CLIP_MEAN, CLIP_STD).is_err());
    }
}
