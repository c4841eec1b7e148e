//! Repulsive t-SNE forces in O(n) per iteration by polynomial interpolation on a regular grid and
//! FFT convolution (the FIt-SNE scheme of Linderman et al., 2019).
//!
//! The 2-D map is covered by square boxes with three interpolation nodes per axis each; the nodes
//! form one uniform grid, so the kernel sums between nodes are a convolution. Four charges per point
//! (1, x, y, x² + y²) under the squared Cauchy kernel give both the repulsion and the normaliser Z.

use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// Interpolation nodes per box and axis (3 is FIt-SNE's and openTSNE's default).
const NODES: usize = 3;
/// Fewest boxes per axis: keeps the interpolation fine while the map is still tiny.
const MIN_BOXES: usize = 50;
/// Box side in map units (openTSNE's `ints_in_interval`).
const BOX_SIDE: f64 = 1.0;
/// Most boxes per axis: bounds memory and time if a map blows up.
const MAX_BOXES: usize = 300;
/// Up to this many points the sums are exact: O(n²) is then cheaper than the grid.
const EXACT_MAX_POINTS: usize = 1_000;
/// Grid rows per parallel FFT task.
const ROWS_PER_TASK: usize = 16;

type C64 = Complex<f64>;

/// Reusable grids and FFT plans for the repulsion step.
pub struct Repulsion {
    planner: FftPlanner<f64>,
    charges_a: Vec<C64>,
    charges_b: Vec<C64>,
    kernel: Vec<C64>,
    scratch: Vec<C64>,
    cells: Vec<(usize, [f64; NODES], [f64; NODES])>,
}

impl Default for Repulsion {
    fn default() -> Self {
        Self::new()
    }
}

/// Lagrange weights of the three nodes at (j + ½)/3 for a point at `u` ∈ [0, 1) in its box.
fn lagrange(u: f64) -> [f64; NODES] {
    const T0: f64 = 1.0 / 6.0;
    const T1: f64 = 0.5;
    const T2: f64 = 5.0 / 6.0;
    [
        (u - T1) * (u - T2) * 4.5,
        (u - T0) * (u - T2) * -9.0,
        (u - T0) * (u - T1) * 4.5,
    ]
}

/// Smallest number ≥ `n` with no prime factor above 5 (fast FFT lengths).
fn smooth(n: usize) -> usize {
    let mut candidate = n.max(1);
    loop {
        let mut rest = candidate;
        for p in [2, 3, 5] {
            while rest.is_multiple_of(p) {
                rest /= p;
            }
        }
        if rest == 1 {
            return candidate;
        }
        candidate += 1;
    }
}

fn fft_rows(fft: &Arc<dyn Fft<f64>>, rows: &mut [C64], len: usize) {
    let scratch_len = fft.get_inplace_scratch_len();
    rows.par_chunks_mut(len * ROWS_PER_TASK).for_each_init(
        || vec![C64::default(); scratch_len],
        |scratch, chunk| fft.process_with_scratch(chunk, scratch),
    );
}

/// Transposes the `len`×`len` matrix in `data` through `scratch`.
fn transpose(data: &mut Vec<C64>, scratch: &mut Vec<C64>, len: usize) {
    const BLOCK: usize = 32;
    scratch.resize(len * len, C64::default());
    let source: &[C64] = data;
    scratch
        .par_chunks_mut(len * BLOCK)
        .enumerate()
        .for_each(|(block_row, out)| {
            let c0 = block_row * BLOCK;
            let rows_here = out.len() / len;
            for r0 in (0..len).step_by(BLOCK) {
                for c in c0..c0 + rows_here {
                    for r in r0..(r0 + BLOCK).min(len) {
                        out[(c - c0) * len + r] = source[r * len + c];
                    }
                }
            }
        });
    std::mem::swap(data, scratch);
}

impl Repulsion {
    pub fn new() -> Self {
        Self {
            planner: FftPlanner::new(),
            charges_a: Vec::new(),
            charges_b: Vec::new(),
            kernel: Vec::new(),
            scratch: Vec::new(),
            cells: Vec::new(),
        }
    }

