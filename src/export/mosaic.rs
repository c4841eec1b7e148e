//! Mosaic layout: where every tile, label, the step counter, progress bar, legend and t-SNE inset
//! sit in a frame. Pure arithmetic (no pixels), so it is tested by positions.
//!
//! The grid nests three levels: prompt blocks, inside each a grid of network sub-blocks, inside
//! each a grid of seed cells. Every level's column count is searched and the arrangement with the
//! largest cells wins; each prompt block has a title strip and each network sub-block its own
//! strip, so labels never depend on which arrangement won.

use thiserror::Error;

/// Smallest cell side that still shows something recognisable.
pub const MIN_CELL: u32 = 8;
/// Fraction of the frame width given to the legend / t-SNE panel when either is shown.
const PANEL_PERCENT: u32 = 18;
/// Caption strip height under each cell, as a fraction of the cell side.
const CAPTION_FRACTION: f32 = 0.3;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("nothing to lay out: {prompts} prompts, {networks} networks, {seeds} seeds")]
    Empty {
        prompts: usize,
        networks: usize,
        seeds: usize,
    },
    #[error(
        "{tiles} tiles do not fit a {width}×{height} frame (cells would be under {MIN_CELL} px); choose a larger resolution or fewer experiments"
    )]
    TooSmall {
        tiles: usize,
        width: u32,
        height: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn new(x: u32, y: u32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && x < self.x + self.w && y < self.y + self.h
    }
    pub fn center(&self) -> (u32, u32) {
        (self.x + self.w / 2, self.y + self.h / 2)
    }
    pub fn right(&self) -> u32 {
        self.x + self.w
    }
    pub fn bottom(&self) -> u32 {
        self.y + self.h
    }
}

/// What has to fit into the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MosaicSpec {
    pub width: u32,
    pub height: u32,
    pub prompts: usize,
    pub networks: usize,
    /// Seed slots per (prompt, network) cell: the largest run count of any cell.
    pub seeds: usize,
    /// A caption strip under every cell.
    pub captions: bool,
    /// A cluster-colour ring around every image.
    pub indicator: bool,
    /// A cluster legend in a side panel.
    pub legend: bool,
    /// A t-SNE inset in the side panel.
    pub inset: bool,
}

/// Column counts of the three levels (rows follow from the counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrangement {
    pub prompt_cols: usize,
    pub network_cols: usize,
    pub seed_cols: usize,
}

/// One seed slot of one (prompt, network) cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub prompt: usize,
    pub network: usize,
    pub seed: usize,
    /// The whole cell, ring included.
    pub cell: Rect,
    /// Where the image goes (inside the ring).
    pub image: Rect,
    pub caption: Option<Rect>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    pub arrangement: Arrangement,
    /// Cell side in pixels.
    pub cell: u32,
    /// Width of the indicator ring (0 without indicator).
    pub ring: u32,
    /// All tiles, indexed by [`Layout::tile_index`].
    pub tiles: Vec<Tile>,
    /// Title strip of each prompt block, by prompt position.
    pub prompt_labels: Vec<Rect>,
    /// Label strip of each network sub-block, indexed `prompt * networks + network`.
    pub network_labels: Vec<Rect>,
    pub step_label: Rect,
    pub progress: Rect,
    pub legend: Option<Rect>,
    pub inset: Option<Rect>,
    /// Font size of labels and the step counter.
    pub label_px: f32,
    /// Font size inside cells (captions, cluster names, badges).
    pub small_px: f32,
    networks: usize,
    seeds: usize,
}

impl Layout {
    pub fn tile_index(&self, prompt: usize, network: usize, seed: usize) -> usize {
        (prompt * self.networks + network) * self.seeds + seed
    }
    pub fn tile(&self, prompt: usize, network: usize, seed: usize) -> &Tile {
        &self.tiles[self.tile_index(prompt, network, seed)]
    }
    pub fn network_label(&self, prompt: usize, network: usize) -> Rect {
        self.network_labels[prompt * self.networks + network]
    }
}

/// Sizes of the fixed strips, derived from the frame height so text scales with resolution.
#[derive(Debug, Clone, Copy)]
struct Metrics {
    label_h: u32,
    margin: u32,
    prompt_gap: u32,
    network_gap: u32,
}

impl Metrics {
    fn new(height: u32) -> Self {
        let label_h = (height / 40).max(16);
        Self {
            label_h,
            margin: (height / 100).max(4),
            prompt_gap: (label_h / 2).max(4),
            network_gap: (label_h / 4).max(2),
        }
    }
}

