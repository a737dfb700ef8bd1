//! Tensors as small heatmaps (blue negative, red positive, white zero); the cell under the
//! mouse shows its exact number and index.

use egui::{Color32, Rect, Sense, Ui, Vec2};

use crate::graph::{Array, fmt_number};

const CELL: f32 = 14.0;
/// Larger tensors are not drawn cell by cell.
const MAX_CELLS: usize = 4096;

fn color(v: f64, scale: f64) -> Color32 {
    if !v.is_finite() {
        return Color32::from_rgb(255, 0, 255);
    }
    let t = (v / scale).clamp(-1.0, 1.0) as f32;
    let fade = |c: u8, t: f32| (255.0 - (255.0 - c as f32) * t) as u8;
    if t >= 0.0 {
        Color32::from_rgb(fade(220, t), fade(60, t), fade(50, t))
    } else {
        Color32::from_rgb(fade(50, -t), fade(110, -t), fade(220, -t))
    }
}

/// Draws `a` as rows x columns (a vector is one row; 3-D tensors one map per channel).
pub fn heatmap_ui(ui: &mut Ui, a: &Array) {
    if a.len() > MAX_CELLS || a.is_empty() {
        ui.weak(format!("{} values: too many to draw", a.len()));
        return;
    }
    let scale = a
        .data()
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    let (channels, rows, cols) = match a.shape() {
        [] => (1, 1, 1),
        [n] => (1, 1, *n),
        [r, c] => (1, *r, *c),
        [ch, r, c] => (*ch, *r, *c),
        _ => (1, 1, a.len()),
    };
    for ch in 0..channels {
        if channels > 1 {
            ui.label(format!("channel {ch}"));
        }
        let (rect, resp) = ui.allocate_exact_size(
            Vec2::new(cols as f32 * CELL, rows as f32 * CELL),
            Sense::hover(),
        );
        let painter = ui.painter_at(rect);
        for r in 0..rows {
            for c in 0..cols {
                let i = (ch * rows + r) * cols + c;
                let cell = Rect::from_min_size(
                    rect.min + Vec2::new(c as f32 * CELL, r as f32 * CELL),
                    Vec2::splat(CELL - 1.0),
                );
                painter.rect_filled(cell, 1.0, color(a.data()[i], scale));
            }
        }
        if let Some(pos) = resp.hover_pos() {
            let c = (((pos.x - rect.min.x) / CELL) as usize).min(cols - 1);
            let r = (((pos.y - rect.min.y) / CELL) as usize).min(rows - 1);
            let i = (ch * rows + r) * cols + c;
            let index = match a.shape().len() {
                0 => String::new(),
                1 => format!("[{c}]"),
                2 => format!("[{r}, {c}]"),
                _ => format!("[{ch}, {r}, {c}]"),
            };
            resp.on_hover_text(format!("{index} = {}", fmt_number(a.data()[i])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_colours() {
        assert_eq!(color(0.0, 1.0), Color32::WHITE);
        assert_eq!(color(1.0, 1.0), Color32::from_rgb(220, 60, 50));
        assert_eq!(color(-2.0, 1.0), Color32::from_rgb(50, 110, 220));
        assert_eq!(color(f64::NAN, 1.0), Color32::from_rgb(255, 0, 255));
    }
}