    /// Writes Σⱼ wᵢⱼ² (yᵢ − yⱼ) into `forces` (wᵢⱼ = 1 / (1 + |yᵢ − yⱼ|²)) and returns
    /// Z = Σᵢ≠ⱼ wᵢⱼ. The caller divides by Z.
    pub fn forces(&mut self, y: &[[f64; 2]], forces: &mut [[f64; 2]]) -> f64 {
        let n = y.len();
        if n == 0 {
            return 1.0;
        }
        if n <= EXACT_MAX_POINTS {
            return exact(y, forces);
        }
        self.grid_forces(y, forces)
    }

    fn grid_forces(&mut self, y: &[[f64; 2]], forces: &mut [[f64; 2]]) -> f64 {
        let n = y.len();
        let (lo, hi) = y
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p[0]).min(p[1]), hi.max(p[0]).max(p[1]))
            });
        let side = (hi - lo).max(1e-12) * (1.0 + 1e-9);
        let boxes = smooth(((side / BOX_SIDE).ceil() as usize).clamp(MIN_BOXES, MAX_BOXES));
        let box_side = side / boxes as f64;
        let spacing = box_side / NODES as f64;
        let nodes = boxes * NODES;
        let len = 2 * nodes;

        // Each point's lower-left grid node and its per-axis weights.
        self.cells.resize(n, (0, [0.0; NODES], [0.0; NODES]));
        self.cells
            .par_iter_mut()
            .zip(y.par_iter())
            .for_each(|(cell, p)| {
                let locate = |v: f64| {
                    let t = (v - lo) / box_side;
                    let b = (t.floor().max(0.0) as usize).min(boxes - 1);
                    (b * NODES, lagrange(t - b as f64))
                };
                let (gx, wx) = locate(p[0]);
                let (gy, wy) = locate(p[1]);
                *cell = (gx * len + gy, wx, wy);
            });

        // Spread the charges (sequentially: the sums are then identical on every run).
        for grid in [&mut self.charges_a, &mut self.charges_b] {
            grid.clear();
            grid.resize(len * len, C64::default());
        }
        for ((origin, wx, wy), p) in self.cells.iter().zip(y) {
            let a = C64::new(1.0, p[0] * p[0] + p[1] * p[1]);
            let b = C64::new(p[0], p[1]);
            for (i, wxi) in wx.iter().enumerate() {
                for (j, wyj) in wy.iter().enumerate() {
                    let w = wxi * wyj;
                    let index = origin + i * len + j;
                    self.charges_a[index] += a * w;
                    self.charges_b[index] += b * w;
                }
            }
        }

        // Kernel on the circulant grid: lag r for r < nodes, r − len above (index `nodes` unused).
        let lag = |r: usize| -> f64 {
            if r <= nodes {
                r as f64
            } else {
                r as f64 - len as f64
            }
        };
        self.kernel.resize(len * len, C64::default());
        self.kernel
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(r, row)| {
                let dx = lag(r) * spacing;
                for (c, value) in row.iter_mut().enumerate() {
                    let dy = lag(c) * spacing;
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    *value = C64::new(w * w, 0.0);
                }
            });

        let forward = self.planner.plan_fft_forward(len);
        let inverse = self.planner.plan_fft_inverse(len);
        // Forward 2-D transforms; the charges are zero outside the first `nodes` rows.
        fft_rows(&forward, &mut self.kernel, len);
        transpose(&mut self.kernel, &mut self.scratch, len);
        fft_rows(&forward, &mut self.kernel, len);
        for grid in [&mut self.charges_a, &mut self.charges_b] {
            fft_rows(&forward, &mut grid[..nodes * len], len);
            transpose(grid, &mut self.scratch, len);
            fft_rows(&forward, grid, len);
        }
        let norm = 1.0 / (len * len) as f64;
        let kernel = &self.kernel;
        for grid in [&mut self.charges_a, &mut self.charges_b] {
            grid.par_iter_mut()
                .zip(kernel.par_iter())
                .for_each(|(g, k)| *g *= k * norm);
            fft_rows(&inverse, grid, len);
            transpose(grid, &mut self.scratch, len);
            fft_rows(&inverse, &mut grid[..nodes * len], len);
        }

        // Gather the potentials back at the points.
        let (pot_a, pot_b) = (&self.charges_a, &self.charges_b);
        let terms: Vec<f64> = forces
            .par_iter_mut()
            .zip(self.cells.par_iter())
            .zip(y.par_iter())
            .map(|((force, (origin, wx, wy)), p)| {
                let (mut a, mut b) = (C64::default(), C64::default());
                for (i, wxi) in wx.iter().enumerate() {
                    for (j, wyj) in wy.iter().enumerate() {
                        let w = wxi * wyj;
                        let index = origin + i * len + j;
                        a += pot_a[index] * w;
                        b += pot_b[index] * w;
                    }
                }
                // a = (Σ w², Σ w² |yⱼ|²), b = (Σ w² xⱼ, Σ w² yⱼ), self term included.
                *force = [p[0] * a.re - b.re, p[1] * a.re - b.im];
                (1.0 + p[0] * p[0] + p[1] * p[1]) * a.re - 2.0 * (p[0] * b.re + p[1] * b.im) + a.im
            })
            .collect();
        let z = terms.iter().sum::<f64>() - n as f64;
        z.max(f64::MIN_POSITIVE)
    }
}

