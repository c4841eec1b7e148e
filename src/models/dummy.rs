//! Dummy models: fast, input-independent, seed-deterministic stand-ins for tests and the demo
//! (spec §4.3). Generative dummies ignore their input; dummy embedders hash it.

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::{
    Embedder, EmbedderInfo, ImageToText, Input, Modality, ModelError, Seed, TextToImage,
    check_batch,
};

/// Dimension of the dummy embedders (the old tool's `EMBEDDING_DIM`).
pub const DUMMY_DIMENSION: usize = 768;

/// Seeded items get their own RNG so a seed gives the same draw on every call, whatever else is in
/// the batch; unseeded items draw from the thread RNG.
pub(super) fn with_rng<T>(seed: Seed, draw: impl FnOnce(&mut dyn rand::RngCore) -> T) -> T {
    match seed {
        Some(seed) => draw(&mut ChaCha8Rng::seed_from_u64(seed)),
        None => draw(&mut rand::rng()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tint {
    /// r ∈ [0,100], g,b ∈ [200,255].
    Cyan,
    /// r,b ∈ [200,255], g ∈ [0,100].
    Magenta,
}

/// `DummyT2I` / `DummyT2I2`: a solid-colour image.
pub struct DummyTextToImage {
    name: &'static str,
    tint: Tint,
}

impl DummyTextToImage {
    pub fn cyan() -> Self {
        Self {
            name: "DummyT2I",
            tint: Tint::Cyan,
        }
    }

    pub fn magenta() -> Self {
        Self {
            name: "DummyT2I2",
            tint: Tint::Magenta,
        }
    }

    fn colour(&self, seed: Seed) -> Rgb<u8> {
        let tint = self.tint;
        with_rng(seed, |rng| {
            let low = rng.random_range(0..=100u8);
            let high_a = rng.random_range(200..=255u8);
            let high_b = rng.random_range(200..=255u8);
            match tint {
                Tint::Cyan => Rgb([low, high_a, high_b]),
                Tint::Magenta => Rgb([high_a, low, high_b]),
            }
        })
    }
}

impl TextToImage for DummyTextToImage {
    fn name(&self) -> &str {
        self.name
    }

    fn generate(
        &mut self,
        prompts: &[&str],
        seeds: &[Seed],
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError> {
        check_batch(self.name, prompts.len(), seeds.len())?;
        Ok(seeds
            .iter()
            .map(|&seed| RgbImage::from_pixel(size, size, self.colour(seed)))
            .collect())
    }
}

/// `DummyI2T` / `DummyI2T2`: a fixed caption naming the seed.
pub struct DummyImageToText {
    name: &'static str,
    base: &'static str,
}

impl DummyImageToText {
    pub fn v1() -> Self {
        Self {
            name: "DummyI2T",
            base: "dummy text caption",
        }
    }

    pub fn v2() -> Self {
        Self {
            name: "DummyI2T2",
            base: "dummy text caption v2",
        }
    }
}

impl ImageToText for DummyImageToText {
    fn name(&self) -> &str {
        self.name
    }

    fn caption(&mut self, images: &[&RgbImage], seeds: &[Seed]) -> Result<Vec<String>, ModelError> {
        check_batch(self.name, images.len(), seeds.len())?;
        Ok(seeds
            .iter()
            .map(|seed| match seed {
                Some(seed) => format!("{} (seed {seed})", self.base),
                None => format!(
                    "{} (random {})",
                    self.base,
                    rand::rng().random_range(1000..=9999u32)
                ),
            })
            .collect())
    }
}

/// `DummyText` / `DummyImage`: sha256 of the input seeds a ChaCha RNG that draws
/// [`DUMMY_DIMENSION`] floats in [0, 1). Deterministic, unnormalised, and distinct inputs give
/// distinct vectors (unlike the old tool's character-sum seed).
pub struct DummyEmbedder {
    info: EmbedderInfo,
}

impl DummyEmbedder {
    pub fn text() -> Self {
        Self::new("DummyText", Modality::Text)
    }

    pub fn image() -> Self {
        Self::new("DummyImage", Modality::Image)
    }

    fn new(name: &str, modality: Modality) -> Self {
        Self {
            info: EmbedderInfo {
                name: name.to_owned(),
                modalities: vec![modality],
                dimension: DUMMY_DIMENSION,
                normalised: false,
            },
        }
    }

    fn vector(digest: &[u8]) -> Vec<f32> {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&digest[..32]);
        let mut rng = ChaCha8Rng::from_seed(seed);
        (0..DUMMY_DIMENSION).map(|_| rng.random::<f32>()).collect()
    }
}

impl Embedder for DummyEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    fn embed(&mut self, inputs: &[Input<'_>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let expected = self.info.modalities[0];
        inputs
            .iter()
            .map(|input| {
                let mut hasher = Sha256::new();
                match (input, expected) {
                    (Input::Text(text), Modality::Text) => hasher.update(text.as_bytes()),
                    (Input::Image(image), Modality::Image) => {
                        hasher.update(image.width().to_le_bytes());
                        hasher.update(image.height().to_le_bytes());
                        hasher.update(image.as_raw());
                    }
                    _ => {
                        return Err(ModelError::WrongInput {
                            model: self.info.name.clone(),
                            expected,
                            given: input.modality(),
                        });
                    }
                }
                Ok(Self::vector(&hasher.finalize()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn colour(model: &mut DummyTextToImage, seed: Seed) -> Rgb<u8> {
        let images = model.generate(&["x"], &[seed], 4).expect("generate");
        *images[0].get_pixel(0, 0)
    }

    #[test]
    fn t2i_colours_are_in_range_and_seed_deterministic() {
        let mut cyan = DummyTextToImage::cyan();
        let mut magenta = DummyTextToImage::magenta();
        for seed in 0..50 {
            let Rgb([r, g, b]) = colour(&mut cyan, Some(seed));
            assert!(r <= 100 && g >= 200 && b >= 200, "{r} {g} {b}");
            assert_eq!(colour(&mut cyan, Some(seed)), Rgb([r, g, b]));
            let Rgb([r, g, b]) = colour(&mut magenta, Some(seed));
            assert!(r >= 200 && g <= 100 && b >= 200, "{r} {g} {b}");
        }
        assert_ne!(colour(&mut cyan, Some(1)), colour(&mut cyan, Some(2)));
        let unseeded: std::collections::HashSet<_> =
            (0..20).map(|_| colour(&mut cyan, None).0).collect();
        assert!(unseeded.len() > 1);
    }

    #[test]
    fn t2i_is_batched_sized_and_input_independent() {
        let mut model = DummyTextToImage::cyan();
        let images = model
            .generate(&["a", "b", "c"], &[Some(7), Some(8), Some(7)], 32)
            .expect("generate");
        assert_eq!(images.len(), 3);
        assert_eq!(images[0].dimensions(), (32, 32));
        assert_eq!(images[0], images[2]);
        let other = model.generate(&["zzz"], &[Some(7)], 32).expect("generate");
        assert_eq!(other[0], images[0]);
        assert!(matches!(
            model.generate(&["a"], &[], 8),
            Err(ModelError::BatchMismatch { .. })
        ));
    }

    #[test]
    fn i2t_captions_follow_the_formats() {
        let image = RgbImage::new(2, 2);
        let mut v1 = DummyImageToText::v1();
        let mut v2 = DummyImageToText::v2();
        let captions = v1
            .caption(&[&image, &image], &[Some(42), None])
            .expect("caption");
        assert_eq!(captions[0], "dummy text caption (seed 42)");
        let random = captions[1]
            .strip_prefix("dummy text caption (random ")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|n| n.parse::<u32>().ok())
            .expect("random caption format");
        assert!((1000..=9999).contains(&random));
        let captions = v2.caption(&[&image], &[Some(3)]).expect("caption");
        assert_eq!(captions[0], "dummy text caption v2 (seed 3)");
    }

    #[test]
    fn dummy_embedders_are_deterministic_and_distinct() {
        let mut text = DummyEmbedder::text();
        let vectors = text
            .embed(&[Input::Text("abc"), Input::Text("cba"), Input::Text("abc")])
            .expect("embed");
        assert_eq!(vectors[0].len(), DUMMY_DIMENSION);
        assert_eq!(vectors[0], vectors[2]);
        assert_ne!(vectors[0], vectors[1]);
        assert!(vectors[0].iter().all(|v| (0.0..1.0).contains(v)));
        let image = RgbImage::new(3, 3);
        assert!(matches!(
            text.embed(&[Input::Image(&image)]),
            Err(ModelError::WrongInput { .. })
        ));
        let mut images = DummyEmbedder::image();
        let other = RgbImage::from_pixel(3, 3, Rgb([1, 2, 3]));
        let vectors = images
            .embed(&[Input::Image(&image), Input::Image(&other)])
            .expect("embed");
        assert_ne!(vectors[0], vectors[1]);
    }
}
