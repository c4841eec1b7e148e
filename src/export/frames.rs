//! Frame composition: the static parts of a mosaic (labels, legend, t-SNE background) drawn once
//! into a base frame, then per frame each run's image for that step, its cluster ring and name,
//! caption, "stopped" badge, the step counter, progress bar and t-SNE positions. No store access:
//! everything comes in a [`Scene`], so composition runs on any thread.

use std::collections::BTreeMap;

use image::imageops::FilterType;
use image::{Rgb, RgbImage};

use super::mosaic::{Layout, Rect};
use super::text::{Painter, blend, blit, fill, shade};
use crate::store::OUTLIER;

const BACKGROUND: Rgb<u8> = Rgb([0, 0, 0]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const LABEL_GREY: Rgb<u8> = Rgb([190, 190, 190]);
const CAPTION_GREY: Rgb<u8> = Rgb([200, 200, 200]);
const BAR_GREY: Rgb<u8> = Rgb([50, 50, 50]);
const INSET_BACKGROUND: Rgb<u8> = Rgb([18, 18, 18]);
const INSET_POINT: Rgb<u8> = Rgb([110, 110, 110]);
/// Outliers get a grey hatched ring: two greys in diagonal stripes.
pub const OUTLIER_LIGHT: Rgb<u8> = Rgb([150, 150, 150]);
pub const OUTLIER_DARK: Rgb<u8> = Rgb([80, 80, 80]);
/// How many earlier positions the t-SNE trail shows.
const TRAIL: usize = 6;

/// The colour of a cluster label; outliers get [`OUTLIER_LIGHT`] (drawn hatched).
pub fn cluster_colour(label: i32) -> Rgb<u8> {
    if label < 0 {
        return OUTLIER_LIGHT;
    }
    // The same colour as the app's explorer and legends, so a cluster looks alike everywhere.
    Rgb(crate::analysis::trajectories::cluster_rgb(label))
}

/// What one run shows over the frames: one entry per image step (the k-th image invocation).
#[derive(Debug, Clone, Default)]
pub struct RunTrack {
    /// Index of its tile in [`Layout::tiles`].
    pub tile: usize,
    /// How many image steps the run has; later frames hold its last image.
    pub images: usize,
    /// Badge shown while holding the last image ("stopped", "unfinished").
    pub badge: String,
    /// The caption generated from each image, if any.
    pub captions: Vec<Option<String>>,
    /// Cluster label of each image step, if clustered.
    pub labels: Vec<Option<i32>>,
    /// t-SNE position of each image step, if projected.
    pub points: Vec<Option<(f32, f32)>>,
}

impl RunTrack {
    /// The image step shown at `frame` (the last one once the run has no more).
    pub fn step(&self, frame: usize) -> Option<usize> {
        (self.images > 0).then(|| frame.min(self.images - 1))
    }
}

/// Everything needed to draw every frame of a mosaic.
#[derive(Debug, Clone)]
pub struct Scene {
    pub layout: Layout,
    pub prompts: Vec<String>,
    pub networks: Vec<String>,
    pub runs: Vec<RunTrack>,
    pub frames: usize,
    /// Cluster display names of the legend, by label (−1 = outliers).
    pub clusters: BTreeMap<i32, String>,
    pub indicator: bool,
    /// Every projected point, drawn faintly behind the t-SNE inset.
    pub background_points: Vec<(f32, f32)>,
}

/// Maps projection coordinates into the inset with one scale for both axes, centred.
#[derive(Debug, Clone, Copy)]
struct InsetMap {
    rect: Rect,
    min: (f32, f32),
    scale: f32,
    /// Top-left of the used area and its height (y is flipped so the inset reads like a plot).
    origin: (f32, f32),
    used_h: f32,
}

impl InsetMap {
    fn new(rect: Rect, points: impl Iterator<Item = (f32, f32)>) -> Option<Self> {
        let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
        for (x, y) in points {
            lo = (lo.0.min(x), lo.1.min(y));
            hi = (hi.0.max(x), hi.1.max(y));
        }
        if lo.0 > hi.0 || rect.w == 0 || rect.h == 0 {
            return None;
        }
        let inner = rect.w.min(rect.h) as f32 * 0.9;
        let span = (hi.0 - lo.0).max(hi.1 - lo.1).max(f32::EPSILON);
        let scale = inner / span;
        let (used_w, used_h) = ((hi.0 - lo.0) * scale, (hi.1 - lo.1) * scale);
        Some(Self {
            rect,
            min: lo,
            scale,
            origin: (
                rect.x as f32 + (rect.w as f32 - used_w) / 2.0,
                rect.y as f32 + (rect.h as f32 - used_h) / 2.0,
            ),
            used_h,
        })
    }

    fn map(&self, (x, y): (f32, f32)) -> (u32, u32) {
        let px = self.origin.0 + (x - self.min.0) * self.scale;
        let py = self.origin.1 + self.used_h - (y - self.min.1) * self.scale;
        let clamp = |v: f32, lo: u32, len: u32| (v.max(lo as f32) as u32).min(lo + len - 1);
        (
            clamp(px, self.rect.x, self.rect.w),
            clamp(py, self.rect.y, self.rect.h),
        )
    }
}

fn dot(image: &mut RgbImage, (x, y): (u32, u32), radius: u32, colour: Rgb<u8>, alpha: f32) {
    let rect = Rect::new(
        x.saturating_sub(radius),
        y.saturating_sub(radius),
        2 * radius + 1,
        2 * radius + 1,
    );
    shade(image, rect, colour, alpha);
}

/// Scales `source` to fit a `side`×`side` square, keeping its aspect ratio.
pub fn fit_tile(source: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = source.dimensions();
    if w == 0 || h == 0 {
        return RgbImage::new(side, side);
    }
    let scale = side as f32 / w.max(h) as f32;
    let (tw, th) = (
        ((w as f32 * scale).round() as u32).clamp(1, side),
        ((h as f32 * scale).round() as u32).clamp(1, side),
    );
    if (tw, th) == (w, h) {
        return source.clone();
    }
    image::imageops::resize(source, tw, th, FilterType::Triangle)
}

/// A scene with its static parts drawn once; draws any frame, from any thread.
pub struct Renderer<'s> {
    scene: &'s Scene,
    painter: Painter,
    base: RgbImage,
    map: Option<InsetMap>,
}

