//! Scene → picture: flat anti-aliased shapes over a two-band background.
//!
//! Shapes are drawn from signed distance functions (coverage = 0.5 − distance, clamped), which
//! gives one-pixel anti-aliased edges without a rasteriser dependency.

use image::{Rgb, RgbImage, imageops};
use rand::{Rng, RngCore};

use super::scene::{Background, Colour, Family, HORIZON, Horizontal, Scene, Size, Style, Vertical};

/// How one text→image model draws; the two Sketch T2I models differ only in this.
#[derive(Debug, Clone, Copy)]
pub struct RenderProfile {
    pub name: &'static str,
    pub default_background: Background,
    pub default_style: Style,
    /// Multiplies every object's extent.
    pub size_scale: f32,
    /// Added to red and subtracted from blue (a warm cast), in 0–255 units.
    pub warmth: i16,
    /// How far positions wander from their slot, as a fraction of the side.
    pub jitter: f32,
}

/// Side of the low-resolution canvas pixel-art images are drawn on.
const PIXEL_ART_CELLS: u32 = 32;

pub fn render(
    scene: &Scene,
    profile: &RenderProfile,
    size: u32,
    rng: &mut dyn RngCore,
) -> RgbImage {
    let style = scene.style.unwrap_or(profile.default_style);
    let layout = layout(scene, profile, rng);
    if style == Style::Pixel && size > PIXEL_ART_CELLS {
        let small = draw(scene, &layout, profile, style, PIXEL_ART_CELLS);
        imageops::resize(&small, size, size, imageops::FilterType::Nearest)
    } else {
        draw(scene, &layout, profile, style, size)
    }
}

/// One shape to draw, in unit coordinates (0–1 of the side).
struct Placed {
    family: Family,
    colour: Colour,
    x: f32,
    y: f32,
    extent: f32,
}

fn width_factor(family: Family) -> f32 {
    match family {
        Family::Round | Family::Block => 1.0,
        Family::Tall => 0.5,
        Family::Wide => 1.5,
        Family::Peak | Family::Star => 1.2,
        Family::Diamond => 0.9,
    }
}

fn layout(scene: &Scene, profile: &RenderProfile, rng: &mut dyn RngCore) -> Vec<Placed> {
    let mut free = vec![Horizontal::Left, Horizontal::Centre, Horizontal::Right];
    let mut placed = Vec::new();
    for object in &scene.objects {
        let size = object
            .size
            .unwrap_or_else(|| [Size::Small, Size::Medium, Size::Large][rng.random_range(0..3)]);
        // The first unplaced object takes the centre, as a photographer would.
        let horizontal = match object.horizontal {
            Some(horizontal) => horizontal,
            None if free.is_empty() => Horizontal::Centre,
            None if free.contains(&Horizontal::Centre) => Horizontal::Centre,
            None => free.remove(rng.random_range(0..free.len())),
        };
        free.retain(|slot| *slot != horizontal);
        let vertical = object.vertical.unwrap_or(Vertical::Middle);
        let centre_x = match horizontal {
            Horizontal::Left => 0.25,
            Horizontal::Centre => 0.5,
            Horizontal::Right => 0.75,
        } + rng.random_range(-1.0..=1.0) * profile.jitter;
        let centre_y = match vertical {
            Vertical::Top => 0.27,
            Vertical::Middle => 0.5,
            Vertical::Bottom => 0.75,
        } + rng.random_range(-1.0..=1.0) * profile.jitter;
        let count = object.count.max(1);
        let mut extent = size.extent() * profile.size_scale * rng.random_range(0.92..=1.08);
        let spacing = |extent: f32| extent * width_factor(object.family) * 1.3;
        // A row of copies that would not fit shrinks instead.
        let row = spacing(extent) * count as f32;
        if row > 0.92 {
            extent *= 0.92 / row;
        }
        let step = spacing(extent);
        let first = (centre_x - step * (count as f32 - 1.0) / 2.0)
            .clamp(step / 2.0, 1.0 - step * (count as f32 - 0.5));
        for copy in 0..count {
            placed.push(Placed {
                family: object.family,
                colour: object.colour,
                x: first + step * copy as f32,
                y: centre_y,
                extent,
            });
        }
    }
    placed
}

/// How far pastel mixes every colour toward its target.
pub const PASTEL_MIX: f32 = 0.45;
/// Pastel objects fade toward white, backgrounds toward a warm paper tone (so a captioner can
/// tell a pastel picture by its background).
pub const PASTEL_INK: [u8; 3] = [255, 255, 255];
pub const PASTEL_PAPER: [u8; 3] = [255, 232, 200];

pub fn to_pastel(rgb: [u8; 3], target: [u8; 3]) -> [u8; 3] {
    let mut out = rgb;
    for ((channel, value), goal) in out.iter_mut().zip(rgb).zip(target) {
        *channel = (f32::from(value) * (1.0 - PASTEL_MIX) + f32::from(goal) * PASTEL_MIX) as u8;
    }
    out
}