/// Sizes of one arrangement for a given cell side.
#[derive(Debug, Clone, Copy)]
struct Extent {
    sub_w: u32,
    sub_h: u32,
    block_w: u32,
    block_h: u32,
    grid_w: u32,
    grid_h: u32,
}

fn caption_height(cell: u32, captions: bool) -> u32 {
    if captions {
        (cell as f32 * CAPTION_FRACTION).round() as u32
    } else {
        0
    }
}

fn rows(count: usize, cols: usize) -> u32 {
    count.div_ceil(cols) as u32
}

fn extent(spec: &MosaicSpec, m: &Metrics, a: Arrangement, cell: u32) -> Extent {
    let cell_h = cell + caption_height(cell, spec.captions);
    let (pc, nc, sc) = (
        a.prompt_cols as u32,
        a.network_cols as u32,
        a.seed_cols as u32,
    );
    let (pr, nr, sr) = (
        rows(spec.prompts, a.prompt_cols),
        rows(spec.networks, a.network_cols),
        rows(spec.seeds, a.seed_cols),
    );
    let sub_w = sc * cell;
    let sub_h = m.label_h + sr * cell_h;
    let block_w = nc * sub_w + (nc - 1) * m.network_gap;
    let block_h = m.label_h + nr * sub_h + (nr - 1) * m.network_gap;
    Extent {
        sub_w,
        sub_h,
        block_w,
        block_h,
        grid_w: pc * block_w + (pc - 1) * m.prompt_gap,
        grid_h: pr * block_h + (pr - 1) * m.prompt_gap,
    }
}

/// The largest cell of arrangement `a` that fits `area_w × area_h`, if any.
fn best_cell(
    spec: &MosaicSpec,
    m: &Metrics,
    a: Arrangement,
    area_w: u32,
    area_h: u32,
) -> Option<u32> {
    let cols = (a.prompt_cols * a.network_cols * a.seed_cols) as u32;
    let mut cell = area_w / cols.max(1);
    // The height constraint is not linear in the cell (rounded captions), so step down.
    let fixed_h = extent(spec, m, a, 0).grid_h;
    let row_cells = rows(spec.prompts, a.prompt_cols)
        * rows(spec.networks, a.network_cols)
        * rows(spec.seeds, a.seed_cols);
    let factor = 1.0 + if spec.captions { CAPTION_FRACTION } else { 0.0 };
    let by_height = (area_h.saturating_sub(fixed_h) as f32 / (row_cells as f32 * factor)) as u32;
    cell = cell.min(by_height + 1);
    while cell >= MIN_CELL {
        let e = extent(spec, m, a, cell);
        if e.grid_w <= area_w && e.grid_h <= area_h {
            return Some(cell);
        }
        cell -= 1;
    }
    None
}