impl<'s> Renderer<'s> {
    pub fn new(scene: &'s Scene, painter: Painter) -> Self {
        let map = scene.inset_map();
        let base = scene.base(&painter, map.as_ref());
        Self {
            scene,
            painter,
            base,
            map,
        }
    }

    /// Frame `frame`; `tile(run)` gives run `run`'s image shown in it, already scaled with
    /// [`fit_tile`] to the layout's image side.
    pub fn frame<'a>(
        &self,
        frame: usize,
        tile: impl Fn(usize) -> Option<&'a RgbImage>,
    ) -> RgbImage {
        self.scene
            .compose(&self.painter, &self.base, self.map.as_ref(), frame, tile)
    }
}

impl Scene {
    fn inset_map(&self) -> Option<InsetMap> {
        let rect = self.layout.inset?;
        let runs = self
            .runs
            .iter()
            .flat_map(|run| run.points.iter().flatten().copied());
        InsetMap::new(rect, self.background_points.iter().copied().chain(runs))
    }

    /// The parts that never change: background, prompt and network labels, legend, inset
    /// background.
    fn base(&self, painter: &Painter, map: Option<&InsetMap>) -> RgbImage {
        let layout = &self.layout;
        let mut image = RgbImage::from_pixel(layout.width, layout.height, BACKGROUND);
        for (prompt, rect) in self.prompts.iter().zip(&layout.prompt_labels) {
            painter.draw_centered(&mut image, prompt, layout.label_px, *rect, WHITE);
        }
        for (p, _) in self.prompts.iter().enumerate() {
            for (n, network) in self.networks.iter().enumerate() {
                let rect = layout.network_label(p, n);
                painter.draw_centered(&mut image, network, layout.label_px * 0.8, rect, LABEL_GREY);
            }
        }
        if let Some(rect) = layout.legend {
            self.draw_legend(&mut image, painter, rect);
        }
        if let (Some(rect), Some(map)) = (layout.inset, map) {
            fill(&mut image, rect, INSET_BACKGROUND);
            for point in &self.background_points {
                let (x, y) = map.map(*point);
                blend(&mut image, x, y, INSET_POINT, 0.6);
            }
            let title = Rect::new(rect.x + 4, rect.y + 2, rect.w, layout.label_px as u32 + 4);
            painter.draw(
                &mut image,
                "t-SNE",
                layout.label_px * 0.7,
                (title.x as f32, title.y as f32),
                LABEL_GREY,
                rect,
            );
        }
        image
    }

