//! Tensors as small heatmaps (blue negative, red positive, white zero); the cell under the
//! mouse shows its exact number and index.

use egui::{Color32, Rect, Sense, Ui, Vec2};

use crate::graph::{Array, fmt_number};

const CELL: f32 = 14.0;
/// Larger tensors are not drawn cell by cell.
const MAX_CELLS: usize = 16_384;

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

/// Draws `a` as rows x columns: a vector is one row, a matrix one map, a 3-D tensor one map
/// per channel (a conv layer's feature maps), a 4-D tensor one map per filter and input
/// channel (a conv layer's kernels). Maps wrap in a grid; big ones get smaller cells.
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
    let (maps, rows, cols) = match a.shape() {
        [] => (1, 1, 1),
        [n] => (1, 1, *n),
        [r, c] => (1, *r, *c),
        [ch, r, c] => (*ch, *r, *c),
        [f, ch, r, c] => (f * ch, *r, *c),
        _ => (1, 1, a.len()),
    };
    let shape = a.shape().to_vec();
    let label = |m: usize| match shape.as_slice() {
        [_, _, _] => format!("channel {m}"),
        [_, ch, _, _] => format!("filter {} · in {}", m / ch, m % ch),
        _ => String::new(),
    };
    let cell = if maps > 1 {
        (96.0 / rows.max(cols) as f32).clamp(3.0, CELL)
    } else {
        // A long vector shrinks its cells to fit the panel rather than widen it.
        (ui.available_width().max(60.0) / cols as f32).clamp(2.0, CELL)
    };
    let draw = |ui: &mut Ui, m: usize| {
        let (rect, resp) = ui.allocate_exact_size(
            Vec2::new(cols as f32 * cell, rows as f32 * cell),
            Sense::hover(),
        );
        let painter = ui.painter_at(rect);
        let gap = if cell >= 6.0 { 1.0 } else { 0.0 };
        for r in 0..rows {
            for c in 0..cols {
                let i = (m * rows + r) * cols + c;
                let cell_rect = Rect::from_min_size(
                    rect.min + Vec2::new(c as f32 * cell, r as f32 * cell),
                    Vec2::splat(cell - gap),
                );
                painter.rect_filled(
                    cell_rect,
                    if gap > 0.0 { 1.0 } else { 0.0 },
                    color(a.data()[i], scale),
                );
            }
        }
        if let Some(pos) = resp.hover_pos() {
            let c = (((pos.x - rect.min.x) / cell) as usize).min(cols - 1);
            let r = (((pos.y - rect.min.y) / cell) as usize).min(rows - 1);
            let i = (m * rows + r) * cols + c;
            let index = match shape.as_slice() {
                [] => String::new(),
                [_] => format!("[{c}]"),
                [_, _] => format!("[{r}, {c}]"),
                [_, _, _] => format!("[{m}, {r}, {c}]"),
                [_, ch, _, _] => format!("[{}, {}, {r}, {c}]", m / ch, m % ch),
                _ => format!("[{i}]"),
            };
            resp.on_hover_text(format!("{index} = {}", fmt_number(a.data()[i])));
        }
    };
    if maps == 1 {
        draw(ui, 0);
        return;
    }
    ui.horizontal_wrapped(|ui| {
        // Wrap at the panel's width (never widen it), and at most ~4 maps a row.
        ui.set_max_width(ui.available_width().min(4.0 * (cols as f32 * cell + 12.0)));
        for m in 0..maps {
            ui.vertical(|ui| {
                ui.small(label(m));
                draw(ui, m);
            });
        }
    });
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
