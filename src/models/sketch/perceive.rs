//! Picture → caption, from the pixels only: estimate the background from the top and bottom
//! rows, mask it out, quantise the rest to the captioner's palette on a coarse grid, take
//! connected regions, classify each region's shape into a family, group equal regions into
//! counts, and phrase the largest groups with the profile's words.
//!
//! Every step loses something on purpose: near colours merge into the palette's nearest name,
//! objects close to the background colour vanish, small regions are dropped, counts are
//! rounded, sizes are bucketed and nouns come back as the profile's favourites for the family.

use image::RgbImage;
use rand::{Rng, RngCore};

use super::render::{PASTEL_INK, PASTEL_PAPER, from_pastel};
use super::scene::{Background, Colour, Family, HORIZON, SIZES, Size, Style, family_nouns, plural};

/// How one image→text model sees and speaks; the two Sketch captioners differ only in this.
#[derive(Debug, Clone, Copy)]
pub struct CaptionProfile {
    pub name: &'static str,
    /// Colour names it knows; anything else is read as the nearest of these.
    pub palette: &'static [Colour],
    pub backgrounds: &'static [Background],
    /// Styles it can tell; others are described as plain pictures.
    pub styles: &'static [Style],
    /// Regions smaller than this fraction of the image are ignored.
    pub min_area: f32,
    pub max_objects: usize,
    /// Larger counts become `many_word`.
    pub exact_count_up_to: u32,
    pub many_word: &'static str,
    /// Sizes it bothers to mention.
    pub size_words: &'static [Size],
    pub mentions_vertical: bool,
    /// Whether it reads pastel colours as the saturated colour they came from.
    pub undoes_pastel: bool,
    /// Nouns it prefers per family, most preferred first.
    pub favourites: &'static [(Family, &'static [&'static str])],
    /// Spread of the random part of noun choice.
    pub noun_noise: f32,
    /// Plain-style sentence templates: `{objects}` and `{background}` are filled in.
    pub templates: &'static [&'static str],
}

/// The coarse grid is at most this many cells a side.
const GRID: u32 = 96;
/// Squared RGB distance under which a pixel counts as background.
const BACKGROUND_DISTANCE: i32 = 32 * 32;
/// How much better the background must match once pastel is undone to call a picture pastel.
const PASTEL_MARGIN: i32 = 200;

#[derive(Debug, Clone)]
struct Region {
    label: usize,
    area: u32,
    min_x: u32,
    max_x: u32,
    min_y: u32,
    max_y: u32,
    sum_x: u64,
    sum_y: u64,
}

impl Region {
    fn width(&self) -> u32 {
        self.max_x - self.min_x + 1
    }
    fn height(&self) -> u32 {
        self.max_y - self.min_y + 1
    }
}

/// What the captioner believes it saw, before wording.
#[derive(Debug, Clone, PartialEq)]
pub struct Percept {
    pub objects: Vec<PerceivedObject>,
    pub background: Option<Background>,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PerceivedObject {
    pub family: Family,
    pub colour: Colour,
    pub count: u32,
    pub size: Size,
    /// Centre in unit coordinates.
    pub x: f32,
    pub y: f32,
}

fn distance2(a: [u8; 3], b: [u8; 3]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&p, q)| {
            let d = i32::from(p) - i32::from(q);
            d * d
        })
        .sum()
}

fn median_row(image: &RgbImage, y: u32) -> [u8; 3] {
    let mut channels: [Vec<u8>; 3] = Default::default();
    let step = (image.width() / 32).max(1);
    for x in (0..image.width()).step_by(step as usize) {
        let pixel = image.get_pixel(x, y).0;
        for (channel, value) in channels.iter_mut().zip(pixel) {
            channel.push(value);
        }
    }
    channels.map(|mut values| {
        values.sort_unstable();
        values.get(values.len() / 2).copied().unwrap_or(0)
    })
}

