use super::*;
use crate::progress::Control;

#[test]
fn euclidean_matches_the_definition_and_cosine_on_unit_vectors() {
    let a: Vec<f32> = (0..19).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..19).map(|i| (i as f32 * 0.11).cos()).collect();
    let naive: f32 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt();
    assert!((euclidean(&a, &b) - naive).abs() < 1e-5);
    let norm = |v: &[f32]| {
        let length = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / length).collect::<Vec<_>>()
    };
    let (ua, ub) = (norm(&a), norm(&b));
    let cosine: f32 = ua.iter().zip(&ub).map(|(x, y)| x * y).sum();
    let d = euclidean(&ua, &ub);
    assert!((d * d - (2.0 - 2.0 * cosine)).abs() < 1e-5);
}

/// Unit vectors around `clusters` random centres plus uniform noise, like embeddings.
fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        let row: Vec<f32> = if i % 5 == 4 {
            (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect()
        } else {
            centres[i % clusters]
                .iter()
                .map(|c| c + rng.random_range(-0.4..0.4))
                .collect()
        };
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        data.extend(row.iter().map(|x| x / norm));
    }
    data
}

fn recall(exact: &Knn, approx: &Knn) -> f64 {
    let hits: usize = (0..exact.len())
        .map(|i| {
            let truth = exact.neighbours(i).0;
            approx
                .neighbours(i)
                .0
                .iter()
                .filter(|j| truth.contains(j))
                .count()
        })
        .sum();
    hits as f64 / exact.indices.len() as f64
}

#[test]
fn nn_descent_finds_nearly_all_exact_neighbours_deterministically() {
    let (n, dim, k) = (2000, 32, 15);
    let data = clustered(n, dim, 10, 3);
    let points = Points::new(&data, dim).expect("points");
    let control = Control::default();
    let exact = exact_knn(points, k, &control).expect("exact");
    // Few trees and small leaves, so the local joins must do the work.
    let settings = NnDescentSettings {
        trees: 2,
        leaf_size: 24,
        ..NnDescentSettings::default()
    };
    let approx = nn_descent(points, k, &settings, &control).expect("nn-descent");
    let found = recall(&exact, &approx);
    assert!(found >= 0.97, "recall {found}");
    for i in 0..n {
        let (indices, distances) = approx.neighbours(i);
        assert!(!indices.contains(&(i as u32)));
        assert!(distances.windows(2).all(|w| w[0] <= w[1]));
        for (&j, &d) in indices.iter().zip(distances) {
            assert!((euclidean(points.row(i), points.row(j as usize)) - d).abs() < 1e-5);
        }
    }
    let again = nn_descent(points, k, &settings, &control).expect("again");
    assert_eq!(again.indices, approx.indices, "same seed, same graph");
    let other = NnDescentSettings {
        seed: 7,
        ..settings
    };
    let other = nn_descent(points, k, &other, &control).expect("other seed");
    assert!(recall(&exact, &other) >= 0.97);
}

#[test]
fn exact_knn_equals_one_distance_at_a_time() {
    // Sizes that leave partial query and candidate blocks; duplicates make exact ties.
    let (n, dim, k) = (2_600, 20, 13);
    let mut data = clustered(n, dim, 12, 4);
    let duplicate: Vec<f32> = data[..dim].to_vec();
    data[5 * dim..6 * dim].copy_from_slice(&duplicate);
    data[2_500 * dim..2_501 * dim].copy_from_slice(&duplicate);
    let points = Points::new(&data, dim).expect("points");
    let knn = exact_knn(points, k, &Control::default()).expect("exact");
    for i in (0..n).step_by(37).chain([0, 5, 2_500, n - 1]) {
        let mut truth: Vec<(f32, u32)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (euclidean(points.row(i), points.row(j)), j as u32))
            .collect();
        truth.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (indices, distances) = knn.neighbours(i);
        let expected: Vec<u32> = truth[..k].iter().map(|t| t.1).collect();
        assert_eq!(indices, &expected[..], "neighbours of {i}");
        for (d, t) in distances.iter().zip(&truth) {
            assert_eq!(*d, t.0);
        }
    }
    let cancel = std::sync::atomic::AtomicBool::new(true);
    assert!(matches!(
        exact_knn(points, k, &Control::new(Some(&cancel), None)),
        Err(KnnError::Cancelled(_))
    ));
}