    fn draw_legend(&self, image: &mut RgbImage, painter: &Painter, rect: Rect) {
        let px = self.layout.label_px * 0.75;
        let row = (painter.line_height(px) * 1.35).ceil() as u32;
        let swatch = (row * 2 / 3).max(4);
        let rows = (rect.h / row.max(1)) as usize;
        if rows < 2 {
            return;
        }
        painter.draw(
            image,
            "clusters",
            px,
            (rect.x as f32, rect.y as f32),
            WHITE,
            rect,
        );
        // Clusters by label, outliers last.
        let mut entries: Vec<(&i32, &String)> =
            self.clusters.iter().filter(|(l, _)| **l >= 0).collect();
        entries.extend(self.clusters.iter().filter(|(l, _)| **l < 0));
        let room = rows - 1;
        let shown = if entries.len() > room {
            room - 1
        } else {
            entries.len()
        };
        for (i, (label, name)) in entries.iter().take(shown).enumerate() {
            let y = rect.y + (i as u32 + 1) * row;
            let sw = Rect::new(rect.x, y + (row - swatch) / 2, swatch, swatch);
            self.draw_ring_colour(image, sw, **label);
            let text_x = rect.x + swatch + swatch / 2;
            let clip = Rect::new(text_x, y, rect.right().saturating_sub(text_x), row);
            let text = painter.fit(name, px, clip.w as f32);
            painter.draw(
                image,
                &text,
                px,
                (text_x as f32, y as f32),
                LABEL_GREY,
                clip,
            );
        }
        if shown < entries.len() {
            let y = rect.y + (shown as u32 + 1) * row;
            let more = format!("+{} more", entries.len() - shown);
            painter.draw(
                image,
                &more,
                px,
                (rect.x as f32, y as f32),
                LABEL_GREY,
                rect,
            );
        }
    }

    /// Fills `rect` with a cluster's colour (hatched grey for outliers).
    fn draw_ring_colour(&self, image: &mut RgbImage, rect: Rect, label: i32) {
        if label != OUTLIER {
            fill(image, rect, cluster_colour(label));
            return;
        }
        let stripe = (self.layout.ring / 2).max(2);
        let right = rect.right().min(image.width());
        let bottom = rect.bottom().min(image.height());
        for y in rect.y..bottom {
            for x in rect.x..right {
                let light = ((x + y) / stripe).is_multiple_of(2);
                image.put_pixel(x, y, if light { OUTLIER_LIGHT } else { OUTLIER_DARK });
            }
        }
    }

