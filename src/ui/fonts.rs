//! Fonts: egui's defaults (Ubuntu Light, Hack, two emoji fonts) lack some glyphs the app
//! draws (the arrows of "true → predicted" and "lhs ← 3.0", the ✘ of a wrong quiz answer),
//! which would show as boxes. A subset of DejaVu Sans (arrows, math operators, Greek,
//! technical and geometric symbols, dingbats; see `assets/fonts/README.md`) is installed as
//! the last fallback of both families, so it only draws what the defaults cannot.

use egui::epaint::text::{FontInsert, FontPriority, InsertFontFamily};
use egui::{FontData, FontFamily};

/// The fallback font's name in egui's font definitions.
pub const FALLBACK: &str = "DejaVuSans-symbols";

static DEJAVU_SYMBOLS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-symbols.ttf");

/// Adds the fallback font to both text families (it takes effect from the next pass).
pub fn install(ctx: &egui::Context) {
    ctx.add_font(FontInsert::new(
        FALLBACK,
        FontData::from_static(DEJAVU_SYMBOLS),
        [FontFamily::Proportional, FontFamily::Monospace]
            .into_iter()
            .map(|family| InsertFontFamily {
                family,
                priority: FontPriority::Lowest,
            })
            .collect(),
    ));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use egui::{FontFamily, FontId};

    /// Every non-ASCII character outside comments in the `.rs` files under `dir`, with the
    /// first file that uses it.
    fn drawn_chars(dir: &Path, out: &mut BTreeMap<char, String>) {
        for entry in std::fs::read_dir(dir).expect("read src/") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                drawn_chars(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read a source file");
                for line in text.lines() {
                    if line.trim_start().starts_with("//") {
                        continue;
                    }
                    for c in line.chars().filter(|c| !c.is_ascii()) {
                        out.entry(c).or_insert_with(|| path.display().to_string());
                    }
                }
            }
        }
    }

    /// One pass with nothing drawn; its font-atlas upload is dropped (no renderer here).
    fn run(ctx: &egui::Context) {
        let mut out = ctx.run_ui(egui::RawInput::default(), |_| {});
        out.textures_delta.clear();
    }

    /// Whether a face of `font`'s family has `c`. (`has_glyph` says no for every character
    /// of the face that also holds the replacement glyph, Hack or Noto Emoji; the width of a
    /// character no face has is 0.)
    fn covered(f: &mut egui::epaint::text::FontsView<'_>, font: &FontId, c: char) -> bool {
        f.glyph_width(font, c) > 0.0
    }

    fn context_with_fonts() -> egui::Context {
        let ctx = egui::Context::default();
        super::install(&ctx);
        // Fonts exist (and added ones take effect) only after a pass has run.
        for _ in 0..2 {
            run(&ctx);
        }
        ctx
    }

    #[test]
    fn every_glyph_the_app_draws_is_in_the_installed_fonts() {
        let mut chars = BTreeMap::new();
        drawn_chars(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut chars,
        );
        // The lecture's notation, whether or not a source line uses it yet.
        for c in "→←↔↑↓∂·×≈≤≥Σσμ◎▶◀⏸⏭⏮⏹✔✘↺⟲⟳…—−".chars()
        {
            chars
                .entry(c)
                .or_insert_with(|| "the lecture's notation".into());
        }
        assert!(chars.contains_key(&'→'), "the scan finds the arrows");
        let ctx = context_with_fonts();
        let missing: Vec<String> = ctx.fonts_mut(|f| {
            [FontFamily::Proportional, FontFamily::Monospace]
                .into_iter()
                .flat_map(|family| {
                    let font = FontId::new(12.0, family.clone());
                    chars
                        .iter()
                        .filter(|(c, _)| !covered(f, &font, **c))
                        .map(|(c, file)| format!("{c} (U+{:04X}, {file}) in {family:?}", *c as u32))
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        assert!(missing.is_empty(), "no glyph for: {missing:#?}");
        // The check can fail: no installed font has Chinese.
        let body = FontId::proportional(12.0);
        assert!(!ctx.fonts_mut(|f| covered(f, &body, '\u{6F22}')));
    }

    #[test]
    fn the_defaults_alone_miss_the_arrows_the_fallback_adds() {
        // Without the fallback egui draws "→" as a box: this is why the font is shipped.
        let ctx = egui::Context::default();
        run(&ctx);
        let body = FontId::proportional(12.0);
        assert!(!ctx.fonts_mut(|f| covered(f, &body, '→')));
        assert!(!ctx.fonts_mut(|f| covered(f, &body, '✘')));
        let ctx = context_with_fonts();
        assert!(ctx.fonts_mut(|f| covered(f, &body, '→') && covered(f, &body, '✘')));
    }
}
