//! Class colours and grey image cells, shared by the data preview, the boundary view and
//! the confusion matrix.

use egui::{Color32, Ui};

/// A class's colour in plots.
pub fn class_color(c: usize) -> Color32 {
    const C: [Color32; 10] = [
        Color32::from_rgb(66, 133, 244),
        Color32::from_rgb(244, 160, 0),
        Color32::from_rgb(52, 168, 83),
        Color32::from_rgb(234, 67, 53),
        Color32::from_rgb(155, 89, 182),
        Color32::from_rgb(26, 188, 156),
        Color32::from_rgb(241, 196, 15),
        Color32::from_rgb(149, 165, 166),
        Color32::from_rgb(230, 126, 34),
        Color32::from_rgb(52, 73, 94),
    ];
    C[c % C.len()]
}

/// One grey image of `h` x `w` values, scaled to its own range, `size` points wide.
pub fn image_cell(ui: &mut Ui, s: &[f32], h: usize, w: usize, size: f32) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let px = size / w.max(h).max(1) as f32;
    let (lo, hi) = s
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    for y in 0..h {
        for x in 0..w {
            let Some(&v) = s.get(y * w + x) else {
                return resp;
            };
            let v = ((v - lo) / (hi - lo).max(1e-6)).clamp(0.0, 1.0);
            let r = egui::Rect::from_min_size(
                rect.min + egui::vec2(x as f32 * px, y as f32 * px),
                egui::vec2(px, px),
            );
            painter.rect_filled(r, 0.0, Color32::from_gray((v * 255.0) as u8));
        }
    }
    resp
}
