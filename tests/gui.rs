//! Headless GUI tests: egui_kittest drives the real app through its accessibility tree and renders
//! it with wgpu (Mesa's software Vulkan on machines without a GPU).

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use panic_tda::gui::{AppOptions, PanicApp, Section};
use panic_tda::paths::AppPaths;

fn options(name: &str) -> AppOptions {
    let root = std::env::temp_dir().join(format!("panic-tda-gui-test-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    let paths = AppPaths::rooted_at(&root);
    AppOptions {
        database: root.join("panic-tda.sqlite"),
        paths,
    }
}

fn harness(name: &str) -> Harness<'static, PanicApp> {
    let options = options(name);
    Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 640.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options))
}

#[test]
fn the_main_window_opens_on_experiments_and_navigates() {
    let mut harness = harness("navigate");
    harness.run();
    assert_eq!(harness.state().section(), Section::Experiments);
    harness.get_by_label("Explorer").click();
    harness.run();
    assert_eq!(harness.state().section(), Section::Explorer);
    harness.get_by_label("Experiments").click();
    harness.run();
    harness.snapshot("main_window");
}

#[test]
fn the_system_panel_reports_what_is_missing() {
    // Rooted in an empty directory, ONNX Runtime is only found through ORT_DYLIB_PATH; either
    // way the panel must report on it rather than crash or stay blank.
    let mut harness = harness("system");
    harness.get_by_label("System").click();
    harness.run();
    for _ in 0..200 {
        if harness.query_by_label_contains("ONNX Runtime:").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
    assert!(harness.query_by_label_contains("ONNX Runtime:").is_some());
    assert!(harness.query_by_label_contains("FFmpeg:").is_some());
}
