//! Text and simple shapes on RGB frames. The font is the bundled DejaVu Sans, compiled into the
//! binary so exports look the same everywhere and never depend on system fonts.

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use thiserror::Error;

use super::mosaic::Rect;

static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

#[derive(Debug, Error)]
#[error("the bundled font could not be read: {0}")]
pub struct FontError(String);

/// The bundled font, ready to measure and draw.
#[derive(Clone)]
pub struct Painter {
    font: FontRef<'static>,
}

impl Painter {
    pub fn new() -> Result<Self, FontError> {
        FontRef::try_from_slice(FONT_BYTES)
            .map(|font| Self { font })
            .map_err(|e| FontError(e.to_string()))
    }

    /// Advance width of `text` at `px`.
    pub fn width(&self, text: &str, px: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(px));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(prev) = previous {
                width += font.kern(prev, id);
            }
            width += font.h_advance(id);
            previous = Some(id);
        }
        width
    }

    /// `text` shortened with an ellipsis so it is at most `max_width` wide.
    pub fn fit(&self, text: &str, px: f32, max_width: f32) -> String {
        if self.width(text, px) <= max_width {
            return text.to_owned();
        }
        let mut chars: Vec<char> = text.chars().collect();
        while !chars.is_empty() {
            chars.pop();
            let candidate: String = chars.iter().collect::<String>().trim_end().to_owned() + "…";
            if self.width(&candidate, px) <= max_width {
                return candidate;
            }
        }
        String::new()
    }

    /// Word-wraps `text` into at most `max_lines` lines of `max_width`; the last line is
    /// shortened with an ellipsis when text remains.
    pub fn wrap(&self, text: &str, px: f32, max_width: f32, max_lines: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut current = String::new();
        let mut words = text.split_whitespace().peekable();
        while let Some(word) = words.next() {
            let candidate = if current.is_empty() {
                word.to_owned()
            } else {
                format!("{current} {word}")
            };
            if self.width(&candidate, px) <= max_width || current.is_empty() {
                current = candidate;
                continue;
            }
            if lines.len() + 1 == max_lines {
                let rest: Vec<&str> = std::iter::once(word).chain(words.by_ref()).collect();
                current = format!("{current} {}", rest.join(" "));
                break;
            }
            lines.push(std::mem::take(&mut current));
            current = word.to_owned();
        }
        if !current.is_empty() && lines.len() < max_lines {
            lines.push(current);
        }
        lines
            .into_iter()
            .map(|line| self.fit(&line, px, max_width))
            .collect()
    }

    /// Draws one line with its top-left at `(x, y)`, clipped to `clip`; returns its width.
    pub fn draw(
        &self,
        image: &mut RgbImage,
        text: &str,
        px: f32,
        (x, y): (f32, f32),
        colour: Rgb<u8>,
        clip: Rect,
    ) -> f32 {
        let scale = PxScale::from(px);
        let font = self.font.as_scaled(scale);
        let baseline = y + font.ascent();
        let mut caret = x;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(prev) = previous {
                caret += font.kern(prev, id);
            }
            let glyph: Glyph = id.with_scale_and_position(scale, point(caret, baseline));
            caret += font.h_advance(id);
            previous = Some(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, coverage| {
                let px = bounds.min.x as i64 + gx as i64;
                let py = bounds.min.y as i64 + gy as i64;
                if px < clip.x as i64
                    || py < clip.y as i64
                    || px >= clip.right() as i64
                    || py >= clip.bottom() as i64
                    || px >= image.width() as i64
                    || py >= image.height() as i64
                {
                    return;
                }
                blend(image, px as u32, py as u32, colour, coverage);
            });
        }
        caret - x
    }

    /// Draws `text` centred in `rect` (both ways), shortened to fit its width.
    pub fn draw_centered(
        &self,
        image: &mut RgbImage,
        text: &str,
        px: f32,
        rect: Rect,
        colour: Rgb<u8>,
    ) {
        let line = self.fit(text, px, rect.w as f32);
        let width = self.width(&line, px);
        let x = rect.x as f32 + (rect.w as f32 - width) / 2.0;
        let y = rect.y as f32 + (rect.h as f32 - self.line_height(px)) / 2.0;
        self.draw(image, &line, px, (x, y), colour, rect);
    }

    /// Height of a line (ascent to descent) at `px`.
    pub fn line_height(&self, px: f32) -> f32 {
        let font = self.font.as_scaled(PxScale::from(px));
        font.ascent() - font.descent()
    }
}

