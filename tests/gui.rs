//! Headless GUI tests: egui_kittest drives the real app through its accessibility tree and renders
//! it with wgpu (Mesa's software Vulkan on machines without a GPU).

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use panic_tda::gui::{AppOptions, PanicApp, Section};
use panic_tda::models::ProviderOptions;
use panic_tda::paths::AppPaths;

fn options(name: &str) -> AppOptions {
    let root = std::env::temp_dir().join(format!("panic-tda-gui-test-{name}"));
    let _ = std::fs::remove_dir_all(&root);
    let paths = AppPaths::rooted_at(&root);
    AppOptions {
        database: root.join("panic-tda.sqlite"),
        database_chosen: true,
        paths,
        models: None,
        // Tests never download.
        provider: ProviderOptions {
            offline: true,
            ..ProviderOptions::default()
        },
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
    // A spinner shows while the report is gathered, so the UI never settles: step, don't run.
    harness.run_steps(2);
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

fn wait_until(
    harness: &mut Harness<'static, PanicApp>,
    what: &str,
    done: impl Fn(&PanicApp) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !done(harness.state()) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
    harness.run();
}

/// Steps the app until a widget whose label contains `label` appears (background work done).
fn wait_for_label(harness: &mut Harness<'static, PanicApp>, label: &str, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while harness.query_by_label_contains(label).is_none() {
        if std::time::Instant::now() >= deadline {
            let shown: Vec<String> = harness
                .query_all_by_label_contains("")
                .filter_map(|node| node.value())
                .collect();
            panic!("{what} never finished; showing: {shown:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        harness.step();
    }
}

#[test]
fn an_empty_database_offers_the_demo() {
    let mut harness = harness("empty");
    harness.run();
    assert!(
        harness
            .query_by_label("▶ Run the demo experiment")
            .is_some()
    );
    harness.snapshot("experiments_empty");
}

#[test]
fn build_run_open_and_delete_an_experiment_point_and_click() {
    let mut harness = harness("form");
    harness.get_by_label("New experiment").click();
    harness.run();
    // An empty form explains what is missing and cannot run.
    assert!(
        harness
            .query_by_label_contains("networks: must list at least one network")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("prompts: must list at least one prompt")
            .is_some()
    );

    harness.get_by_label("+ Add network").click();
    harness.run();
    for prompt in ["a cat", "a dog"] {
        harness.get_by_label("New prompt").click();
        harness.run();
        harness.get_by_label("New prompt").type_text(prompt);
        harness.run();
        harness.get_by_label("Add prompt").click();
        harness.run();
    }
    assert_eq!(
        harness.state().draft_config().prompts,
        vec!["a cat", "a dog"]
    );
    // Reorder: move the first prompt down.
    harness
        .get_all_by_label("↓")
        .next()
        .expect("a move-down button")
        .click();
    harness.run();
    assert_eq!(
        harness.state().draft_config().prompts,
        vec!["a dog", "a cat"]
    );
    assert!(
        harness
            .query_by_label_contains("prompts: must list")
            .is_none()
    );

    // A bad seed is reported, then fixed.
    harness.get_by_label("Seed list").click();
    harness.run();
    harness.get_by_label("Seed list").type_text("x");
    harness.run();
    assert!(
        harness
            .query_by_label_contains("seeds: '-1x' is not a whole number")
            .is_some()
    );
    harness.key_press(egui::Key::Backspace);
    harness.run();
    harness.get_by_label("Seed list").type_text(", 3");
    harness.run();
    assert!(
        harness
            .query_by_label_contains("is not a whole number")
            .is_none()
    );
    assert_eq!(harness.state().draft_config().seeds, Some(vec![-1, 3]));

    // Embed with the dummy text model instead of MiniLM (no model files in this sandbox).
    harness
        .get_by_role_and_label(egui::accesskit::Role::CheckBox, "MiniLM (text, 384-d)")
        .click();
    harness
        .get_by_role_and_label(egui::accesskit::Role::CheckBox, "DummyText (text, 768-d)")
        .click();
    harness.run();
    let draft = harness.state().draft_config();
    assert_eq!(draft.embedding_models, vec!["DummyText"]);
    assert_eq!(
        draft.networks,
        vec![vec!["DummyT2I".to_string(), "DummyI2T".to_string()]]
    );
    assert!(harness.query_by_label_contains("Ready: 4 runs").is_some());
    harness.snapshot("new_experiment_form");

    // Below the fold of the form: scroll to it as a user would.
    harness.get_by_label("▶ Run experiment").scroll_to_me();
    harness.run();
    harness.get_by_label("▶ Run experiment").click();
    harness.run_steps(2);
    assert_eq!(harness.state().section(), Section::Monitor);
    wait_until(&mut harness, "the experiment to finish", |app| {
        app.job_progress().is_some_and(|(_, _, finished)| finished)
    });
    let (done, total, _) = harness.state().job_progress().expect("a job");
    // 2 prompts × 2 unseeded/seeded runs: the unseeded runs go to 100 steps, seeded ones stop in a loop.
    assert_eq!(done, total);
    assert_eq!(total, 2 * 100 + 2 * 3);
    assert!(
        harness
            .query_by_label_contains("Finished: completed")
            .is_some()
    );

    harness.get_by_label("Experiments").click();
    harness.run();
    harness.get_by_label("Open").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("reached max length")
            .is_some()
    );
    harness.get_by_label("← All experiments").click();
    harness.run();
    harness.get_by_label("Delete").click();
    harness.run();
    assert!(harness.query_by_label("Delete experiment?").is_some());
    harness
        .get_all_by_label("Delete")
        .last()
        .expect("confirm button")
        .click();
    harness.run();
    harness.run();
    assert!(
        harness
            .query_by_label("▶ Run the demo experiment")
            .is_some(),
        "the list is empty again"
    );
}

#[test]
fn clustering_runs_in_the_background_and_its_result_can_be_opened() {
    let options = options("clusters");
    let database = options.database.clone();
    drop(dummy_experiment(&options));
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 640.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Clusters").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("No clustering results yet")
            .is_some()
    );
    // Small clusters, so this small experiment has several.
    harness
        .get_by_label("Min cluster size (0 = auto)")
        .set_value_accesskit(3.0);
    harness.run();
    harness.get_by_label("Run clustering").click();
    harness.run_steps(2);
    wait_for_label(&mut harness, "Show", "clustering");
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("of 120 embeddings (DummyText)")
            .is_some()
    );
    // Each cluster shows a few of its members' images (captions' input images), loaded in
    // the background. (The unseeded dummy data clusters differently on each run, so the
    // expected count comes from the stored result, and there is no snapshot.)
    step_until(&mut harness, "the example images", |harness| {
        harness.state().cluster_examples_shown().is_some()
    });
    let expected: usize = {
        let store = panic_tda::store::Store::open(&database).expect("store");
        let results = panic_tda::analysis::clustering::list_clusterings(&store).expect("list");
        let detail = panic_tda::analysis::clustering::show_clustering(&store, &results[0].id, None)
            .expect("show");
        detail
            .clusters
            .iter()
            .map(|cluster| 4.min(cluster.size as usize))
            .sum()
    };
    assert_eq!(harness.state().cluster_examples_shown(), Some(expected));
    assert!(
        harness
            .query_by_label_contains("cannot show example images")
            .is_none()
    );
    harness.get_by_label("Delete").click();
    harness.run_steps(3);
    harness.get_by_label("Delete clustering").click();
    harness.run_steps(3);
    assert!(
        harness
            .query_by_label_contains("No clustering results yet")
            .is_some()
    );
}