#[test]
fn the_tile_screened_and_the_f32_exact_searches_give_the_same_lists() {
    use super::exact::{Kernel, exact_knn_with};
    // Partial blocks (3,001 points, 45 dimensions), rows of three lengths, exact duplicates,
    // and near-copies closer than bf16 can tell apart, which only the exact ranking orders.
    let (n, dim, k) = (3_001, 45, 20);
    let mut data = clustered(n, dim, 9, 8);
    let base: Vec<f32> = data[..dim].to_vec();
    for copy in 1..30 {
        let row = &mut data[copy * 97 * dim..(copy * 97 + 1) * dim];
        for (x, b) in row.iter_mut().zip(&base) {
            *x = b + 1e-5 * (copy % 7) as f32;
        }
    }
    for i in [11, 12, 13] {
        data.copy_within(dim..2 * dim, i * dim);
    }
    for (i, x) in data.iter_mut().enumerate() {
        match (i / dim) % 7 {
            3 => *x *= 3.5,
            5 => *x *= 0.02,
            _ => {}
        }
    }
    let points = Points::new(&data, dim).expect("points");
    let control = Control::default();
    let products = exact_knn_with(points, k, &control, Kernel::F32).expect("f32");
    let screened = exact_knn_with(points, k, &control, Kernel::Auto).expect("auto");
    if super::bf16::kind().is_none() {
        eprintln!("no bf16 unit here: both runs used the f32 kernel");
    }
    for i in 0..n {
        assert_eq!(
            screened.neighbours(i),
            products.neighbours(i),
            "neighbours of {i}"
        );
    }
    let cancel = std::sync::atomic::AtomicBool::new(true);
    assert!(matches!(
        exact_knn_with(points, k, &Control::new(Some(&cancel), None), Kernel::Auto),
        Err(KnnError::Cancelled(_))
    ));
}

#[test]
fn nn_descent_handles_tiny_inputs_and_cancellation() {
    let data = clustered(10, 8, 2, 1);
    let points = Points::new(&data, 8).expect("points");
    let control = Control::default();
    let exact = exact_knn(points, 9, &control).expect("exact");
    let approx = nn_descent(points, 50, &NnDescentSettings::default(), &control).expect("knn");
    assert_eq!(approx.k, 9);
    assert_eq!(approx.indices, exact.indices, "every other point, in order");
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let cancelled = Control::new(Some(&cancel), None);
    assert!(matches!(
        nn_descent(points, 5, &NnDescentSettings::default(), &cancelled),
        Err(KnnError::Cancelled(_))
    ));
}

#[test]
fn graph_search_finds_the_nearest_kept_points() {
    let (n, dim, k) = (2000, 16, 10);
    let data = clustered(n, dim, 8, 5);
    let points = Points::new(&data, dim).expect("points");
    let control = Control::default();
    let knn = exact_knn(points, k, &control).expect("exact");
    let index = GraphIndex::new(&knn);
    // Points outside a scattered third, like the small components of early Borůvka rounds.
    let (mut hits, mut answered) = (0, 0);
    for from in (0..n).step_by(40) {
        let keep = |q: usize| q % 3 != from % 3;
        let Some(found) = index.nearest_where(points, from, 4, &keep) else {
            continue;
        };
        answered += 1;
        assert!(found.iter().all(|&(_, q)| keep(q as usize)));
        let mut truth: Vec<(f32, u32)> = (0..n)
            .filter(|&q| keep(q))
            .map(|q| (euclidean(points.row(from), points.row(q)), q as u32))
            .collect();
        truth.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if found.first().map(|f| f.1) == Some(truth[0].1) {
            hits += 1;
        }
    }
    assert!(answered >= 45, "only {answered} of 50 searches settled");
    assert!(
        hits * 10 >= answered * 9,
        "{hits} of {answered} found the nearest"
    );
}