    /// Draws frame `frame` over `base` (from [`Scene::base`]): `tile(run)` gives run `run`'s
    /// image for this frame, already scaled with [`fit_tile`] to the layout's image side.
    fn compose<'a>(
        &self,
        painter: &Painter,
        base: &RgbImage,
        map: Option<&InsetMap>,
        frame: usize,
        tile: impl Fn(usize) -> Option<&'a RgbImage>,
    ) -> RgbImage {
        let layout = &self.layout;
        let mut image = base.clone();
        for (index, run) in self.runs.iter().enumerate() {
            let Some(step) = run.step(frame) else {
                continue;
            };
            let Some(t) = layout.tiles.get(run.tile) else {
                continue;
            };
            let area = t.image;
            if let Some(source) = tile(index) {
                let x = area.x + area.w.saturating_sub(source.width()) / 2;
                let y = area.y + area.h.saturating_sub(source.height()) / 2;
                blit(&mut image, source, x, y);
            }
            let label = run.labels.get(step).copied().flatten();
            if self.indicator
                && let Some(label) = label
            {
                let r = layout.ring;
                let outer = Rect::new(area.x - r, area.y - r, area.w + 2 * r, area.h + 2 * r);
                for side in [
                    Rect::new(outer.x, outer.y, outer.w, r),
                    Rect::new(outer.x, area.bottom(), outer.w, r),
                    Rect::new(outer.x, area.y, r, area.h),
                    Rect::new(area.right(), area.y, r, area.h),
                ] {
                    self.draw_ring_colour(&mut image, side, label);
                }
                if layout.small_px >= 8.0 {
                    let name = self.clusters.get(&label).map_or("", String::as_str);
                    let h = painter.line_height(layout.small_px).ceil() as u32 + 2;
                    let strip = Rect::new(area.x, area.bottom().saturating_sub(h), area.w, h);
                    shade(&mut image, strip, BACKGROUND, 0.6);
                    painter.draw_centered(&mut image, name, layout.small_px, strip, WHITE);
                }
            }
            if frame >= run.images && layout.small_px >= 7.0 {
                let h = painter.line_height(layout.small_px).ceil() as u32 + 2;
                let w = (painter.width(&run.badge, layout.small_px).ceil() as u32 + 6).min(area.w);
                let badge = Rect::new(area.x, area.y, w, h);
                shade(&mut image, badge, Rgb([120, 0, 0]), 0.8);
                painter.draw_centered(&mut image, &run.badge, layout.small_px, badge, WHITE);
            }
            if let (Some(rect), Some(Some(caption))) = (t.caption, run.captions.get(step)) {
                let px = layout.small_px;
                let lines = painter.wrap(caption, px, rect.w as f32, 2);
                let line_h = painter.line_height(px);
                for (i, line) in lines.iter().enumerate() {
                    let y = rect.y as f32 + 1.0 + i as f32 * line_h;
                    painter.draw(&mut image, line, px, (rect.x as f32, y), CAPTION_GREY, rect);
                }
            }
        }
        if let Some(map) = map {
            self.draw_inset_positions(&mut image, map, frame);
        }
        self.draw_progress(&mut image, painter, frame);
        image
    }

    fn draw_inset_positions(&self, image: &mut RgbImage, map: &InsetMap, frame: usize) {
        let radius = (map.rect.w / 150).max(1);
        for run in &self.runs {
            let Some(step) = run.step(frame) else {
                continue;
            };
            let colour = |s: usize| match run.labels.get(s).copied().flatten() {
                Some(label) if self.indicator => cluster_colour(label),
                _ => WHITE,
            };
            let first = step.saturating_sub(TRAIL);
            for s in first..step {
                if let Some(Some(point)) = run.points.get(s) {
                    let age = (step - s) as f32 / (TRAIL + 1) as f32;
                    dot(image, map.map(*point), radius, colour(s), 0.7 * (1.0 - age));
                }
            }
            if let Some(Some(point)) = run.points.get(step) {
                dot(image, map.map(*point), radius + 1, colour(step), 1.0);
            }
        }
    }

    fn draw_progress(&self, image: &mut RgbImage, painter: &Painter, frame: usize) {
        let layout = &self.layout;
        let total = self.frames.max(1);
        let text = format!("image step {} / {}", frame + 1, total);
        let rect = layout.step_label;
        let y = rect.y as f32 + (rect.h as f32 - painter.line_height(layout.label_px)) / 2.0;
        painter.draw(
            image,
            &text,
            layout.label_px,
            (rect.x as f32, y),
            WHITE,
            rect,
        );
        let bar = layout.progress;
        fill(image, bar, BAR_GREY);
        let done = (bar.w as u64 * (frame as u64 + 1) / total as u64) as u32;
        fill(
            image,
            Rect::new(bar.x, bar.y, done.min(bar.w), bar.h),
            WHITE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::trajectories::CLUSTER_PALETTE as PALETTE;
    use crate::export::mosaic::{MosaicSpec, layout};

    fn scene(indicator: bool) -> Scene {
        let layout = layout(&MosaicSpec {
            width: 640,
            height: 360,
            prompts: 1,
            networks: 1,
            seeds: 2,
            captions: true,
            indicator,
            legend: indicator,
            inset: true,
        })
        .expect("layout");
        let runs = vec![
            RunTrack {
                tile: 0,
                images: 3,
                badge: "stopped".into(),
                captions: vec![Some("a cat".into()); 3],
                labels: vec![Some(0), Some(1), Some(OUTLIER)],
                points: vec![Some((0.0, 0.0)), Some((1.0, 1.0)), Some((2.0, 0.5))],
            },
            RunTrack {
                tile: 1,
                images: 1,
                badge: "stopped".into(),
                captions: vec![None],
                labels: vec![Some(1)],
                points: vec![None],
            },
        ];
        Scene {
            layout,
            prompts: vec!["a prompt".into()],
            networks: vec!["A → B".into()],
            runs,
            frames: 3,
            clusters: BTreeMap::from([
                (0, "cats".into()),
                (1, "dogs".into()),
                (-1, "outlier".into()),
            ]),
            indicator,
            background_points: vec![(0.5, 0.5), (1.5, 0.2)],
        }
    }

    fn compose(scene: &Scene, frame: usize, colours: [[u8; 3]; 2]) -> RgbImage {
        let renderer = Renderer::new(scene, Painter::new().expect("font"));
        let side = scene.layout.tiles[0].image.w;
        let tiles: Vec<RgbImage> = colours
            .iter()
            .map(|c| RgbImage::from_pixel(side, side, Rgb(*c)))
            .collect();
        renderer.frame(frame, |run| tiles.get(run))
    }

    fn ring_pixel(scene: &Scene, image: &RgbImage, tile: usize) -> [u8; 3] {
        let t = scene.layout.tiles[tile];
        let (cx, _) = t.image.center();
        image.get_pixel(cx, t.image.y - scene.layout.ring / 2 - 1).0
    }

    #[test]
    fn tiles_show_their_images_and_cluster_rings() {
        let scene = scene(true);
        let frame0 = compose(&scene, 0, [[200, 0, 0], [0, 0, 200]]);
        let t0 = scene.layout.tiles[0].image.center();
        assert_eq!(frame0.get_pixel(t0.0, t0.1).0, [200, 0, 0]);
        assert_eq!(ring_pixel(&scene, &frame0, 0), PALETTE[0]);
        assert_eq!(ring_pixel(&scene, &frame0, 1), PALETTE[1]);
        let frame1 = compose(&scene, 1, [[200, 0, 0], [0, 0, 200]]);
        assert_eq!(ring_pixel(&scene, &frame1, 0), PALETTE[1]);
        // Outliers are grey.
        let frame2 = compose(&scene, 2, [[200, 0, 0], [0, 0, 200]]);
        let p = ring_pixel(&scene, &frame2, 0);
        assert!(p == OUTLIER_LIGHT.0 || p == OUTLIER_DARK.0, "{p:?}");
    }

    #[test]
    fn a_run_that_stopped_holds_its_last_image_with_a_badge() {
        let scene = scene(true);
        assert_eq!(scene.runs[1].step(2), Some(0));
        let frame = compose(&scene, 2, [[200, 0, 0], [0, 0, 200]]);
        let image = scene.layout.tiles[1].image;
        let (cx, cy) = image.center();
        assert_eq!(frame.get_pixel(cx, cy).0, [0, 0, 200]);
        // The badge darkens the top-left corner red.
        let corner = frame.get_pixel(image.x + 1, image.y + 1).0;
        assert!(corner[0] > corner[2], "{corner:?}");
        let frame0 = compose(&scene, 0, [[200, 0, 0], [0, 0, 200]]);
        assert_eq!(frame0.get_pixel(image.x + 1, image.y + 1).0, [0, 0, 200]);
    }

    #[test]
    fn without_indicator_there_is_no_ring_and_the_progress_bar_grows() {
        let scene = scene(false);
        let frame0 = compose(&scene, 0, [[200, 0, 0], [0, 0, 200]]);
        assert_eq!(scene.layout.ring, 0);
        let bar = scene.layout.progress;
        let lit = |image: &RgbImage| {
            (bar.x..bar.right())
                .filter(|x| image.get_pixel(*x, bar.y + bar.h / 2).0 == [255, 255, 255])
                .count()
        };
        let frame2 = compose(&scene, 2, [[200, 0, 0], [0, 0, 200]]);
        assert!(lit(&frame0) < lit(&frame2));
        assert_eq!(lit(&frame2), bar.w as usize);
    }

    #[test]
    fn tiles_keep_their_aspect_ratio() {
        let wide = RgbImage::new(200, 100);
        assert_eq!(fit_tile(&wide, 50).dimensions(), (50, 25));
        let same = RgbImage::new(50, 50);
        assert_eq!(fit_tile(&same, 50).dimensions(), (50, 50));
    }
}