/// A small finished dummy experiment (3 prompts × 4 unseeded runs × 20 steps, DummyText
/// embeddings); returns the open store and the experiment id.
fn dummy_experiment(options: &AppOptions) -> (panic_tda::store::Store, String) {
    let mut store = panic_tda::store::Store::open(&options.database).expect("store");
    let provider = panic_tda::models::provider::CatalogProvider::new(
        options.paths.clone(),
        panic_tda::models::provider::ProviderOptions::default(),
    );
    let raw = panic_tda::config::parse(
        r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a", "b", "c"], "num_runs": 4,
            "embedding_models": ["DummyText"], "max_length": 20, "image_size": 32}"#,
        "test",
    )
    .expect("config");
    let config = panic_tda::config::validate(&raw, &provider).expect("valid");
    let id = panic_tda::engine::create_experiment(&mut store, &config).expect("create");
    let (sender, _receiver) = std::sync::mpsc::channel();
    panic_tda::engine::run_experiment(
        &mut store,
        &provider,
        &id,
        panic_tda::engine::EngineOptions::default(),
        &sender,
        &panic_tda::engine::CancelToken::new(),
    )
    .expect("run");
    (store, id)
}

/// A finished dummy experiment with a clustering and a stored t-SNE projection.
fn explorer_fixture(options: &AppOptions) -> (String, Vec<String>) {
    let (mut store, id) = dummy_experiment(options);
    let control = panic_tda::analysis::hdbscan::Control::new(None, None);
    let clustering = panic_tda::analysis::clustering::run_clustering(
        &mut store,
        &panic_tda::analysis::clustering::ClusterRequest {
            min_cluster_size: Some(3),
            min_samples: Some(2),
            ..Default::default()
        },
        &control,
    )
    .expect("cluster");
    let scope = panic_tda::analysis::projection::ProjectionScope::for_experiments(
        &store,
        std::slice::from_ref(&id),
    )
    .expect("scope");
    let params = panic_tda::analysis::tsne::TsneParams {
        perplexity: 10.0,
        ..Default::default()
    };
    panic_tda::analysis::projection::compute(
        &mut store,
        "DummyText",
        &scope,
        &params,
        &std::sync::atomic::AtomicBool::new(false),
        0,
        |_| {},
    )
    .expect("projection");
    // The cluster names the indicator must show along the first run, step by step.
    let first_run = store.runs(&id).expect("runs")[0].id.clone();
    let names = store
        .raw_connection_for_tests()
        .prepare(
            "SELECT coalesce(c.display_name, CASE a.label WHEN -1 THEN 'outlier' END)
             FROM invocation i JOIN embedding e ON e.invocation_id = i.id
             JOIN cluster_assignment a ON a.embedding_id = e.id AND a.clustering_id = ?1
             LEFT JOIN cluster c ON c.clustering_id = a.clustering_id AND c.label = a.label
             WHERE i.run_id = ?2 ORDER BY i.sequence_number",
        )
        .expect("prepare")
        .query_map([&clustering.id, &first_run], |row| row.get::<_, String>(0))
        .expect("query")
        .collect::<Result<Vec<_>, _>>()
        .expect("names");
    (id, names)
}

