//! Unit tests of the Rips internals: coboundary levels and the triangle apparent-pair shortcut.

use super::RipsParams;
use super::distance::DistanceMatrix;
use super::rips::{LEVELS, Rips, rips_with_levels};
use super::simplex::{Binomials, Cell};

/// `count` pseudo-random coordinates in [0, 1) from a linear congruential generator.
fn lcg_coordinates(mut state: u64, count: usize) -> Vec<f32> {
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// Pushing coboundaries in parts (many levels) or whole (one level) gives the same
/// diagram.
#[test]
fn coboundary_levels_do_not_change_the_diagram() {
    let points = lcg_coordinates(99, 60 * 12);
    let distances = DistanceMatrix::from_points(&points, 12).expect("distances");
    let params = RipsParams::default();
    let whole = rips_with_levels(&distances, &params, None, 1).expect("whole");
    assert!(whole.iter().filter(|p| p.dimension == 2).count() > 10);
    for levels in [4, LEVELS, 500] {
        assert_eq!(
            rips_with_levels(&distances, &params, None, levels).expect("parts"),
            whole,
            "{levels} levels"
        );
    }
}

/// The triangle shortcut agrees with the general apparent-pair test, ties included.
#[test]
fn triangle_shortcut_matches_the_general_test() {
    let grid: Vec<f32> = (0..27)
        .flat_map(|i| [(i % 3) as f32, ((i / 3) % 3) as f32, (i / 9) as f32])
        .collect();
    let random = lcg_coordinates(12345, 30 * 4);
    for (points, dim) in [(grid, 3), (random, 4)] {
        let distances = DistanceMatrix::from_points(&points, dim).expect("distances");
        let n = distances.len();
        let rips = Rips {
            n,
            distances: &distances,
            threshold: distances.enclosing_radius(),
            binomials: Binomials::new(n, 4).expect("binomials"),
            cancel: None,
            pairs: Vec::new(),
            steps: 0,
            levels: Vec::new(),
        };
        let mut checked = 0;
        for a in 0..n {
            for b in 0..a {
                for c in 0..n {
                    if c == a || c == b {
                        continue;
                    }
                    let d = distances.get(a, b);
                    // {a, b} must be the triangle's latest edge: longest, ties to the
                    // smaller edge index.
                    let edge = |x: usize, y: usize| {
                        let (i, j) = (x.max(y), x.min(y));
                        (distances.get(i, j), i * (i - 1) / 2 + j)
                    };
                    let (own, others) = (edge(a, b), [edge(a, c), edge(b, c)]);
                    if d > rips.threshold
                        || others
                            .iter()
                            .any(|&(l, i)| l > own.0 || (l == own.0 && i < own.1))
                    {
                        continue;
                    }
                    let mut vertices = [a, b, c, 0];
                    vertices[..3].sort_unstable_by(|x, y| y.cmp(x));
                    let triangle = Cell::new(d, rips.index_of(&vertices[..3]));
                    assert_eq!(
                        rips.triangle_has_apparent_cofacet(d.to_bits(), a, b, c),
                        rips.has_apparent_cofacet(triangle, &vertices[..3]),
                        "triangle {a} {b} {c}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 100);
    }
}
