//! Colours and labels: the series palette, the heat scale, and shortening and wrapping of
//! label text.

use plotters::prelude::*;

/// Categorical colours for series (networks, models, dimensions): Okabe & Ito's palette,
/// distinguishable with the common colour-vision deficiencies; its yellow is last because it
/// is faint on white.
pub const SERIES_COLOURS: [[u8; 3]; 8] = [
    [0, 114, 178],
    [230, 159, 0],
    [0, 158, 115],
    [213, 94, 0],
    [204, 121, 167],
    [86, 180, 233],
    [0, 0, 0],
    [240, 228, 66],
];

pub fn series_colour(index: usize) -> [u8; 3] {
    SERIES_COLOURS[index % SERIES_COLOURS.len()]
}

pub(crate) fn rgb(colour: [u8; 3]) -> RGBColor {
    RGBColor(colour[0], colour[1], colour[2])
}

/// Shortens long labels so axes stay readable; the full text is in the CSV.
pub fn shorten(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let kept: String = label.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// Breaks a label into at most `max_lines` lines of about `width` characters at spaces (a word
/// longer than a line is split); only text beyond the last line is cut, with an ellipsis.
pub fn wrap(label: &str, width: usize, max_lines: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in label.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = current.chars().count();
            let room = if used == 0 {
                width
            } else {
                width.saturating_sub(used + 1)
            };
            if word.len() <= room {
                if used > 0 {
                    current.push(' ');
                }
                current.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines.max(1) {
        let tail = lines[max_lines.max(1) - 1..].join(" ");
        lines.truncate(max_lines.max(1) - 1);
        lines.push(shorten(&tail, width));
    }
    lines
}

/// White → deep blue.
pub(super) fn heat(value: f64) -> RGBColor {
    let t = value.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}