#[test]
fn the_explorer_steps_through_a_run_and_shows_its_cluster_at_each_step() {
    let options = options("explorer");
    let (_, expected) = explorer_fixture(&options);
    assert_eq!(expected.len(), 10);
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1100.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Explorer").click();
    wait_until(&mut harness, "the map", |app| {
        app.explorer_indicator().is_some()
    });
    assert!(
        harness
            .query_by_label_contains("t-SNE of 120 DummyText embeddings")
            .is_some()
    );
    for (step, name) in expected.iter().enumerate() {
        if step > 0 {
            harness
                .get_by_role_and_label(egui::accesskit::Role::Slider, "Step")
                .focus();
            harness.key_press(egui::Key::ArrowRight);
            harness.run();
        }
        let (sequence, shown) = harness.state().explorer_indicator().expect("an indicator");
        assert_eq!(sequence, 2 * step as u32 + 1, "text steps are the odd ones");
        assert_eq!(&shown, name, "step {step}");
        assert!(
            harness
                .query_by_label_contains(&format!("Step {sequence}: {name}"))
                .is_some()
        );
    }
}

#[test]
fn the_export_panel_writes_a_video_in_the_background() {
    let options = options("export");
    explorer_fixture(&options);
    let output = std::env::temp_dir().join("panic-tda-gui-test-export.mp4");
    let _ = std::fs::remove_file(&output);
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1100.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Export").click();
    harness.run();
    // Reorder the prompts the mosaic will show: "b" first.
    assert!(harness.query_by_label("b").is_some());
    harness.get_by_label("Output file").click();
    harness.run();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Output file")
        .type_text(&output.to_string_lossy());
    harness.run();
    harness
        .get_by_role_and_label(egui::accesskit::Role::Button, "Export video")
        .click();
    harness.run_steps(2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while harness.query_by_label_contains("wrote ").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the export never finished"
        );
        assert!(harness.query_by_label_contains("error").is_none());
        std::thread::sleep(std::time::Duration::from_millis(50));
        harness.step();
    }
    let video = panic_tda::export::video_writer::decode_all(&output).expect("decode");
    assert_eq!((video.width, video.height), (1920, 1080));
    assert_eq!(video.frames.len(), 10, "one frame per image step");
}

#[test]
fn the_analyses_panel_computes_shows_and_saves_the_report() {
    let options = options("analyses");
    {
        let (mut store, _) = dummy_experiment(&options);
        panic_tda::analysis::clustering::run_clustering(
            &mut store,
            &panic_tda::analysis::clustering::ClusterRequest {
                min_cluster_size: Some(3),
                min_samples: Some(2),
                ..Default::default()
            },
            &panic_tda::analysis::hdbscan::Control::new(None, None),
        )
        .expect("cluster");
    }
    let folder = options
        .database
        .parent()
        .expect("root")
        .join("analyses-out");
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1100.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Analyses").click();
    harness.run();
    harness.get_by_label("Analyse").click();
    harness.run_steps(2);
    wait_for_label(&mut harness, "Save tables and charts", "the analysis");
    harness.run_steps(2);
    // Transitions are faceted: the facet picker names the model and network.
    assert!(harness.query_by_label("Model · network").is_some());
    // The dummy clustering has clusters, so a heatmap is drawn rather than the empty message.
    assert!(harness.query_by_label_contains("No transitions").is_none());
    harness.get_by_label("Stages").click();
    harness.run_steps(2);
    assert!(
        harness.query_by_label("beginning").is_none()
            || harness.query_by_label_contains("No stages").is_none()
    );
    harness.get_by_label("Agreement").click();
    harness.run_steps(2);
    assert!(
        harness
            .query_by_label_contains("at least two embedding models")
            .is_some()
    );
    harness.get_by_label("Timing").click();
    harness.run_steps(2);
    harness.get_by_label("Folder").click();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Folder")
        .type_text(&folder.to_string_lossy());
    // Leave the text field first, so the button's click is not spent on taking focus away.
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    harness.get_by_label("Save tables and charts").click();
    harness.run_steps(2);
    wait_for_label(&mut harness, "files to", "saving");
    assert!(folder.join("transitions.png").is_file());
    assert!(folder.join("timing.svg").is_file());
}

/// Steps until `done`, without requiring the UI to settle (spinners, progress bars).
fn step_until(
    harness: &mut Harness<'static, PanicApp>,
    what: &str,
    done: impl Fn(&Harness<'static, PanicApp>) -> bool,
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done(harness) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        harness.step();
    }
}

#[test]
fn cluster_examples_are_images_of_the_members() {
    let options = options("cluster-examples");
    let (mut store, _) = dummy_experiment(&options);
    let clustering = panic_tda::analysis::clustering::run_clustering(
        &mut store,
        &panic_tda::analysis::clustering::ClusterRequest {
            min_cluster_size: Some(3),
            min_samples: Some(2),
            ..Default::default()
        },
        &panic_tda::analysis::hdbscan::Control::new(None, None),
    )
    .expect("cluster");
    let detail = panic_tda::analysis::clustering::show_clustering(&store, &clustering.id, None)
        .expect("show");
    // The unseeded dummy data clusters differently each time; the outliers (−1) count too, so
    // some label always has members.
    let labels = detail
        .clusters
        .iter()
        .map(|cluster| (cluster.label, cluster.size))
        .chain([(-1, detail.summary.outliers)]);
    let mut seen = 0;
    for (label, size) in labels {
        let examples = store
            .cluster_example_images(&clustering.id, label, 4)
            .expect("examples");
        // DummyText embeds captions, so each example is the caption's input: a 32-pixel
        // solid cyan-ish DummyT2I image (red lowest).
        assert_eq!(examples.len(), 4.min(size as usize));
        seen += examples.len();
        for image in &examples {
            assert_eq!(image.dimensions(), (32, 32));
            let [r, g, b] = image.get_pixel(0, 0).0;
            assert!(r < g && r < b, "{r} {g} {b}");
            assert!(image.pixels().all(|pixel| pixel == image.get_pixel(0, 0)));
        }
    }
    assert!(seen > 0);
}