/// The same sums by direct summation over all pairs.
fn exact(y: &[[f64; 2]], forces: &mut [[f64; 2]]) -> f64 {
    let terms: Vec<f64> = forces
        .par_iter_mut()
        .zip(y.par_iter())
        .map(|(force, p)| {
            let mut sum = 0.0;
            *force = [0.0; 2];
            for q in y {
                let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
                let w = 1.0 / (1.0 + dx * dx + dy * dy);
                sum += w;
                force[0] += w * w * dx;
                force[1] += w * w * dy;
            }
            sum
        })
        .collect();
    (terms.iter().sum::<f64>() - y.len() as f64).max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn matches_the_exact_sums() {
        // Fine boxes (small maps) are near exact; unit boxes keep FIt-SNE's usual ~1 % accuracy.
        for (scale, z_tolerance, force_tolerance) in
            [(0.1, 1e-6, 1e-6), (2.0, 1e-5, 1e-3), (20.0, 1e-2, 5e-2)]
        {
            check_against_exact(scale, z_tolerance, force_tolerance);
        }
    }

    fn check_against_exact(scale: f64, z_tolerance: f64, force_tolerance: f64) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let y: Vec<[f64; 2]> = (0..400)
            .map(|_| {
                [
                    rng.random_range(-scale..scale),
                    rng.random_range(-scale..scale) * 0.4,
                ]
            })
            .collect();
        let mut forces = vec![[0.0; 2]; y.len()];
        let z = Repulsion::new().grid_forces(&y, &mut forces);
        let mut exact_z = 0.0;
        let mut worst: f64 = 0.0;
        let mut largest: f64 = 0.0;
        for (i, p) in y.iter().enumerate() {
            let mut f = [0.0; 2];
            for (j, q) in y.iter().enumerate() {
                if i != j {
                    let (dx, dy) = (p[0] - q[0], p[1] - q[1]);
                    let w = 1.0 / (1.0 + dx * dx + dy * dy);
                    exact_z += w;
                    f[0] += w * w * dx;
                    f[1] += w * w * dy;
                }
            }
            worst = worst.max((f[0] - forces[i][0]).abs().max((f[1] - forces[i][1]).abs()));
            largest = largest.max(f[0].abs().max(f[1].abs()));
        }
        assert!(
            (z - exact_z).abs() / exact_z < z_tolerance,
            "z {z} vs {exact_z}"
        );
        assert!(
            worst / largest < force_tolerance,
            "force error {worst} of {largest}"
        );
    }

    #[test]
    fn fft_lengths_are_smooth() {
        assert_eq!(smooth(50), 50);
        assert_eq!(smooth(49), 50);
        assert_eq!(smooth(121), 125);
    }
}
