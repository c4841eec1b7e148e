//! Explorer scatter in a real window: frames per second of the wgpu point renderer (or, with
//! `--shapes`, of one egui_plot shape per point) drawing N points in an eframe window that
//! repaints continuously, vsync off, for 5 s after a 1 s warm-up. On machines without a GPU run
//! it under Xvfb, where wgpu renders with Mesa's software Vulkan:
//!
//! `xvfb-run -s "-screen 0 1200x800x24" cargo bench --profile dev --bench explorer_window -- 100000`

use std::time::{Duration, Instant};

use eframe::egui;
use egui_plot::{Plot, PlotPoints, Points};
use panic_tda::gui::points::{self, PointCloud};

#[path = "common/scatter.rs"]
mod scatter;

struct Bench {
    count: usize,
    cloud: Option<PointCloud>,
    shapes: Option<Vec<[f64; 2]>>,
    opened: Instant,
    started: Option<(Instant, u32)>,
    frames: u32,
    done: bool,
}

impl eframe::App for Bench {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let now = Instant::now();
        self.frames += 1;
        match self.started {
            None if now - self.opened > Duration::from_secs(1) => {
                self.started = Some((now, self.frames));
            }
            Some((start, first)) if !self.done && now - start > Duration::from_secs(5) => {
                let frames = self.frames - first;
                let seconds = (now - start).as_secs_f64();
                println!(
                    "{} points, {}: {frames} frames in {seconds:.1} s = {:.1} fps ({:.1} ms/frame)",
                    self.count,
                    if self.cloud.is_some() {
                        "wgpu point renderer"
                    } else {
                        "egui_plot shapes"
                    },
                    frames as f64 / seconds,
                    1000.0 * seconds / frames as f64
                );
                self.done = true;
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            _ => {}
        }
        let shapes = self.shapes.as_ref();
        let response = Plot::new("bench").data_aspect(1.0).show(ui, |plot| {
            if let Some(points) = shapes {
                plot.points(Points::new("points", PlotPoints::from(points.clone())).radius(2.0));
            }
        });
        if let Some(cloud) = &self.cloud {
            let frame = *response.transform.frame();
            points::paint_in_plot(
                &ui.painter().with_clip_rect(frame),
                &response.transform,
                cloud,
                2.0,
                1.0,
            );
        }
        ui.ctx().request_repaint();
    }
}

fn main() -> Result<(), eframe::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs bench binaries too, without `--bench` and usually without
    // a display: opening a window there would fail the test run, so only `cargo bench` measures.
    if !args.iter().any(|arg| arg == "--bench") {
        println!("explorer_window: a benchmark; run it with `cargo bench --bench explorer_window`");
        return Ok(());
    }
    let count = args
        .iter()
        .find_map(|arg| arg.parse::<usize>().ok())
        .unwrap_or(100_000);
    let shapes = args.iter().any(|arg| arg == "--shapes");
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size([1000.0, 700.0]),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: eframe::egui_wgpu::WgpuConfiguration {
            surface: eframe::egui_wgpu::SurfaceConfig {
                present_mode: wgpu::PresentMode::AutoNoVsync,
                ..eframe::egui_wgpu::SurfaceConfig::LOW_LATENCY
            },
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "explorer-window-bench",
        options,
        Box::new(move |cc| {
            let data = scatter::layout(count);
            let render_state = cc.wgpu_render_state.as_ref();
            if let Some(render_state) = render_state.filter(|_| !shapes) {
                points::install(render_state);
            }
            let gpu = render_state.is_some() && !shapes;
            Ok(Box::new(Bench {
                count,
                cloud: gpu.then(|| PointCloud::new(data.iter().copied())),
                shapes: (!gpu).then(|| {
                    data.iter()
                        .map(|(p, _)| [p[0] as f64, p[1] as f64])
                        .collect()
                }),
                opened: Instant::now(),
                started: None,
                frames: 0,
                done: false,
            }))
        }),
    )
}