#[test]
fn the_form_lists_models_with_their_files_and_a_failing_fetch_shows_its_error() {
    // Offline (as every test is): fetching must fail, in the UI, without a crash.
    let mut harness = harness("fetch");
    harness.get_by_label("New experiment").click();
    harness.run();
    harness.get_by_label_contains("Models (").click();
    harness.run();
    // Rooted in an empty directory: the six downloadable models offer Fetch, MiniLM (installed
    // by `make setup`) says so, the dummies are built in.
    assert_eq!(harness.get_all_by_label("Fetch").count(), 6);
    assert!(
        harness
            .query_by_label_contains("run `make setup`")
            .is_some()
    );
    assert!(harness.get_all_by_label("built in").count() >= 4);
    assert!(harness.query_by_label_contains("523 MB").is_some());
    harness
        .get_all_by_label("Fetch")
        .next()
        .expect("a Fetch button")
        .click();
    harness.run_steps(2);
    step_until(&mut harness, "the fetch to fail", |harness| {
        harness
            .query_by_label_contains("offline mode forbids downloading")
            .is_some()
    });
    harness.run_steps(2);
    let error = harness
        .get_by_label_contains("offline mode forbids downloading")
        .value()
        .unwrap_or_default();
    assert!(error.contains("NomicText"), "{error}");
    // The button is back for another try.
    assert_eq!(harness.get_all_by_label("Fetch").count(), 6);
    // The device choice is there and defaults to Auto.
    assert!(harness.query_by_label("Device").is_some());
    harness.snapshot("new_experiment_models");
}

#[test]
fn prompts_reorder_by_dragging() {
    let mut harness = harness("drag");
    harness.get_by_label("New experiment").click();
    harness.run();
    for prompt in ["first", "second", "third"] {
        harness.get_by_label("New prompt").click();
        harness.run();
        harness.get_by_label("New prompt").type_text(prompt);
        harness.run();
        harness.get_by_label("Add prompt").click();
        harness.run();
    }
    let handles: Vec<egui::Rect> = harness
        .get_all_by_label("⠿")
        .map(|node| node.rect())
        .collect();
    assert_eq!(handles.len(), 3);
    // Drag the first prompt's grip onto the lower half of the third row.
    let from = handles[0].center();
    let to = egui::pos2(handles[2].center().x, handles[2].center().y + 4.0);
    harness.hover_at(from);
    harness.step();
    harness.drag_at(from);
    harness.step();
    for fraction in [0.25, 0.5, 0.75, 1.0] {
        harness.hover_at(from + (to - from) * fraction);
        harness.step();
    }
    harness.drop_at(to);
    harness.step();
    harness.run();
    assert_eq!(
        harness.state().draft_config().prompts,
        vec!["second", "third", "first"]
    );
}

/// An in-memory stand-in for eframe's on-disk app storage.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

fn harness_with_storage(
    options: AppOptions,
    storage: &'static MemoryStorage,
) -> Harness<'static, PanicApp> {
    Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 640.0))
        .wgpu()
        .build_eframe(move |cc| {
            cc.storage = Some(storage);
            PanicApp::new(cc, options)
        })
}

#[test]
fn the_last_database_is_reopened_unless_one_is_named_or_it_is_gone() {
    let first = options("remember-first");
    let mut harness = harness_with_storage(first.clone(), Box::leak(Box::default()));
    harness.run();
    let mut storage = MemoryStorage::default();
    eframe::App::save(harness.state_mut(), &mut storage);
    drop(harness);
    let storage: &'static MemoryStorage = Box::leak(Box::new(storage));

    // Started without --db: the database of last time.
    let mut second = options("remember-second");
    second.database_chosen = false;
    let harness = harness_with_storage(second.clone(), storage);
    assert_eq!(harness.state().database(), first.database);
    drop(harness);
    // Started with --db: that one.
    let mut named = second.clone();
    named.database_chosen = true;
    let harness = harness_with_storage(named, storage);
    assert_eq!(harness.state().database(), second.database);
    drop(harness);
    // The remembered file is gone: the default.
    std::fs::remove_file(&first.database).expect("remove");
    let harness = harness_with_storage(second.clone(), storage);
    assert_eq!(harness.state().database(), second.database);
}

