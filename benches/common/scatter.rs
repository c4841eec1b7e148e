//! Deterministic scatter data shared by the explorer benchmarks.

use eframe::egui;
use panic_tda::analysis::trajectories::cluster_rgb;

/// Deterministic points in 20 blobs, coloured by blob.
pub fn layout(count: usize) -> Vec<([f32; 2], egui::Color32)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..count)
        .map(|index| {
            let blob = (index % 20) as f32;
            let (cx, cy) = ((blob * 2.4).cos() * 40.0, (blob * 2.4).sin() * 40.0);
            let [r, g, b] = cluster_rgb((index % 20) as i32);
            (
                [cx + (next() - 0.5) * 18.0, cy + (next() - 0.5) * 18.0],
                egui::Color32::from_rgb(r, g, b),
            )
        })
        .collect()
}