/// Mixes `colour` into one pixel with opacity `alpha` (0–1).
pub fn blend(image: &mut RgbImage, x: u32, y: u32, colour: Rgb<u8>, alpha: f32) {
    let alpha = alpha.clamp(0.0, 1.0);
    let pixel = image.get_pixel_mut(x, y);
    for channel in 0..3 {
        let old = pixel.0[channel] as f32;
        pixel.0[channel] = (old + (colour.0[channel] as f32 - old) * alpha).round() as u8;
    }
}

/// Fills `rect` (clipped to the image) with `colour`.
pub fn fill(image: &mut RgbImage, rect: Rect, colour: Rgb<u8>) {
    let right = rect.right().min(image.width());
    let bottom = rect.bottom().min(image.height());
    if rect.x >= right {
        return;
    }
    let width = image.width() as usize;
    let raw: &mut [u8] = image;
    for y in rect.y..bottom {
        let start = (y as usize * width + rect.x as usize) * 3;
        let end = (y as usize * width + right as usize) * 3;
        for pixel in raw[start..end].chunks_exact_mut(3) {
            pixel.copy_from_slice(&colour.0);
        }
    }
}

/// Darkens/tints `rect` towards `colour` with opacity `alpha` (badges over images).
pub fn shade(image: &mut RgbImage, rect: Rect, colour: Rgb<u8>, alpha: f32) {
    let right = rect.right().min(image.width());
    let bottom = rect.bottom().min(image.height());
    for y in rect.y..bottom {
        for x in rect.x..right {
            blend(image, x, y, colour, alpha);
        }
    }
}

/// Copies `source` into `image` with its top-left at (x, y), clipped.
pub fn blit(image: &mut RgbImage, source: &RgbImage, x: u32, y: u32) {
    if x >= image.width() || y >= image.height() {
        return;
    }
    let copy_w = source.width().min(image.width() - x) as usize;
    let rows = source.height().min(image.height() - y);
    let dst_w = image.width() as usize;
    let src_w = source.width() as usize;
    let src: &[u8] = source;
    let dst: &mut [u8] = image;
    for row in 0..rows as usize {
        let d = ((y as usize + row) * dst_w + x as usize) * 3;
        let s = row * src_w * 3;
        dst[d..d + copy_w * 3].copy_from_slice(&src[s..s + copy_w * 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_drawn_inside_its_clip_and_measured() {
        let painter = Painter::new().expect("font");
        let mut image = RgbImage::new(200, 40);
        let clip = Rect::new(0, 0, 100, 40);
        let width = painter.draw(
            &mut image,
            "Hello → world",
            20.0,
            (2.0, 5.0),
            Rgb([255, 255, 255]),
            clip,
        );
        assert!((width - painter.width("Hello → world", 20.0)).abs() < 0.01);
        let lit_inside = image
            .enumerate_pixels()
            .any(|(x, _, p)| x < 100 && p.0[0] > 200);
        let lit_outside = image
            .enumerate_pixels()
            .any(|(x, _, p)| x >= 100 && p.0[0] > 0);
        assert!(lit_inside && !lit_outside);
    }

    #[test]
    fn long_text_is_shortened_and_wrapped() {
        let painter = Painter::new().expect("font");
        let fitted = painter.fit("a very long prompt about a painting of a man", 12.0, 60.0);
        assert!(fitted.ends_with('…') && painter.width(&fitted, 12.0) <= 60.0);
        let lines = painter.wrap("one two three four five six seven eight", 12.0, 60.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
        assert_eq!(painter.wrap("short", 12.0, 60.0, 2), vec!["short"]);
    }

    #[test]
    fn fill_and_blit_clip_to_the_image() {
        let mut image = RgbImage::new(10, 10);
        fill(&mut image, Rect::new(8, 8, 5, 5), Rgb([1, 2, 3]));
        assert_eq!(image.get_pixel(9, 9).0, [1, 2, 3]);
        assert_eq!(image.get_pixel(7, 7).0, [0, 0, 0]);
        let source = RgbImage::from_pixel(4, 4, Rgb([9, 9, 9]));
        blit(&mut image, &source, 7, 1);
        assert_eq!(image.get_pixel(9, 4).0, [9, 9, 9]);
        assert_eq!(image.get_pixel(6, 1).0, [0, 0, 0]);
    }
}