#[test]
fn an_interrupted_experiment_is_offered_for_resume_at_launch() {
    let options = options("resume");
    {
        let mut store = panic_tda::store::Store::open(&options.database).expect("store");
        let provider = panic_tda::models::provider::CatalogProvider::new(
            options.paths.clone(),
            options.provider,
        );
        let raw = panic_tda::config::parse(
            r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a"], "num_runs": 2,
                "embedding_models": ["DummyText"], "max_length": 10, "image_size": 32}"#,
            "test",
        )
        .expect("config");
        let config = panic_tda::config::validate(&raw, &provider).expect("valid");
        let id = panic_tda::engine::create_experiment(&mut store, &config).expect("create");
        // As a crash leaves it: marked running, nothing finished.
        store
            .set_experiment_status(
                &id,
                panic_tda::store::ExperimentStatus::Running,
                panic_tda::store::now(),
            )
            .expect("status");
    }
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 640.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.run_steps(3);
    assert_eq!(harness.state().section(), Section::Experiments);
    assert_eq!(harness.state().resume_offers().len(), 1);
    assert!(harness.query_by_label_contains("was interrupted").is_some());
    harness.get_by_label("▶ Resume").click();
    harness.run_steps(2);
    assert_eq!(harness.state().section(), Section::Monitor);
    wait_until(&mut harness, "the resumed experiment to finish", |app| {
        app.job_progress().is_some_and(|(_, _, finished)| finished)
    });
    assert!(
        harness
            .query_by_label_contains("Finished: completed")
            .is_some()
    );
    assert!(harness.state().resume_offers().is_empty());
}

/// Creates (without running) an experiment from a config in JSON.
fn create_experiment(options: &AppOptions, config_json: &str) {
    let mut store = panic_tda::store::Store::open(&options.database).expect("store");
    let provider =
        panic_tda::models::provider::CatalogProvider::new(options.paths.clone(), options.provider);
    let raw = panic_tda::config::parse(config_json, "test").expect("config");
    let config = panic_tda::config::validate(&raw, &provider).expect("valid");
    panic_tda::engine::create_experiment(&mut store, &config).expect("create");
}

#[test]
fn the_monitors_latest_outputs_stay_inside_the_default_window() {
    let options = options("monitor-latest");
    // The monitor shows the first four prompts of each network: two networks give a
    // row of eight tiles, wider than the window.
    create_experiment(
        &options,
        r#"{"networks": [["DummyT2I", "DummyI2T"], ["DummyT2I2", "DummyI2T2"]],
                "prompts": ["a", "b", "c", "d"], "num_runs": 1,
                "embedding_models": ["DummyText"], "max_length": 40, "image_size": 16}"#,
    );
    let size = egui::Vec2::new(1200.0, 800.0);
    let mut harness = Harness::builder()
        .with_size(size)
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.run();
    harness.get_by_label("Resume").click();
    harness.run_steps(2);
    // Networks run one after the other; the first one's tiles stay.
    step_until(&mut harness, "the experiment to finish", |harness| {
        harness
            .state()
            .job_progress()
            .is_some_and(|(_, _, finished)| finished)
    });
    harness.run_steps(2);
    assert_eq!(harness.query_all_by_label_contains("· step 39").count(), 8);
    let used = harness.ctx.globally_used_rect();
    assert!(
        used.right() <= size.x + 0.5,
        "the monitor runs off the window: {used:?}"
    );
}

#[test]
fn the_monitor_stops_and_resumes_an_experiment() {
    let options = options("stop-resume");
    // Far longer than the test lasts, so Stop always lands mid-run.
    create_experiment(
        &options,
        r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a"], "num_runs": 1,
                "embedding_models": ["DummyText"], "max_length": 1000000, "image_size": 16}"#,
    );
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 640.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.run();
    harness.get_by_label("Resume").click();
    harness.run_steps(2);
    assert_eq!(harness.state().section(), Section::Monitor);
    for round in 0..2 {
        step_until(&mut harness, "some progress", |harness| {
            harness
                .state()
                .job_progress()
                .is_some_and(|(done, _, _)| done > 0)
        });
        harness.get_by_label("■ Stop").click();
        harness.run_steps(2);
        step_until(&mut harness, "the stop", |harness| {
            harness
                .state()
                .job_progress()
                .is_some_and(|(_, _, finished)| finished)
        });
        harness.run_steps(2);
        assert!(
            harness
                .query_by_label_contains("Everything done so far is kept")
                .is_some(),
            "round {round}"
        );
        let (done, total, _) = harness.state().job_progress().expect("a job");
        assert!(done < total);
        if round == 0 {
            // Resume continues from what is stored rather than starting over.
            harness.get_by_label("▶ Resume").click();
            harness.run_steps(2);
            assert!(!harness.state().job_progress().expect("a job").2);
            step_until(&mut harness, "the resumed run to report", |harness| {
                harness
                    .state()
                    .job_progress()
                    .is_some_and(|(now, _, _)| now > 0)
            });
            // The first count reported already includes what was stored before the stop.
            let (resumed_at, _, _) = harness.state().job_progress().expect("a job");
            assert!(resumed_at >= done, "{resumed_at} < {done}");
        }
    }
}