fn looks_pixelated(image: &RgbImage) -> bool {
    let (width, height) = image.dimensions();
    let block = width / 32;
    if block < 2 || width != height {
        return false;
    }
    let (mut changes, mut aligned) = (0u32, 0u32);
    for y in (block / 2..height).step_by((block * 3) as usize) {
        for x in 0..width - 1 {
            if image.get_pixel(x, y) != image.get_pixel(x + 1, y) {
                changes += 1;
                if (x + 1) % block == 0 {
                    aligned += 1;
                }
            }
        }
    }
    changes >= 6 && aligned * 10 >= changes * 9
}

fn classify(region: &Region) -> Family {
    let (width, height) = (region.width() as f32, region.height() as f32);
    let fill = region.area as f32 / (width * height);
    let aspect = height / width;
    let centre_y = region.sum_y as f32 / region.area as f32;
    let offset = (centre_y - (region.min_y as f32 + region.max_y as f32) / 2.0) / height;
    if fill < 0.44 {
        Family::Star
    } else if fill < 0.64 {
        if offset > 0.07 {
            Family::Peak
        } else {
            Family::Diamond
        }
    } else if aspect > 1.6 {
        Family::Tall
    } else if aspect < 0.65 {
        Family::Wide
    } else if fill < 0.88 {
        Family::Round
    } else {
        Family::Block
    }
}

/// Bounding-box area of one shape of extent 1 (see `render::Sdf::of`).
fn box_area(family: Family) -> f32 {
    match family {
        Family::Round | Family::Block => 1.0,
        Family::Tall => 0.62,
        Family::Wide => 0.99,
        Family::Peak => 1.2,
        Family::Star => 1.23,
        Family::Diamond => 1.08,
    }
}

fn nearest_size(extent: f32) -> Size {
    let mut best = Size::Medium;
    let mut best_error = f32::MAX;
    for size in SIZES {
        let error = (extent / size.extent()).ln().abs();
        if error < best_error {
            best = size;
            best_error = error;
        }
    }
    best
}

/// The known background closest to the sky and ground colours, with its squared error.
fn nearest_background(
    known: &[Background],
    sky: [u8; 3],
    ground: [u8; 3],
) -> Option<(Background, i32)> {
    known
        .iter()
        .map(|&background| {
            let (bg_sky, bg_ground) = background.colours();
            let error = distance2(sky, bg_sky) + distance2(ground, bg_ground);
            (background, error)
        })
        .min_by_key(|&(_, error)| error)
}

pub fn perceive(image: &RgbImage, profile: &CaptionProfile) -> Percept {
    let (width, height) = image.dimensions();
    if width == 0 || height == 0 {
        return Percept {
            objects: Vec::new(),
            background: None,
            style: Style::Plain,
        };
    }
    let sky = median_row(image, 0);
    let ground = median_row(image, height - 1);
    let luminance = |rgb: [u8; 3]| rgb.iter().map(|&c| u32::from(c)).sum::<u32>() / 3;
    let knows = |style: Style| profile.styles.contains(&style);
    let neon = knows(Style::Neon) && luminance(sky) < 25 && luminance(ground) < 25;
    let pixel = knows(Style::Pixel) && looks_pixelated(image);

    let stride = width.max(height).div_ceil(GRID).max(1);
    let (grid_w, grid_h) = (width.div_ceil(stride), height.div_ceil(stride));
    let horizon = (HORIZON * grid_h as f32) as u32;
    let mut raw = Vec::with_capacity((grid_w * grid_h) as usize);
    for gy in 0..grid_h {
        for gx in 0..grid_w {
            let pixel = image.get_pixel(gx * stride, gy * stride).0;
            let behind = if gy < horizon { sky } else { ground };
            let is_background = distance2(pixel, behind) < BACKGROUND_DISTANCE;
            raw.push((!is_background).then_some(pixel));
        }
    }
    let background_error = |sky, ground| {
        nearest_background(profile.backgrounds, sky, ground).map_or(i32::MAX, |(_, error)| error)
    };
    let pastel = knows(Style::Pastel)
        && !neon
        && background_error(
            from_pastel(sky, PASTEL_PAPER),
            from_pastel(ground, PASTEL_PAPER),
        )
        .saturating_add(PASTEL_MARGIN)
            < background_error(sky, ground);
    let style = if neon {
        Style::Neon
    } else if pixel {
        Style::Pixel
    } else if pastel {
        Style::Pastel
    } else {
        Style::Plain
    };
    let undo = pastel && profile.undoes_pastel;
    let unpastel =
        |rgb: [u8; 3], target: [u8; 3]| if undo { from_pastel(rgb, target) } else { rgb };
    let palette: Vec<[u8; 3]> = profile.palette.iter().map(|c| c.rgb()).collect();
    let nearest = |rgb: [u8; 3]| {
        let rgb = unpastel(rgb, PASTEL_INK);
        (0..palette.len())
            .min_by_key(|&i| distance2(rgb, palette[i]))
            .unwrap_or(0)
    };
    let labels: Vec<Option<usize>> = raw.iter().map(|cell| cell.map(nearest)).collect();

    let background = if neon {
        None
    } else {
        let (sky, ground) = (unpastel(sky, PASTEL_PAPER), unpastel(ground, PASTEL_PAPER));
        nearest_background(profile.backgrounds, sky, ground).map(|(background, _)| background)
    };

    let regions = regions(&labels, grid_w, grid_h);
    let cells = (grid_w * grid_h) as f32;
    let kept: Vec<&Region> = regions
        .iter()
        .filter(|region| {
            region.area as f32 >= profile.min_area * cells
                && region.width() > 1
                && region.height() > 1
                && region.area as f32 >= 0.25 * (region.width() * region.height()) as f32
        })
        .collect();
    let objects = group(&kept, profile, grid_w, grid_h);
    Percept {
        objects,
        background,
        style,
    }
}