pub fn from_pastel(rgb: [u8; 3], target: [u8; 3]) -> [u8; 3] {
    let mut out = rgb;
    for ((channel, value), goal) in out.iter_mut().zip(rgb).zip(target) {
        let original = (f32::from(value) - f32::from(goal) * PASTEL_MIX) / (1.0 - PASTEL_MIX);
        *channel = original.round().clamp(0.0, 255.0) as u8;
    }
    out
}

fn styled(rgb: [u8; 3], style: Style, warmth: i16, pastel_target: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb;
    let warm = [
        (i16::from(r) + warmth).clamp(0, 255) as u8,
        g,
        (i16::from(b) - warmth).clamp(0, 255) as u8,
    ];
    match style {
        Style::Plain | Style::Pixel => warm,
        Style::Pastel => to_pastel(warm, pastel_target),
        Style::Neon => {
            let max = warm.iter().copied().max().unwrap_or(0).max(1);
            warm.map(|c| (u32::from(c) * 255 / u32::from(max)) as u8)
        }
    }
}

fn draw(
    scene: &Scene,
    placed: &[Placed],
    profile: &RenderProfile,
    style: Style,
    size: u32,
) -> RgbImage {
    let background = scene.background.unwrap_or(profile.default_background);
    let (sky, ground) = match style {
        Style::Neon => ([10, 10, 16], [10, 10, 16]),
        _ => {
            let (sky, ground) = background.colours();
            (
                styled(sky, style, profile.warmth, PASTEL_PAPER),
                styled(ground, style, profile.warmth, PASTEL_PAPER),
            )
        }
    };
    let horizon = (HORIZON * size as f32) as u32;
    let mut image = RgbImage::from_fn(size, size, |_, y| {
        Rgb(if y < horizon { sky } else { ground })
    });
    let side = size as f32;
    for shape in placed {
        let colour = styled(shape.colour.rgb(), style, profile.warmth, PASTEL_INK);
        let (cx, cy, extent) = (shape.x * side, shape.y * side, shape.extent * side);
        fill(&mut image, &Sdf::of(shape.family, extent), cx, cy, colour);
        // A small interior mark makes the shape read as an icon; it stays under a captioner's
        // smallest region at ordinary sizes and leaves the silhouette alone.
        if extent >= 12.0 {
            let (mark, dx, dy) = icon_mark(shape.family, extent);
            fill(&mut image, &mark, cx + dx, cy + dy, shade(colour));
        }
    }
    image
}

/// Signed distance (pixels, negative inside) from a point to a shape.
enum Sdf {
    Circle {
        radius: f32,
    },
    Ellipse {
        a: f32,
        b: f32,
    },
    Box {
        half_w: f32,
        half_h: f32,
        corner: f32,
    },
    Polygon(Vec<(f32, f32)>),
}

impl Sdf {
    fn of(family: Family, extent: f32) -> Sdf {
        let e = extent;
        match family {
            Family::Round => Sdf::Circle { radius: e / 2.0 },
            Family::Tall => Sdf::Box {
                half_w: 0.25 * e,
                half_h: 0.62 * e,
                corner: 0.1 * e,
            },
            Family::Block => Sdf::Box {
                half_w: 0.5 * e,
                half_h: 0.5 * e,
                corner: 0.05 * e,
            },
            Family::Wide => Sdf::Ellipse {
                a: 0.75 * e,
                b: 0.33 * e,
            },
            Family::Peak => Sdf::Polygon(vec![
                (0.0, -0.55 * e),
                (0.6 * e, 0.45 * e),
                (-0.6 * e, 0.45 * e),
            ]),
            Family::Diamond => Sdf::Polygon(vec![
                (0.0, -0.6 * e),
                (0.45 * e, 0.0),
                (0.0, 0.6 * e),
                (-0.45 * e, 0.0),
            ]),
            Family::Star => {
                let outer = 0.6 * e;
                let inner = 0.45 * outer;
                Sdf::Polygon(
                    (0..10)
                        .map(|i| {
                            let angle = std::f32::consts::PI * (i as f32 / 5.0 - 0.5);
                            let radius = if i % 2 == 0 { outer } else { inner };
                            (radius * angle.cos(), radius * angle.sin() + 0.05 * e)
                        })
                        .collect(),
                )
            }
        }
    }

    /// Half of the bounding box side around the centre.
    fn reach(&self) -> f32 {
        match self {
            Sdf::Circle { radius } => *radius,
            Sdf::Ellipse { a, b } => a.max(*b),
            Sdf::Box { half_w, half_h, .. } => half_w.max(*half_h),
            Sdf::Polygon(points) => points
                .iter()
                .map(|(x, y)| x.abs().max(y.abs()))
                .fold(0.0, f32::max),
        }
    }

