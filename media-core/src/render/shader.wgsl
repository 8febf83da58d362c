// I420 -> RGB (BT.601, limited range), fitted per view mode, optionally mirrored.
//
// One full-screen triangle; the fragment shader maps each output pixel to a
// texture coordinate: uv = (out_uv - 0.5) * uv_scale + 0.5. Outside [0, 1]
// is the black letterbox.

struct Params {
    uv_scale: vec2<f32>,
    out_size: vec2<f32>,
    // 1.0: flip horizontally.
    mirror: f32,
    // 1.0: the target is an sRGB format that encodes on write, so undo it.
    srgb_target: f32,
    _pad: vec2<f32>,
};

@group(0) @binding(0) var tex_y: texture_2d<f32>;
@group(0) @binding(1) var tex_u: texture_2d<f32>;
@group(0) @binding(2) var tex_v: texture_2d<f32>;
@group(0) @binding(3) var samp: sampler;
@group(0) @binding(4) var<uniform> params: Params;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // (-1,-1), (3,-1), (-1,3): covers the whole target.
    let x = f32(i32(i & 1u) * 4 - 1);
    let y = f32(i32(i >> 1u) * 4 - 1);
    return vec4<f32>(x, y, 0.0, 1.0);
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    // Framebuffer coordinates: origin top-left, like the texture's.
    let out_uv = pos.xy / params.out_size;
    var uv = (out_uv - vec2<f32>(0.5)) * params.uv_scale + vec2<f32>(0.5);
    if (any(uv < vec2<f32>(0.0)) || any(uv > vec2<f32>(1.0))) {
        return vec4<f32>(0.0, 0.0, 0.0, 1.0);
    }
    if (params.mirror > 0.5) {
        uv.x = 1.0 - uv.x;
    }
    let y = textureSampleLevel(tex_y, samp, uv, 0.0).r;
    let u = textureSampleLevel(tex_u, samp, uv, 0.0).r - 128.0 / 255.0;
    let v = textureSampleLevel(tex_v, samp, uv, 0.0).r - 128.0 / 255.0;
    let l = 1.164383 * (y - 16.0 / 255.0);
    var rgb = clamp(vec3<f32>(
        l + 1.596027 * v,
        l - 0.391762 * u - 0.812968 * v,
        l + 2.017232 * u,
    ), vec3<f32>(0.0), vec3<f32>(1.0));
    if (params.srgb_target > 0.5) {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
