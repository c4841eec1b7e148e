// Scatter points as instanced quads: each instance is one point (data position + colour), each
// quad is two triangles whose fragments outside the unit circle are dropped, so a point costs six
// vertices whatever its size. The uniform maps data coordinates onto the callback's viewport.

struct View {
    // Data → clip space: clip = data * scale + offset.
    scale: vec2<f32>,
    offset: vec2<f32>,
    // Point radius in clip units (x and y differ when the viewport is not square).
    radius: vec2<f32>,
    // Multiplies every point's alpha (points fade behind a selected trajectory).
    alpha: f32,
    // 1 when the target is an sRGB format and expects linear colour, 0 when it takes gamma.
    linear_target: f32,
};

@group(0) @binding(0) var<uniform> view: View;

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) colour: vec4<f32>,
};

@vertex
fn vs_main(
    @builtin(vertex_index) vertex: u32,
    @location(0) point: vec2<f32>,
    @location(1) colour: vec4<f32>,
) -> VertexOut {
    var corners = array<vec2<f32>, 6>(
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, -1.0), vec2<f32>(1.0, 1.0),
        vec2<f32>(-1.0, -1.0), vec2<f32>(1.0, 1.0), vec2<f32>(-1.0, 1.0),
    );
    let corner = corners[vertex];
    var out: VertexOut;
    out.position = vec4<f32>(point * view.scale + view.offset + corner * view.radius, 0.0, 1.0);
    out.corner = corner;
    out.colour = colour;
    return out;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let distance = length(in.corner);
    // About one pixel of soft edge, like egui's feathering.
    let edge = max(fwidth(distance), 1e-4);
    let coverage = clamp((1.0 - distance) / edge + 0.5, 0.0, 1.0);
    if coverage <= 0.0 {
        discard;
    }
    var rgb = in.colour.rgb;
    if view.linear_target > 0.5 {
        rgb = srgb_to_linear(rgb);
    }
    let alpha = in.colour.a * view.alpha * coverage;
    // egui blends premultiplied alpha.
    return vec4<f32>(rgb * alpha, alpha);
}