    fn distance(&self, x: f32, y: f32) -> f32 {
        match self {
            Sdf::Circle { radius } => (x * x + y * y).sqrt() - radius,
            Sdf::Ellipse { a, b } => {
                let scaled = ((x / a).powi(2) + (y / b).powi(2)).sqrt();
                (scaled - 1.0) * a.min(*b)
            }
            Sdf::Box {
                half_w,
                half_h,
                corner,
            } => {
                let qx = x.abs() - half_w + corner;
                let qy = y.abs() - half_h + corner;
                let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
                outside + qx.max(qy).min(0.0) - corner
            }
            Sdf::Polygon(points) => polygon_distance(points, x, y),
        }
    }
}

fn polygon_distance(points: &[(f32, f32)], x: f32, y: f32) -> f32 {
    let mut nearest = f32::MAX;
    let mut inside = false;
    let mut previous = points[points.len() - 1];
    for &current in points {
        let (ax, ay) = previous;
        let (bx, by) = current;
        let (ex, ey) = (bx - ax, by - ay);
        let (wx, wy) = (x - ax, y - ay);
        let t = ((wx * ex + wy * ey) / (ex * ex + ey * ey)).clamp(0.0, 1.0);
        let (dx, dy) = (wx - ex * t, wy - ey * t);
        nearest = nearest.min(dx * dx + dy * dy);
        if (ay > y) != (by > y) && x < ax + (y - ay) * ex / ey {
            inside = !inside;
        }
        previous = current;
    }
    let distance = nearest.sqrt();
    if inside { -distance } else { distance }
}

/// A lighter tint of dark colours, a darker shade of light ones.
fn shade(rgb: [u8; 3]) -> [u8; 3] {
    let light = rgb.iter().map(|&c| u32::from(c)).sum::<u32>() > 3 * 128;
    rgb.map(|c| {
        if light {
            (f32::from(c) * 0.72) as u8
        } else {
            (f32::from(c) * 0.6 + 255.0 * 0.4) as u8
        }
    })
}

/// The interior mark of a family's icon and its offset from the shape's centre.
fn icon_mark(family: Family, extent: f32) -> (Sdf, f32, f32) {
    let e = extent;
    match family {
        // A highlight.
        Family::Round => (Sdf::Circle { radius: 0.09 * e }, -0.18 * e, -0.18 * e),
        // A window.
        Family::Tall => (
            Sdf::Box {
                half_w: 0.07 * e,
                half_h: 0.07 * e,
                corner: 0.01 * e,
            },
            0.0,
            -0.3 * e,
        ),
        // A door.
        Family::Block => (
            Sdf::Box {
                half_w: 0.08 * e,
                half_h: 0.13 * e,
                corner: 0.02 * e,
            },
            0.0,
            0.3 * e,
        ),
        // An eye.
        Family::Wide => (Sdf::Circle { radius: 0.06 * e }, 0.45 * e, -0.06 * e),
        // A snow cap.
        Family::Peak => (
            Sdf::Polygon(vec![
                (0.0, -0.12 * e),
                (0.1 * e, 0.05 * e),
                (-0.1 * e, 0.05 * e),
            ]),
            0.0,
            -0.32 * e,
        ),
        // A heart.
        Family::Star => (Sdf::Circle { radius: 0.08 * e }, 0.0, 0.05 * e),
        // A facet.
        Family::Diamond => (
            Sdf::Polygon(vec![
                (0.0, -0.14 * e),
                (0.1 * e, 0.0),
                (0.0, 0.14 * e),
                (-0.1 * e, 0.0),
            ]),
            -0.1 * e,
            -0.12 * e,
        ),
    }
}

fn fill(image: &mut RgbImage, sdf: &Sdf, cx: f32, cy: f32, colour: [u8; 3]) {
    if let Sdf::Polygon(points) = sdf
        && points.len() < 3
    {
        return;
    }
    let reach = sdf.reach() + 1.5;
    let (width, height) = image.dimensions();
    let x0 = (cx - reach).floor().max(0.0) as u32;
    let y0 = (cy - reach).floor().max(0.0) as u32;
    let x1 = ((cx + reach).ceil().max(0.0) as u32).min(width);
    let y1 = ((cy + reach).ceil().max(0.0) as u32).min(height);
    let colour = colour.map(f32::from);
    for y in y0..y1 {
        for x in x0..x1 {
            let distance = sdf.distance(x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let coverage = (0.5 - distance).clamp(0.0, 1.0);
            if coverage <= 0.0 {
                continue;
            }
            let pixel = image.get_pixel_mut(x, y);
            for (channel, target) in pixel.0.iter_mut().zip(colour) {
                *channel =
                    (f32::from(*channel) * (1.0 - coverage) + target * coverage).round() as u8;
            }
        }
    }
}