/// A deterministic experiment written straight into the store (dummy models would loop-stop
/// when seeded and draw random captions when not): 3 prompts × 2 seeds × 12 steps, image steps
/// of solid colours, captions whose 16-d "embeddings" start near their prompt's centre and drift
/// towards a shared one, so HDBSCAN finds prompt clusters and an attractor. Clustered and laid
/// out by t-SNE (seeded), so every snapshot of it is the same.
fn deterministic_explorer_fixture(
    options: &AppOptions,
    runs_per_prompt: i64,
    project: bool,
) -> String {
    use panic_tda::models::Output;
    use panic_tda::store::{
        EmbeddingRecord, ExperimentRecord, ExperimentStatus, InvocationRecord, RunRecord,
        StepWrite, StopReason,
    };
    let mut store = panic_tda::store::Store::open(&options.database).expect("store");
    let experiment = "0190f0000000700080000000000e0001".to_owned();
    let prompts = ["a cat", "a dog", "a fish"];
    let seeds: Vec<i64> = (1..=runs_per_prompt).collect();
    let steps = 12u32;
    let network = vec!["DummyT2I".to_owned(), "DummyI2T".to_owned()];
    let config = serde_json::json!({
        "networks": [network], "prompts": prompts, "seeds": seeds,
        "embedding_models": ["DummyText"], "max_length": steps, "image_size": 32
    });
    let t0 = 1_750_000_000_000_000i64;
    store
        .insert_experiment(&ExperimentRecord {
            id: experiment.clone(),
            config_json: config.to_string(),
            created_at: t0,
            started_at: Some(t0),
            completed_at: Some(t0 + 60_000_000),
            status: ExperimentStatus::Completed,
        })
        .expect("experiment");
    let mut runs = Vec::new();
    for (p, prompt) in prompts.iter().enumerate() {
        for (s, seed) in seeds.iter().enumerate() {
            runs.push(RunRecord {
                id: format!("0190f00000007000800000000000{p}{s}aa"),
                experiment_id: experiment.clone(),
                network_index: 0,
                network: network.clone(),
                prompt_index: p as u32,
                initial_prompt: (*prompt).to_owned(),
                seed_index: s as u32,
                seed: *seed,
                max_length: steps,
                stop: None,
            });
        }
    }
    store.insert_runs(&runs).expect("runs");
    let mut embeddings = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        let p = r / seeds.len();
        let mut step = StepWrite::default();
        for n in 0..steps {
            let id = format!("{}{n:04x}", run.id);
            let started = t0 + i64::from(n) * 1_000_000 + r as i64 * 10_000;
            let output = if n % 2 == 0 {
                let shade = (40 + 60 * p as u32 + 10 * n) as u8;
                Output::Image(image::RgbImage::from_pixel(
                    32,
                    32,
                    image::Rgb([shade, 255 - shade, (90 + 25 * run.seed) as u8]),
                ))
            } else {
                Output::Text(format!("{} drifting, step {n}", run.initial_prompt))
            };
            step.invocations.push(InvocationRecord {
                id: id.clone(),
                run_id: run.id.clone(),
                sequence_number: n,
                model: network[(n % 2) as usize].clone(),
                input_invocation_id: (n > 0).then(|| format!("{}{:04x}", run.id, n - 1)),
                seed: run.seed,
                output,
                batch_size: 1,
                started_at: started,
                completed_at: started + 2_500 + 500 * i64::from(n % 2),
            });
            if n % 2 == 1 {
                // Drift from the prompt's centre (early steps) to a shared attractor (late ones).
                let weight = (n as f32 / steps as f32).powi(2);
                let vector: Vec<f32> = (0..16)
                    .map(|d| {
                        let own = if d % 3 == p { 1.0 } else { 0.0 };
                        let shared = if d == 15 { 1.0 } else { 0.0 };
                        let wobble = 0.04 * ((d as f32 + n as f32 * 1.7 + r as f32 * 2.3).sin());
                        (1.0 - weight) * own + weight * shared + wobble
                    })
                    .collect();
                embeddings.push(EmbeddingRecord {
                    id: format!("{id}e"),
                    invocation_id: id,
                    embedding_model: "DummyText".into(),
                    vector,
                    started_at: started,
                    completed_at: started + 100,
                });
            }
        }
        step.stops.push((run.id.clone(), StopReason::Length));
        store.commit_step(&step).expect("invocations");
    }
    store.insert_embeddings(&embeddings).expect("embeddings");
    let control = panic_tda::analysis::hdbscan::Control::new(None, None);
    panic_tda::analysis::clustering::run_clustering(
        &mut store,
        &panic_tda::analysis::clustering::ClusterRequest {
            min_cluster_size: Some(3),
            min_samples: Some(2),
            ..Default::default()
        },
        &control,
    )
    .expect("cluster");
    if !project {
        return experiment;
    }
    let scope = panic_tda::analysis::projection::ProjectionScope::for_experiments(
        &store,
        std::slice::from_ref(&experiment),
    )
    .expect("scope");
    let params = panic_tda::analysis::tsne::TsneParams {
        perplexity: 8.0,
        ..Default::default()
    };
    panic_tda::analysis::projection::compute(
        &mut store,
        "DummyText",
        &scope,
        &params,
        &std::sync::atomic::AtomicBool::new(false),
        0,
        |_| {},
    )
    .expect("projection");
    experiment
}

fn explorer_harness(name: &str) -> Harness<'static, PanicApp> {
    let options = options(name);
    deterministic_explorer_fixture(&options, 2, true);
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1100.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Explorer").click();
    // The map is read off the UI thread; the app is woken when it arrives.
    wait_until(&mut harness, "the map", |app| {
        app.explorer_indicator().is_some()
    });
    assert!(
        harness
            .query_by_label_contains("t-SNE of 36 DummyText embeddings")
            .is_some()
    );
    harness
}

