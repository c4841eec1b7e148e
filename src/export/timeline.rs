//! Timeline still: selected runs one per row, each showing `steps` evenly spaced images of its
//! trajectory, labelled with prompt, network, seed and step numbers (the old tool's paper
//! figure). White background, images at their stored size.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use thiserror::Error;

use super::frames::fit_tile;
use super::mosaic::Rect;
use super::text::{FontError, Painter, blit};
use super::video::network_label;
use crate::store::{Store, StoreError, decode_image};

const PAPER: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([0, 0, 0]);
const MUTED: Rgb<u8> = Rgb([90, 90, 90]);
/// Largest tile side: stored images are normally 256–1024 px, papers need no more.
const MAX_TILE: u32 = 512;

#[derive(Debug, Error)]
pub enum TimelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Font(#[from] FontError),
    #[error("no runs given")]
    NoRuns,
    #[error("at least one step per run is needed")]
    NoSteps,
    #[error("run {0} has no images yet")]
    NoImages(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: image::ImageError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineSummary {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Sequence numbers shown for each run, in row order.
    pub sequences: Vec<Vec<u32>>,
}

/// `k` indices spread evenly over `0..n`, first and last included (all of them when n ≤ k).
pub fn evenly_spaced(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    if k == 1 {
        return vec![0];
    }
    (0..k)
        .map(|i| ((i * (n - 1) + (k - 1) / 2) / (k - 1)).min(n - 1))
        .collect()
}

/// Draws the timeline of `run_ids` (full ids, in row order) into a PNG at `output`.
pub fn export_timeline(
    store: &Store,
    run_ids: &[String],
    steps: usize,
    output: &Path,
) -> Result<TimelineSummary, TimelineError> {
    if run_ids.is_empty() {
        return Err(TimelineError::NoRuns);
    }
    if steps == 0 {
        return Err(TimelineError::NoSteps);
    }
    let painter = Painter::new()?;
    let mut rows = Vec::with_capacity(run_ids.len());
    for id in run_ids {
        let run = store.run(id)?;
        let all = store.image_steps(id)?;
        if all.is_empty() {
            return Err(TimelineError::NoImages(id.clone()));
        }
        let mut images = Vec::new();
        for index in evenly_spaced(all.len(), steps) {
            let sequence = all[index].0;
            images.push((sequence, decode_image(&store.image_blob(id, sequence)?)?));
        }
        rows.push((run, images));
    }
    let tile = rows
        .iter()
        .flat_map(|(_, images)| {
            images
                .iter()
                .map(|(_, image)| image.width().max(image.height()))
        })
        .max()
        .unwrap_or(256)
        .min(MAX_TILE);
    let gap = (tile / 16).max(4);
    let label_px = (tile as f32 * 0.09).max(14.0);
    let label_h = (painter.line_height(label_px) * 1.3).ceil() as u32;
    let step_px = label_px * 0.8;
    let step_h = (painter.line_height(step_px) * 1.3).ceil() as u32;
    let row_h = label_h + tile + step_h + gap;
    let columns = rows
        .iter()
        .map(|(_, images)| images.len())
        .max()
        .unwrap_or(1) as u32;
    let width = gap + columns * (tile + gap);
    let height = gap + rows.len() as u32 * row_h;
    let mut canvas = RgbImage::from_pixel(width, height, PAPER);
    let mut sequences = Vec::with_capacity(rows.len());
    for (r, (run, images)) in rows.iter().enumerate() {
        let y = gap + r as u32 * row_h;
        let seed = if run.seed < 0 {
            "unseeded".to_owned()
        } else {
            format!("seed {}", run.seed)
        };
        let label = format!(
            "{}   ·   {}   ·   {seed}",
            run.initial_prompt,
            network_label(&run.network)
        );
        let label_rect = Rect::new(gap, y, width - 2 * gap, label_h);
        let text = painter.fit(&label, label_px, label_rect.w as f32);
        painter.draw(
            &mut canvas,
            &text,
            label_px,
            (gap as f32, y as f32),
            INK,
            label_rect,
        );
        for (c, (sequence, image)) in images.iter().enumerate() {
            let x = gap + c as u32 * (tile + gap);
            let scaled = fit_tile(image, tile);
            blit(
                &mut canvas,
                &scaled,
                x + (tile - scaled.width()) / 2,
                y + label_h + (tile - scaled.height()) / 2,
            );
            let rect = Rect::new(x, y + label_h + tile, tile, step_h);
            painter.draw_centered(
                &mut canvas,
                &format!("step {sequence}"),
                step_px,
                rect,
                MUTED,
            );
        }
        sequences.push(images.iter().map(|(sequence, _)| *sequence).collect());
    }
    canvas
        .save_with_format(output, image::ImageFormat::Png)
        .map_err(|source| TimelineError::Write {
            path: output.to_path_buf(),
            source,
        })?;
    Ok(TimelineSummary {
        path: output.to_path_buf(),
        width,
        height,
        sequences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_spread_evenly_with_both_ends() {
        assert_eq!(evenly_spaced(10, 4), vec![0, 3, 6, 9]);
        assert_eq!(evenly_spaced(3, 5), vec![0, 1, 2]);
        assert_eq!(evenly_spaced(50, 1), vec![0]);
        assert_eq!(evenly_spaced(5, 2), vec![0, 4]);
        let spread = evenly_spaced(100, 7);
        assert_eq!((spread[0], spread[6]), (0, 99));
        assert!(spread.windows(2).all(|w| w[0] < w[1]));
    }
}