/// 4-connected regions of equal label.
fn regions(labels: &[Option<usize>], width: u32, height: u32) -> Vec<Region> {
    let mut seen = vec![false; labels.len()];
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    for start in 0..labels.len() {
        let Some(label) = labels[start] else { continue };
        if seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (x, y) = ((start as u32) % width, (start as u32) / width);
        let mut region = Region {
            label,
            area: 0,
            min_x: x,
            max_x: x,
            min_y: y,
            max_y: y,
            sum_x: 0,
            sum_y: 0,
        };
        while let Some(index) = stack.pop() {
            let (x, y) = ((index as u32) % width, (index as u32) / width);
            region.area += 1;
            region.min_x = region.min_x.min(x);
            region.max_x = region.max_x.max(x);
            region.min_y = region.min_y.min(y);
            region.max_y = region.max_y.max(y);
            region.sum_x += u64::from(x);
            region.sum_y += u64::from(y);
            let mut visit = |next: usize| {
                if !seen[next] && labels[next] == Some(label) {
                    seen[next] = true;
                    stack.push(next);
                }
            };
            if x > 0 {
                visit(index - 1);
            }
            if x + 1 < width {
                visit(index + 1);
            }
            if y > 0 {
                visit(index - width as usize);
            }
            if y + 1 < height {
                visit(index + width as usize);
            }
        }
        regions.push(region);
    }
    regions
}

/// Groups regions of the same family and colour and similar area into counted objects, largest
/// total area first, at most `max_objects`.
fn group(
    regions: &[&Region],
    profile: &CaptionProfile,
    grid_w: u32,
    grid_h: u32,
) -> Vec<PerceivedObject> {
    struct Group {
        family: Family,
        label: usize,
        members: Vec<usize>,
        area: u32,
    }
    let mut order: Vec<usize> = (0..regions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(regions[i].area));
    let mut groups: Vec<Group> = Vec::new();
    for index in order {
        let region = regions[index];
        let family = classify(region);
        let similar = groups.iter_mut().find(|group| {
            group.family == family
                && group.label == region.label
                && regions[group.members[0]].area <= region.area * 5 / 2
        });
        match similar {
            Some(group) => {
                group.members.push(index);
                group.area += region.area;
            }
            None => groups.push(Group {
                family,
                label: region.label,
                members: vec![index],
                area: region.area,
            }),
        }
    }
    groups.sort_by_key(|group| std::cmp::Reverse(group.area));
    groups.truncate(profile.max_objects);
    groups
        .into_iter()
        .filter_map(|group| {
            let colour = *profile.palette.get(group.label)?;
            let members = group.members.iter().map(|&i| regions[i]);
            let count = group.members.len() as u32;
            let (mut box_sum, mut x_sum, mut y_sum) = (0.0, 0.0, 0.0);
            for region in members {
                box_sum += (region.width() * region.height()) as f32;
                x_sum += region.sum_x as f32 / region.area as f32;
                y_sum += region.sum_y as f32 / region.area as f32;
            }
            let mean_box = box_sum / count as f32 / (grid_w * grid_h) as f32;
            let extent = (mean_box / box_area(group.family)).sqrt();
            Some(PerceivedObject {
                family: group.family,
                colour,
                count,
                size: nearest_size(extent),
                x: (x_sum / count as f32 + 0.5) / grid_w as f32,
                y: (y_sum / count as f32 + 0.5) / grid_h as f32,
            })
        })
        .collect()
}

