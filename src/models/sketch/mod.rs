//! Sketch models: procedural, weight-free text→image and image→text models that behave like a
//! real feedback loop. `SketchT2I` parses a caption into a scene and draws it; `SketchI2T` looks
//! at the pixels and describes what it sees, lossily and with biases. The `…2` variants have a
//! second bias profile, so two networks drift differently.
//!
//! Seeds work like the dummy models': a seeded item gets its own RNG (same seed, same output,
//! whatever else is in the batch); an unseeded one draws from the thread RNG.

pub mod perceive;
pub mod render;
pub mod scene;

#[cfg(test)]
mod tests;

use image::RgbImage;

use super::check_batch;
use super::dummy::with_rng;
use super::{ImageToText, ModelError, Seed, TextToImage};
use perceive::CaptionProfile;
use render::RenderProfile;
use scene::{BACKGROUNDS, Background, Colour, Family, Size, Style};

pub const SKETCH_T2I: RenderProfile = RenderProfile {
    name: "SketchT2I",
    default_background: Background::Plain,
    default_style: Style::Plain,
    size_scale: 1.0,
    warmth: 0,
    jitter: 0.03,
};

/// Draws bigger, warmer and in pastel unless told otherwise, on a meadow.
pub const SKETCH_T2I2: RenderProfile = RenderProfile {
    name: "SketchT2I2",
    default_background: Background::Meadow,
    default_style: Style::Pastel,
    size_scale: 1.2,
    warmth: 18,
    jitter: 0.05,
};

/// Sees many colours and up to three objects, counts to three, reads pastel correctly.
pub const SKETCH_I2T: CaptionProfile = CaptionProfile {
    name: "SketchI2T",
    palette: &[
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Gold,
        Colour::Green,
        Colour::Teal,
        Colour::Blue,
        Colour::Purple,
        Colour::Pink,
        Colour::Brown,
        Colour::Black,
        Colour::Grey,
        Colour::White,
    ],
    backgrounds: &BACKGROUNDS,
    styles: &[Style::Pastel, Style::Neon, Style::Pixel],
    min_area: 0.003,
    max_objects: 3,
    exact_count_up_to: 3,
    many_word: "several",
    size_words: &[Size::Tiny, Size::Small, Size::Large, Size::Huge],
    mentions_vertical: true,
    undoes_pastel: true,
    favourites: &[
        (Family::Round, &["ball", "apple", "sun"]),
        (Family::Tall, &["tower", "person", "bottle"]),
        (Family::Block, &["house", "box"]),
        (Family::Wide, &["car", "boat", "cloud"]),
        (Family::Peak, &["mountain", "tree"]),
        (Family::Star, &["star", "flower"]),
        (Family::Diamond, &["diamond", "kite"]),
    ],
    noun_noise: 0.45,
    templates: &[
        "a photo of {objects} {background}",
        "{objects} {background}",
        "a picture of {objects} {background}",
        "there is {objects} {background}",
    ],
};

/// Knows fewer colours and places, keeps two objects, says "many" from three, names only
/// extreme sizes, misses neon, and takes pastel colours at face value.
pub const SKETCH_I2T2: CaptionProfile = CaptionProfile {
    name: "SketchI2T2",
    palette: &[
        Colour::Red,
        Colour::Yellow,
        Colour::Green,
        Colour::Blue,
        Colour::Violet,
        Colour::Pink,
        Colour::Brown,
        Colour::Black,
        Colour::Silver,
        Colour::White,
    ],
    backgrounds: &[
        Background::Plain,
        Background::Meadow,
        Background::Sea,
        Background::Night,
        Background::Snow,
        Background::Room,
        Background::Sunset,
    ],
    styles: &[Style::Pastel, Style::Pixel],
    min_area: 0.008,
    max_objects: 2,
    exact_count_up_to: 2,
    many_word: "many",
    size_words: &[Size::Tiny, Size::Huge],
    mentions_vertical: false,
    undoes_pastel: false,
    favourites: &[
        (Family::Round, &["moon", "planet", "orange"]),
        (Family::Tall, &["bottle", "woman", "robot"]),
        (Family::Block, &["book", "window"]),
        (Family::Wide, &["fish", "bus", "table"]),
        (Family::Peak, &["pyramid", "tent"]),
        (Family::Star, &["flower", "snowflake"]),
        (Family::Diamond, &["gem", "kite"]),
    ],
    noun_noise: 0.3,
    templates: &[
        "an image showing {objects} {background}",
        "{objects} {background}",
        "a drawing of {objects} {background}",
    ],
};

/// `SketchT2I` / `SketchT2I2`.
pub struct SketchTextToImage {
    profile: RenderProfile,
}

impl SketchTextToImage {
    pub fn new(profile: RenderProfile) -> Self {
        Self { profile }
    }

    /// One image; what `generate` does per item.
    pub fn draw(&self, prompt: &str, seed: Seed, size: u32) -> RgbImage {
        let scene = scene::parse(prompt);
        with_rng(seed, |rng| render::render(&scene, &self.profile, size, rng))
    }
}

impl TextToImage for SketchTextToImage {
    fn name(&self) -> &str {
        self.profile.name
    }

    fn generate(
        &mut self,
        prompts: &[&str],
        seeds: &[Seed],
        size: u32,
    ) -> Result<Vec<RgbImage>, ModelError> {
        check_batch(self.profile.name, prompts.len(), seeds.len())?;
        Ok(prompts
            .iter()
            .zip(seeds)
            .map(|(prompt, &seed)| self.draw(prompt, seed, size))
            .collect())
    }
}

/// `SketchI2T` / `SketchI2T2`.
pub struct SketchImageToText {
    profile: CaptionProfile,
}

impl SketchImageToText {
    pub fn new(profile: CaptionProfile) -> Self {
        Self { profile }
    }

    /// One caption; what `caption` does per item.
    pub fn describe(&self, image: &RgbImage, seed: Seed) -> String {
        let percept = perceive::perceive(image, &self.profile);
        with_rng(seed, |rng| perceive::describe(&percept, &self.profile, rng))
    }
}

impl ImageToText for SketchImageToText {
    fn name(&self) -> &str {
        self.profile.name
    }

    fn caption(&mut self, images: &[&RgbImage], seeds: &[Seed]) -> Result<Vec<String>, ModelError> {
        check_batch(self.profile.name, images.len(), seeds.len())?;
        Ok(images
            .iter()
            .zip(seeds)
            .map(|(image, &seed)| self.describe(image, seed))
            .collect())
    }
}
