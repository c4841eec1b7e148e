//! Explorer scatter frame time: the wgpu point renderer against one egui_plot shape per point,
//! at 10k and 100k points, rendered headless by egui_kittest's wgpu renderer (Mesa's software
//! Vulkan on machines without a GPU). A frame is one egui pass (layout, tessellation) plus a
//! wgpu render and the read-back of the image, so these are upper bounds on a window's frame.
//!
//! Run: `cargo bench --profile dev --bench explorer_points` (`--release` for optimised egui).

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::wgpu::{WgpuTestRenderer, create_render_state, default_wgpu_setup};
use egui_plot::{Plot, PlotPoints, Points};
use panic_tda::gui::points::{self, PointCloud};

#[path = "common/scatter.rs"]
mod scatter;
use scatter::layout;

/// CPU time of this process so far (all threads, lavapipe's included): unlike wall time it
/// hardly depends on what else the machine runs.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Mean per frame: wall time of the egui pass, of the render with read-back, and CPU time.
fn measure(count: usize, gpu: bool) -> (Duration, Duration, Duration) {
    let render_state = create_render_state(
        default_wgpu_setup(),
        eframe::egui_wgpu::RendererOptions::PREDICTABLE,
    );
    if gpu {
        points::install(&render_state);
    }
    let data = layout(count);
    let cloud = PointCloud::new(data.iter().copied());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1000.0, 700.0))
        .renderer(WgpuTestRenderer::from_render_state(render_state))
        .build_ui(move |ui| {
            let response = Plot::new("bench").data_aspect(1.0).show(ui, |plot| {
                if !gpu {
                    let points: Vec<[f64; 2]> = data
                        .iter()
                        .map(|(p, _)| [p[0] as f64, p[1] as f64])
                        .collect();
                    plot.points(Points::new("points", PlotPoints::from(points)).radius(2.0));
                }
            });
            if gpu {
                let frame = *response.transform.frame();
                points::paint_in_plot(
                    &ui.painter().with_clip_rect(frame),
                    &response.transform,
                    &cloud,
                    2.0,
                    1.0,
                );
            }
        });
    harness.run();
    harness.render().expect("render");
    let frames = 20;
    let (mut pass, mut render) = (Duration::ZERO, Duration::ZERO);
    let cpu = cpu_time();
    for _ in 0..frames {
        let start = Instant::now();
        harness.step();
        pass += start.elapsed();
        let start = Instant::now();
        harness.render().expect("render");
        render += start.elapsed();
    }
    let cpu = cpu_time() - cpu;
    (pass / frames, render / frames, cpu / frames)
}

fn main() {
    println!(
        "| points | renderer | egui pass | render + read-back | frame | fps | CPU per frame |"
    );
    println!("|---|---|---|---|---|---|---|");
    // The empty plot is the harness's own cost (egui pass, full-window render, read-back);
    // the points' cost is what a row adds to it.
    let cases = [
        (0, true),
        (10_000, true),
        (10_000, false),
        (100_000, true),
        (100_000, false),
        (1_000_000, true),
    ];
    for (count, gpu) in cases {
        let (pass, render, cpu) = measure(count, gpu);
        let frame = pass + render;
        let renderer = if gpu {
            "wgpu point renderer"
        } else {
            "egui_plot shapes"
        };
        println!(
            "| {count} | {renderer} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} | {:.1} ms |",
            pass.as_secs_f64() * 1000.0,
            render.as_secs_f64() * 1000.0,
            frame.as_secs_f64() * 1000.0,
            1.0 / frame.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0
        );
    }
}