#[test]
fn the_explorer_map_and_trajectory_snapshots() {
    let mut harness = explorer_harness("explorer-snapshots");
    harness.snapshot("explorer_map");
    for _ in 0..3 {
        harness
            .get_by_role_and_label(egui::accesskit::Role::Slider, "Step")
            .focus();
        harness.key_press(egui::Key::ArrowRight);
        harness.run();
    }
    let (sequence, _) = harness.state().explorer_indicator().expect("an indicator");
    assert_eq!(
        sequence, 7,
        "the fourth embedded step is the caption at step 7"
    );
    harness.snapshot("explorer_trajectory");
}

#[test]
fn runs_can_be_compared_on_the_map() {
    let mut harness = explorer_harness("explorer-compare");
    assert_eq!(harness.state().explorer_compared_runs(), 0);
    // Tick two other runs: both are drawn with the selected one, at the same step.
    // Runs are listed in config order: two of "a cat", then two of "a dog".
    harness.get_by_label("Compare run 3").click();
    harness.run();
    harness.get_by_label("Compare run 4").click();
    harness.run();
    assert_eq!(harness.state().explorer_compared_runs(), 2);
    harness.state_mut().explorer_set_step(3);
    harness.run();
    harness.snapshot("explorer_compare");
    // Filtering a compared run away drops it from the comparison.
    harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Prompt")
        .click();
    harness.run();
    harness.get_by_label("a cat").click();
    harness.run();
    assert_eq!(harness.state().explorer_compared_runs(), 0);
}

#[test]
fn save_figure_writes_what_the_explorer_shows() {
    let mut harness = explorer_harness("explorer-figure");
    harness.state_mut().explorer_set_step(2);
    harness.run();
    harness.get_by_label("Save figure…").click();
    harness.run();
    let root = std::env::temp_dir().join("panic-tda-gui-test-explorer-figure");
    // The default name is a PNG beside the database.
    let default = harness
        .get_by_label("Figure file (.png, .svg or .pdf)")
        .value()
        .expect("a default file");
    assert!(default.ends_with(".png"), "{default}");
    assert!(default.starts_with(&root.join("figures").display().to_string()));
    let path = root.join("figures").join("map.pdf");
    let field = harness.get_by_label("Figure file (.png, .svg or .pdf)");
    field.focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Figure file (.png, .svg or .pdf)")
        .type_text(&path.display().to_string());
    harness.run();
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the figure to be saved", |app| {
        app.explorer_figure_message().is_some()
    });
    let (ok, message) = harness.state().explorer_figure_message().expect("message");
    assert!(ok, "{message}");
    assert!(message.contains("map.pdf"), "{message}");
    let pdf = std::fs::read(&path).expect("the PDF");
    assert!(pdf.starts_with(b"%PDF") && pdf.len() > 5_000);

    // A name without a known extension is refused, and says why.
    let field = harness.get_by_label("Figure file (.png, .svg or .pdf)");
    field.focus();
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness
        .get_by_label("Figure file (.png, .svg or .pdf)")
        .type_text("figure.gif");
    harness.run();
    harness.get_by_label("Save").click();
    wait_until(&mut harness, "the refusal", |app| {
        app.explorer_figure_message().is_some_and(|(ok, _)| !ok)
    });
    let (_, message) = harness.state().explorer_figure_message().expect("message");
    assert!(message.contains(".pdf"), "{message}");
}

#[test]
fn the_explorer_filters_by_prompt_and_network() {
    let mut harness = explorer_harness("explorer-filters");
    assert_eq!(harness.query_all_by_label_contains("a cat · ").count(), 2);
    harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Prompt")
        .click();
    harness.run();
    harness.get_by_label("a dog").click();
    harness.run();
    // Only the two "a dog" runs are listed, and the first of them is selected.
    assert_eq!(harness.query_all_by_label_contains("a cat · ").count(), 0);
    assert_eq!(harness.query_all_by_label_contains("a fish · ").count(), 0);
    assert_eq!(
        harness
            .query_all_by_label_contains("a dog · DummyT2I → DummyI2T · seed")
            .count(),
        2
    );
    let (sequence, _) = harness.state().explorer_indicator().expect("an indicator");
    assert_eq!(sequence, 1);
    harness.snapshot("explorer_filtered");
    // The network filter lists the one network; choosing it keeps the same runs.
    harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Network")
        .click();
    harness.run();
    harness
        .get_all_by_label("DummyT2I → DummyI2T")
        .last()
        .expect("the network option")
        .click();
    harness.run();
    assert_eq!(
        harness
            .query_all_by_label_contains("a dog · DummyT2I → DummyI2T · seed")
            .count(),
        2
    );
    // No clustering: the points are not clustered any more.
    harness
        .get_by_role_and_label(egui::accesskit::Role::ComboBox, "Clustering")
        .click();
    harness.run();
    harness.get_by_label("none").click();
    // The map is read again without the clustering, in the background.
    wait_until(&mut harness, "the unclustered map", |app| {
        app.explorer_indicator()
            .is_some_and(|(_, name)| name == "not clustered")
    });
}

