//! Scatter points drawn on the GPU: one instanced quad per point (shaders/points.wgsl) through an
//! egui paint callback, so 100k points cost one draw call instead of 100k tessellated circles.
//! The points are uploaded once per [`PointCloud`]; each frame only the small view uniform
//! (the plot's data → screen transform) changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eframe::egui;
use eframe::egui_wgpu;
use wgpu::util::DeviceExt;

/// Bytes per instance: x, y as f32 and an sRGBA colour as four bytes.
const INSTANCE_BYTES: u64 = 12;
const VIEW_BYTES: u64 = 32;

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Points ready for upload: positions in data coordinates and colours, with an identity that
/// tells the renderer whether its buffer already holds them.
#[derive(Clone)]
pub struct PointCloud {
    generation: u64,
    bytes: Arc<Vec<u8>>,
    count: u32,
}

impl PointCloud {
    pub fn new(points: impl IntoIterator<Item = ([f32; 2], egui::Color32)>) -> Self {
        let mut bytes = Vec::new();
        let mut count = 0u32;
        for ([x, y], colour) in points {
            bytes.extend_from_slice(&x.to_ne_bytes());
            bytes.extend_from_slice(&y.to_ne_bytes());
            bytes.extend_from_slice(&colour.to_srgba_unmultiplied());
            count += 1;
        }
        Self {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            bytes: Arc::new(bytes),
            count,
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The GPU side, kept in egui_wgpu's callback resources. One set of points and one view at a
/// time: the explorer shows a single scatter per frame.
struct PointRenderer {
    pipeline: wgpu::RenderPipeline,
    view_buffer: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    linear_target: bool,
    instances: Option<(u64, wgpu::Buffer, u32)>,
}

/// Creates the pipeline for the app's render target. Call once with the eframe render state;
/// without it (no wgpu renderer) the explorer draws points as egui shapes instead.
pub fn install(render_state: &egui_wgpu::RenderState) {
    let device = &render_state.device;
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("panic-tda points"),
        source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/points.wgsl").into()),
    });
    let view_buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("panic-tda points view"),
        size: VIEW_BYTES,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("panic-tda points view"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: std::num::NonZeroU64::new(VIEW_BYTES),
            },
            count: None,
        }],
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("panic-tda points view"),
        layout: &layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: view_buffer.as_entire_binding(),
        }],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("panic-tda points"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let target = render_state.target_format;
    let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("panic-tda points"),
        layout: Some(&pipeline_layout),
        vertex: wgpu::VertexState {
            module: &module,
            entry_point: Some("vs_main"),
            buffers: &[Some(wgpu::VertexBufferLayout {
                array_stride: INSTANCE_BYTES,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &wgpu::vertex_attr_array![0 => Float32x2, 1 => Unorm8x4],
            })],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        },
        primitive: wgpu::PrimitiveState::default(),
        // The app and the test harness both render egui without depth buffer or MSAA.
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: &module,
            entry_point: Some("fs_main"),
            targets: &[Some(wgpu::ColorTargetState {
                format: target,
                blend: Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: wgpu::PipelineCompilationOptions::default(),
        }),
        multiview_mask: None,
        cache: None,
    });
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(PointRenderer {
            pipeline,
            view_buffer,
            bind_group,
            linear_target: target.is_srgb(),
            instances: None,
        });
}

struct PointsCallback {
    cloud: PointCloud,
    /// Data → clip: scale, offset; radius in clip units; alpha.
    scale: [f32; 2],
    offset: [f32; 2],
    radius: [f32; 2],
    alpha: f32,
}

impl egui_wgpu::CallbackTrait for PointsCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen_descriptor: &egui_wgpu::ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(renderer) = resources.get_mut::<PointRenderer>() else {
            return Vec::new();
        };
        let uploaded = renderer
            .instances
            .as_ref()
            .is_some_and(|(generation, _, _)| *generation == self.cloud.generation);
        if !uploaded && !self.cloud.is_empty() {
            let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("panic-tda points"),
                contents: &self.cloud.bytes,
                usage: wgpu::BufferUsages::VERTEX,
            });
            renderer.instances = Some((self.cloud.generation, buffer, self.cloud.count));
        }
        let linear = if renderer.linear_target { 1.0f32 } else { 0.0 };
        let view = [
            self.scale[0],
            self.scale[1],
            self.offset[0],
            self.offset[1],
            self.radius[0],
            self.radius[1],
            self.alpha,
            linear,
        ];
        let bytes: Vec<u8> = view.iter().flat_map(|value| value.to_ne_bytes()).collect();
        queue.write_buffer(&renderer.view_buffer, 0, &bytes);
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(renderer) = resources.get::<PointRenderer>() else {
            return;
        };
        let Some((generation, buffer, count)) = &renderer.instances else {
            return;
        };
        if *generation != self.cloud.generation {
            return;
        }
        render_pass.set_pipeline(&renderer.pipeline);
        render_pass.set_bind_group(0, &renderer.bind_group, &[]);
        render_pass.set_vertex_buffer(0, buffer.slice(..));
        render_pass.draw(0..6, 0..*count);
    }
}

/// A paint callback drawing `cloud` into `rect`, where `rect` shows the data range
/// `min`..`max` (y up), each point a disc of `radius` points.
pub fn paint_callback(
    cloud: &PointCloud,
    rect: egui::Rect,
    min: [f64; 2],
    max: [f64; 2],
    radius: f32,
    alpha: f32,
) -> egui::PaintCallback {
    let width = (max[0] - min[0]).max(f64::EPSILON);
    let height = (max[1] - min[1]).max(f64::EPSILON);
    let scale = [(2.0 / width) as f32, (2.0 / height) as f32];
    let offset = [
        (-1.0 - min[0] * 2.0 / width) as f32,
        (-1.0 - min[1] * 2.0 / height) as f32,
    ];
    let radius = [
        2.0 * radius / rect.width().max(1.0),
        2.0 * radius / rect.height().max(1.0),
    ];
    egui_wgpu::Callback::new_paint_callback(
        rect,
        PointsCallback {
            cloud: cloud.clone(),
            scale,
            offset,
            radius,
            alpha,
        },
    )
}

/// Draws `cloud` over a plot's frame with the plot's current transform.
pub fn paint_in_plot(
    painter: &egui::Painter,
    transform: &egui_plot::PlotTransform,
    cloud: &PointCloud,
    radius: f32,
    alpha: f32,
) {
    let bounds = transform.bounds();
    painter.add(paint_callback(
        cloud,
        *transform.frame(),
        bounds.min(),
        bounds.max(),
        radius,
        alpha,
    ));
}
