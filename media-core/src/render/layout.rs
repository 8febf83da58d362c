//! Where the picture lands in the output: the per-[`ViewMode`] scale from
//! output coordinates to texture coordinates.

use super::ViewMode;

/// The scale the fragment shader applies around the centre:
/// `uv = (out_uv - 0.5) * scale + 0.5`; texels outside `[0, 1]` are black
/// bars. A scale above 1 shrinks the picture (letterbox), below 1 crops it.
pub(crate) fn uv_scale(mode: ViewMode, video: (u32, u32), output: (u32, u32)) -> [f32; 2] {
    let aspect = |(w, h): (u32, u32)| f64::from(w.max(1)) / f64::from(h.max(1));
    // > 1: the output is wider than the video.
    let ratio = aspect(output) / aspect(video);
    let [x, y] = match mode {
        ViewMode::ScaleToFill => [1.0, 1.0],
        ViewMode::AspectFit if ratio >= 1.0 => [ratio, 1.0],
        ViewMode::AspectFit => [1.0, 1.0 / ratio],
        ViewMode::AspectFill if ratio >= 1.0 => [1.0, 1.0 / ratio],
        ViewMode::AspectFill => [ratio, 1.0],
    };
    [x as f32, y as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_letterboxes_and_fill_crops() {
        // 16:9 video in a 1:1 output.
        let fit = uv_scale(ViewMode::AspectFit, (160, 90), (100, 100));
        assert!((fit[0] - 1.0).abs() < 1e-6 && (fit[1] - 160.0 / 90.0).abs() < 1e-5);
        let fill = uv_scale(ViewMode::AspectFill, (160, 90), (100, 100));
        assert!((fill[0] - 90.0 / 160.0).abs() < 1e-6 && (fill[1] - 1.0).abs() < 1e-6);
        // 4:3 video in a 16:9 output: pillarbox.
        let fit = uv_scale(ViewMode::AspectFit, (640, 480), (1280, 720));
        assert!((fit[0] - (16.0 / 9.0) / (4.0 / 3.0)).abs() < 1e-5 && fit[1] == 1.0);
        assert_eq!(
            uv_scale(ViewMode::ScaleToFill, (640, 480), (10, 1000)),
            [1.0, 1.0]
        );
        assert_eq!(
            uv_scale(ViewMode::AspectFit, (640, 480), (320, 240)),
            [1.0, 1.0]
        );
    }
}