fn choose_noun(
    object: &PerceivedObject,
    profile: &CaptionProfile,
    rng: &mut dyn RngCore,
) -> &'static str {
    let favourites = profile
        .favourites
        .iter()
        .find(|(family, _)| *family == object.family)
        .map_or(&[][..], |(_, nouns)| *nouns);
    let mut best = ("thing", f32::MIN);
    for &(noun, typical) in family_nouns(object.family) {
        let preference = favourites
            .iter()
            .position(|favourite| *favourite == noun)
            .map_or(0.0, |rank| 0.6 - 0.15 * rank as f32);
        let colour_match = if typical == object.colour { 0.5 } else { 0.0 };
        let score = preference + colour_match + rng.random::<f32>() * profile.noun_noise;
        if score > best.1 {
            best = (noun, score);
        }
    }
    best.0
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn phrase_object(
    object: &PerceivedObject,
    profile: &CaptionProfile,
    rng: &mut dyn RngCore,
) -> String {
    let noun = choose_noun(object, profile, rng);
    let size = if profile.size_words.contains(&object.size) {
        object.size.word()
    } else {
        ""
    };
    let mut words: Vec<String> = Vec::new();
    let described = [size, object.colour.name()]
        .into_iter()
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match object.count {
        0 | 1 => words.push(article(&described).to_owned()),
        count if count <= profile.exact_count_up_to => words.push(
            ["", "one", "two", "three", "four", "five", "six"]
                .get(count as usize)
                .copied()
                .unwrap_or(profile.many_word)
                .to_owned(),
        ),
        _ => words.push(profile.many_word.to_owned()),
    }
    words.push(described);
    words.push(if object.count > 1 {
        plural(noun)
    } else {
        noun.to_owned()
    });
    if object.x < 0.38 {
        words.push("on the left".to_owned());
    } else if object.x > 0.62 {
        words.push("on the right".to_owned());
    }
    if profile.mentions_vertical {
        if object.y < 0.38 {
            words.push("at the top".to_owned());
        } else if object.y > 0.66 {
            words.push("at the bottom".to_owned());
        }
    }
    words.join(" ")
}

/// Words a percept; `rng` picks nouns among near-equal candidates and the sentence template.
pub fn describe(percept: &Percept, profile: &CaptionProfile, rng: &mut dyn RngCore) -> String {
    let phrases: Vec<String> = percept
        .objects
        .iter()
        .map(|object| phrase_object(object, profile, rng))
        .collect();
    let objects = match phrases.as_slice() {
        [] => "nothing at all".to_owned(),
        [only] => only.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let background = percept.background.map_or("", Background::phrase);
    let template = match percept.style {
        Style::Pastel => "a pastel drawing of {objects} {background}",
        Style::Neon => "neon art of {objects}",
        Style::Pixel => "pixel art of {objects} {background}",
        Style::Plain => profile
            .templates
            .get(rng.random_range(0..profile.templates.len().max(1)))
            .copied()
            .unwrap_or("{objects} {background}"),
    };
    template
        .replace("{objects}", &objects)
        .replace("{background}", background)
        .trim()
        .to_owned()
}