/// Lays out the frame, choosing the arrangement with the largest cells. Ties go to fewer empty
/// slots, then to fewer prompt columns (prompts as rows of blocks reads best).
pub fn layout(spec: &MosaicSpec) -> Result<Layout, LayoutError> {
    if spec.prompts == 0 || spec.networks == 0 || spec.seeds == 0 {
        return Err(LayoutError::Empty {
            prompts: spec.prompts,
            networks: spec.networks,
            seeds: spec.seeds,
        });
    }
    let m = Metrics::new(spec.height);
    let (w, h) = (spec.width, spec.height);
    let bar_h = (m.label_h / 4).max(3);
    let step_label = Rect::new(m.margin, 0, w.saturating_sub(2 * m.margin), m.label_h);
    let progress = Rect::new(m.margin, m.label_h, w.saturating_sub(2 * m.margin), bar_h);
    let top = m.label_h + bar_h + m.margin;
    let panel_w = if spec.legend || spec.inset {
        w * PANEL_PERCENT / 100
    } else {
        0
    };
    let area = Rect::new(
        m.margin,
        top,
        w.saturating_sub(panel_w + 2 * m.margin),
        h.saturating_sub(top + m.margin),
    );

    let mut best: Option<(u32, usize, Arrangement)> = None;
    for prompt_cols in 1..=spec.prompts {
        for network_cols in 1..=spec.networks {
            for seed_cols in 1..=spec.seeds {
                let a = Arrangement {
                    prompt_cols,
                    network_cols,
                    seed_cols,
                };
                let Some(cell) = best_cell(spec, &m, a, area.w, area.h) else {
                    continue;
                };
                let slots = rows(spec.prompts, prompt_cols) as usize
                    * prompt_cols
                    * rows(spec.networks, network_cols) as usize
                    * network_cols
                    * rows(spec.seeds, seed_cols) as usize
                    * seed_cols;
                let better = match best {
                    None => true,
                    Some((top, top_slots, _)) => cell > top || (cell == top && slots < top_slots),
                };
                if better {
                    best = Some((cell, slots, a));
                }
            }
        }
    }
    let Some((cell, _, a)) = best else {
        return Err(LayoutError::TooSmall {
            tiles: spec.prompts * spec.networks * spec.seeds,
            width: w,
            height: h,
        });
    };

    let e = extent(spec, &m, a, cell);
    let origin_x = area.x + (area.w - e.grid_w) / 2;
    let origin_y = area.y + (area.h - e.grid_h) / 2;
    let pad = (cell / 40).max(1);
    let ring = if spec.indicator {
        (cell / 14).max(2)
    } else {
        0
    };
    let image_side = cell.saturating_sub(2 * (pad + ring)).max(1);
    let caption_h = caption_height(cell, spec.captions);
    let cell_h = cell + caption_h;

    let mut tiles = Vec::with_capacity(spec.prompts * spec.networks * spec.seeds);
    let mut prompt_labels = Vec::with_capacity(spec.prompts);
    let mut network_labels = Vec::with_capacity(spec.prompts * spec.networks);
    for prompt in 0..spec.prompts {
        let bx = origin_x + (prompt % a.prompt_cols) as u32 * (e.block_w + m.prompt_gap);
        let by = origin_y + (prompt / a.prompt_cols) as u32 * (e.block_h + m.prompt_gap);
        prompt_labels.push(Rect::new(bx, by, e.block_w, m.label_h));
        for network in 0..spec.networks {
            let sx = bx + (network % a.network_cols) as u32 * (e.sub_w + m.network_gap);
            let sy = by + m.label_h + (network / a.network_cols) as u32 * (e.sub_h + m.network_gap);
            network_labels.push(Rect::new(sx, sy, e.sub_w, m.label_h));
            for seed in 0..spec.seeds {
                let cx = sx + (seed % a.seed_cols) as u32 * cell;
                let cy = sy + m.label_h + (seed / a.seed_cols) as u32 * cell_h;
                tiles.push(Tile {
                    prompt,
                    network,
                    seed,
                    cell: Rect::new(cx, cy, cell, cell),
                    image: Rect::new(cx + pad + ring, cy + pad + ring, image_side, image_side),
                    caption: spec
                        .captions
                        .then(|| Rect::new(cx + pad, cy + cell, cell - 2 * pad, caption_h)),
                });
            }
        }
    }

    let (legend, inset) = if panel_w > 0 {
        let panel = Rect::new(
            w - panel_w,
            top,
            panel_w.saturating_sub(m.margin),
            h.saturating_sub(top + m.margin),
        );
        let inset = spec.inset.then(|| {
            let side = panel.w.min(panel.h / 2);
            Rect::new(panel.x, panel.y, side, side)
        });
        let legend = spec.legend.then(|| {
            let used = inset.map_or(0, |r| r.h + m.margin);
            Rect::new(
                panel.x,
                panel.y + used,
                panel.w,
                panel.h.saturating_sub(used),
            )
        });
        (legend, inset)
    } else {
        (None, None)
    };

    Ok(Layout {
        width: w,
        height: h,
        arrangement: a,
        cell,
        ring,
        tiles,
        prompt_labels,
        network_labels,
        step_label,
        progress,
        legend,
        inset,
        label_px: m.label_h as f32 * 0.72,
        small_px: (cell as f32 * 0.11).max(7.0),
        networks: spec.networks,
        seeds: spec.seeds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prompts: usize, networks: usize, seeds: usize) -> MosaicSpec {
        MosaicSpec {
            width: 1920,
            height: 1080,
            prompts,
            networks,
            seeds,
            captions: false,
            indicator: true,
            legend: true,
            inset: false,
        }
    }

    fn overlaps(a: &Rect, b: &Rect) -> bool {
        a.x < b.right() && b.x < a.right() && a.y < b.bottom() && b.y < a.bottom()
    }

    fn assert_sane(layout: &Layout) {
        for (i, a) in layout.tiles.iter().enumerate() {
            assert!(a.cell.right() <= layout.width && a.cell.bottom() <= layout.height);
            assert!(a.cell.contains(a.image.x, a.image.y));
            assert!(a.image.right() <= a.cell.right() && a.image.bottom() <= a.cell.bottom());
            for b in &layout.tiles[i + 1..] {
                assert!(!overlaps(&a.cell, &b.cell), "{a:?} overlaps {b:?}");
            }
            for label in layout.prompt_labels.iter().chain(&layout.network_labels) {
                assert!(!overlaps(&a.cell, label), "{a:?} overlaps label {label:?}");
            }
            if let Some(legend) = &layout.legend {
                assert!(!overlaps(&a.cell, legend));
            }
            assert!(!overlaps(&a.cell, &layout.progress));
        }
    }

    #[test]
    fn prompts_are_rows_of_network_blocks_in_a_wide_frame() {
        let layout = layout(&spec(4, 4, 8)).expect("layout");
        assert_sane(&layout);
        assert_eq!(
            layout.arrangement.prompt_cols, 1,
            "{:?}",
            layout.arrangement
        );
        // Prompt p's block lies below prompt p-1's; its label is above its first tile.
        for p in 1..4 {
            assert!(layout.prompt_labels[p].y > layout.tile(p - 1, 0, 7).cell.y);
            assert!(layout.prompt_labels[p].bottom() <= layout.tile(p, 0, 0).cell.y);
        }
        // Networks go left to right inside a prompt block, each under its own label.
        for n in 1..4 {
            assert!(layout.tile(0, n, 0).cell.x > layout.tile(0, n - 1, 7).cell.x);
            let label = layout.network_label(0, n);
            assert!(label.bottom() <= layout.tile(0, n, 0).cell.y);
            assert_eq!(label.x, layout.tile(0, n, 0).cell.x);
        }
        assert!(layout.cell >= 50, "cell {}", layout.cell);
    }

    #[test]
    fn the_chosen_arrangement_has_the_largest_cells() {
        let s = spec(3, 2, 5);
        let chosen = layout(&s).expect("layout");
        let m = Metrics::new(s.height);
        let top = chosen.progress.bottom() + m.margin;
        let panel = s.width * PANEL_PERCENT / 100;
        let (aw, ah) = (s.width - panel - 2 * m.margin, s.height - top - m.margin);
        for pc in 1..=3 {
            for nc in 1..=2 {
                for sc in 1..=5 {
                    let a = Arrangement {
                        prompt_cols: pc,
                        network_cols: nc,
                        seed_cols: sc,
                    };
                    if let Some(cell) = best_cell(&s, &m, a, aw, ah) {
                        assert!(cell <= chosen.cell, "{a:?} gives {cell} > {}", chosen.cell);
                    }
                }
            }
        }
    }

    #[test]
    fn a_single_tile_fills_the_height() {
        let layout = layout(&spec(1, 1, 1)).expect("layout");
        assert_sane(&layout);
        // 1080 minus top strip, two label strips and margins.
        assert!(layout.cell > 850, "cell {}", layout.cell);
        let tile = layout.tile(0, 0, 0);
        assert_eq!(tile.image.w, tile.image.h);
        assert!(layout.ring >= 2);
    }

    #[test]
    fn captions_and_panel_take_room_and_stay_inside() {
        let mut s = spec(2, 2, 4);
        let plain = layout(&s).expect("layout");
        s.captions = true;
        s.inset = true;
        let with = layout(&s).expect("layout");
        assert_sane(&with);
        assert!(with.cell <= plain.cell);
        let tile = with.tile(1, 1, 3);
        let caption = tile.caption.expect("caption");
        assert_eq!(caption.y, tile.cell.bottom());
        let inset = with.inset.expect("inset");
        let legend = with.legend.expect("legend");
        assert!(inset.bottom() <= legend.y);
        assert_eq!(inset.w, inset.h);
        assert!(legend.right() <= with.width);
        for t in &with.tiles {
            assert!(t.cell.right() <= inset.x);
            assert!(t.caption.expect("caption").bottom() <= with.height);
        }
    }

    #[test]
    fn no_indicator_means_no_ring_and_no_panel() {
        let mut s = spec(2, 2, 2);
        s.indicator = false;
        s.legend = false;
        let layout = layout(&s).expect("layout");
        assert_eq!(layout.ring, 0);
        assert!(layout.legend.is_none() && layout.inset.is_none());
        assert_sane(&layout);
    }

    #[test]
    fn impossible_layouts_are_errors() {
        assert!(matches!(
            layout(&spec(0, 1, 1)),
            Err(LayoutError::Empty { .. })
        ));
        let mut s = spec(40, 10, 40);
        s.width = 64;
        s.height = 36;
        assert!(matches!(layout(&s), Err(LayoutError::TooSmall { .. })));
    }

    #[test]
    fn the_production_grid_fits_in_4k() {
        let mut s = spec(25, 4, 12);
        s.width = 3840;
        s.height = 2160;
        let layout = layout(&s).expect("layout");
        assert_sane(&layout);
        assert_eq!(layout.tiles.len(), 1200);
        assert!(layout.cell >= 40, "cell {}", layout.cell);
    }
}