#[test]
fn the_explorer_inspector_shows_a_step_and_walks_the_run() {
    let mut harness = explorer_harness("explorer-inspector");
    harness.get_by_label("Inspect").click();
    // The run is read off the UI thread; the app is woken when it arrives.
    // The first run's first caption: its input is the image of step 0, its model the captioner.
    wait_for_label(&mut harness, "a cat · step 1 of 11", "the inspector");
    harness.run();
    assert!(
        harness
            .query_by_label_contains("Model: DummyI2T · seed 1")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("Took 3.0 ms (batch of 1)")
            .is_some()
    );
    // The caption shows under the indicator and as the inspected output.
    assert_eq!(
        harness.query_all_by_label("a cat drifting, step 1").count(),
        2
    );
    harness.snapshot("explorer_inspector");
    harness.get_by_label("← Previous step").click();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("a cat · step 0 of 11")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("Model: DummyT2I · seed 1")
            .is_some()
    );
    assert!(harness.query_by_label_contains("Took 2.5 ms").is_some());
    for _ in 0..3 {
        harness.get_by_label("Next step →").click();
        harness.run();
    }
    // Step 3 is a caption plotted as the run's second point: the slider follows.
    assert!(
        harness
            .query_by_label_contains("a cat · step 3 of 11")
            .is_some()
    );
    let (sequence, _) = harness.state().explorer_indicator().expect("an indicator");
    assert_eq!(sequence, 3);
    harness.get_by_label("Close inspector").click();
    harness.run();
    assert!(harness.query_by_label_contains("Model: ").is_none());
}

#[test]
fn without_wgpu_the_explorer_draws_its_points_with_egui() {
    // No render state: the fallback path (egui_plot points) must show the same panel.
    let options = options("explorer-fallback");
    deterministic_explorer_fixture(&options, 2, true);
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1100.0, 700.0))
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Explorer").click();
    // The map is read off the UI thread; the app is woken when it arrives.
    wait_until(&mut harness, "the map", |app| {
        app.explorer_indicator().is_some()
    });
    assert!(
        harness
            .query_by_label_contains("t-SNE of 36 DummyText embeddings")
            .is_some()
    );
    let (sequence, name) = harness.state().explorer_indicator().expect("an indicator");
    assert_eq!((sequence, name.as_str()), (1, "a cat drifting, step 7"));
}

#[test]
fn the_explorer_computes_a_layout_showing_it_as_it_forms() {
    let options = options("explorer-compute");
    // 6 runs per prompt: 108 captions, enough for the default perplexity of 30.
    deterministic_explorer_fixture(&options, 6, false);
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1100.0, 700.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.get_by_label("Explorer").click();
    harness.run();
    harness.get_by_label("Compute t-SNE").click();
    // Intermediate layouts are drawn (GPU points) while the thread runs; a progress bar spins.
    harness.run_steps(3);
    harness.render().expect("a frame with the live layout");
    wait_for_label(&mut harness, "t-SNE of 108 DummyText embeddings", "t-SNE");
    wait_until(&mut harness, "the new map", |app| {
        app.explorer_indicator().is_some()
    });
}

#[test]
fn hovering_a_point_shows_its_caption_and_image_and_clicking_inspects_it() {
    let mut harness = explorer_harness("explorer-hover");
    // The first run's last caption (its sixth text step), where its trajectory ends.
    let point = harness
        .state()
        .explorer_point_position(0, 5)
        .expect("the map was drawn");
    harness.hover_at(point);
    harness.run();
    assert!(harness.query_by_label_contains("a cat · step 11").is_some());
    assert!(
        harness
            .query_by_label("cluster: a cat drifting, step 7")
            .is_some()
    );
    harness.snapshot("explorer_hover");
    harness.event(egui::Event::PointerButton {
        pos: point,
        button: egui::PointerButton::Primary,
        pressed: true,
        modifiers: egui::Modifiers::NONE,
    });
    harness.event(egui::Event::PointerButton {
        pos: point,
        button: egui::PointerButton::Primary,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    harness.run();
    // The click selects the run and step and opens the inspector on that invocation.
    let (sequence, _) = harness.state().explorer_indicator().expect("an indicator");
    assert_eq!(sequence, 11);
    wait_for_label(&mut harness, "a cat · step 11 of 11", "the inspector");
    harness.run();
    assert!(
        harness
            .query_by_label_contains("Model: DummyI2T · seed 1")
            .is_some()
    );
}

#[test]
fn next_step_buttons_lead_a_newcomer_from_a_finished_run_to_the_video() {
    // A short run to completion: the monitor offers clustering next.
    let options = options("next-steps-monitor");
    create_experiment(
        &options,
        r#"{"networks": [["DummyT2I", "DummyI2T"]], "prompts": ["a"], "num_runs": 1,
                "embedding_models": ["DummyText"], "max_length": 4, "image_size": 16}"#,
    );
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1000.0, 640.0))
        .wgpu()
        .build_eframe(move |cc| PanicApp::new(cc, options));
    harness.run();
    harness.get_by_label("Resume").click();
    harness.run_steps(2);
    step_until(&mut harness, "the run to finish", |harness| {
        harness
            .state()
            .job_progress()
            .is_some_and(|(_, _, finished)| finished)
    });
    harness.run();
    harness.get_by_label("Next: cluster the outputs →").click();
    harness.run();
    assert_eq!(harness.state().section(), Section::Clusters);

    // On a clustered map the explorer leads on to the charts and the video of that experiment.
    let mut harness = explorer_harness("next-steps-explorer");
    harness.get_by_label("Next: an annotated video →").click();
    harness.run();
    assert_eq!(harness.state().section(), Section::Export);
    assert_eq!(
        harness.state().export_experiment(),
        Some("0190f0000000700080000000000e0001"),
        "the export panel is on the explored experiment"
    );
    harness.get_by_label("Explorer").click();
    harness.run();
    harness
        .get_by_label("Next: charts of this experiment →")
        .click();
    harness.run();
    assert_eq!(harness.state().section(), Section::Analyses);
}
