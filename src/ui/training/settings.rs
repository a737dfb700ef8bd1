//! The Training panel's settings column: dataset, binding, optimizer and device, edited
//! on a copy of the project's `TrainingConfig`.

use egui::{Color32, Ui};

use crate::graph::{Graph, Op};
use crate::project::training::{DatasetSpec, Decay, DeviceChoice, OptimizerKind, TrainingConfig};

/// A first guess at the binding: the Input wired into a loss's second port is the target,
/// the first other Input the features.
pub fn guess_config(graph: &Graph) -> TrainingConfig {
    let inputs: Vec<&crate::graph::Node> = graph.nodes().filter(|n| n.op == Op::Input).collect();
    let target = graph
        .nodes()
        .filter(|n| n.op.is_loss())
        .find_map(|n| graph.input(n.id, 1))
        .and_then(|id| graph.node(id))
        .filter(|n| n.op == Op::Input)
        .map(|n| n.name.clone());
    let features = inputs
        .iter()
        .find(|n| Some(&n.name) != target.as_ref())
        .map(|n| n.name.clone())
        .unwrap_or_default();
    let ce = graph.nodes().any(|n| n.op == Op::CrossEntropy);
    let dataset = if ce {
        DatasetSpec::generated("Spiral")
    } else {
        DatasetSpec::generated("Xor")
    }
    .unwrap_or(DatasetSpec::Digits);
    TrainingConfig::new(dataset, &features, &target.unwrap_or_default())
}

/// The settings form; edits `cfg` in place.
pub fn settings_ui(ui: &mut Ui, graph: &Graph, cfg: &mut TrainingConfig) {
    egui::Grid::new("training-grid")
        .num_columns(2)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            ui.label("Dataset");
            egui::ComboBox::from_id_salt("dataset-kind")
                .selected_text(cfg.dataset.kind())
                .show_ui(ui, |ui| {
                    for kind in DatasetSpec::GENERATED.iter().chain(&["Digits"]) {
                        if ui
                            .selectable_label(cfg.dataset.kind() == *kind, *kind)
                            .clicked()
                        {
                            if let Some(spec) = DatasetSpec::generated(kind) {
                                cfg.dataset = spec;
                            }
                        }
                    }
                    if ui.selectable_label(false, "CSV file…").clicked() {
                        if let Some(path) = rfd::FileDialog::new()
                            .add_filter("CSV", &["csv"])
                            .pick_file()
                        {
                            cfg.dataset = DatasetSpec::Csv {
                                path: path.display().to_string(),
                                features: vec![],
                                label: "label".into(),
                                header: true,
                                classification: true,
                            };
                        }
                    }
                    if ui.selectable_label(false, "IDX files (MNIST)…").clicked() {
                        let pick = |t: &str| rfd::FileDialog::new().set_title(t).pick_file();
                        if let (Some(images), Some(labels)) =
                            (pick("IDX images"), pick("IDX labels"))
                        {
                            cfg.dataset = DatasetSpec::Idx {
                                images: images.display().to_string(),
                                labels: labels.display().to_string(),
                            };
                        }
                    }
                });
            ui.end_row();
            match &mut cfg.dataset {
                DatasetSpec::Csv {
                    path,
                    label,
                    header,
                    classification,
                    ..
                } => {
                    ui.label("File");
                    ui.label(path.as_str());
                    ui.end_row();
                    ui.label("Label column");
                    ui.text_edit_singleline(label);
                    ui.end_row();
                    ui.label("");
                    ui.horizontal(|ui| {
                        ui.checkbox(header, "header row");
                        ui.checkbox(classification, "classes");
                    });
                    ui.end_row();
                }
                DatasetSpec::Spiral { classes, .. } => {
                    ui.label("Arms");
                    ui.add(egui::DragValue::new(classes).range(2..=10));
                    ui.end_row();
                }
                _ => {}
            }
            if let Some((samples, noise)) = cfg.dataset.samples_noise_mut() {
                ui.label("Samples");
                ui.add(egui::DragValue::new(samples).range(10..=100_000).speed(10));
                ui.end_row();
                ui.label("Noise");
                ui.add(egui::DragValue::new(noise).range(0.0..=1.0).speed(0.01));
                ui.end_row();
            }
            ui.label("Validation");
            ui.add(
                egui::Slider::new(&mut cfg.validation, 0.0..=0.9)
                    .custom_formatter(|v, _| format!("{:.0}%", v * 100.0)),
            );
            ui.end_row();
            ui.label("");
            ui.checkbox(&mut cfg.standardize, "standardize features");
            ui.end_row();

            let inputs: Vec<String> = graph
                .nodes()
                .filter(|n| n.op == Op::Input)
                .map(|n| n.name.clone())
                .collect();
            for (label, field) in [("Features", &mut cfg.features), ("Target", &mut cfg.target)] {
                ui.label(label);
                egui::ComboBox::from_id_salt(label)
                    .selected_text(field.as_str())
                    .show_ui(ui, |ui| {
                        for name in &inputs {
                            ui.selectable_value(field, name.clone(), name);
                        }
                    });
                ui.end_row();
            }

            ui.label("Optimizer");
            egui::ComboBox::from_id_salt("optimizer")
                .selected_text(cfg.optimizer.label())
                .show_ui(ui, |ui| {
                    for k in OptimizerKind::ALL {
                        let same =
                            std::mem::discriminant(&k) == std::mem::discriminant(&cfg.optimizer);
                        if ui.selectable_label(same, k.label()).clicked() && !same {
                            cfg.optimizer = k;
                        }
                    }
                });
            ui.end_row();
            if let OptimizerKind::Momentum { momentum } = &mut cfg.optimizer {
                ui.label("Momentum");
                ui.add(
                    egui::DragValue::new(momentum)
                        .range(0.0..=0.999)
                        .speed(0.01),
                );
                ui.end_row();
            }
            ui.label("Learning rate");
            ui.add(
                egui::DragValue::new(&mut cfg.learning_rate)
                    .range(1e-6..=10.0)
                    .speed(0.0005)
                    .max_decimals(6),
            );
            ui.end_row();
            ui.label("Decay");
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt("decay")
                    .selected_text(match cfg.decay {
                        Decay::None => "none",
                        Decay::Step { .. } => "step",
                        Decay::Exponential { .. } => "exponential",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut cfg.decay, Decay::None, "none");
                        if ui
                            .selectable_label(matches!(cfg.decay, Decay::Step { .. }), "step")
                            .clicked()
                        {
                            cfg.decay = Decay::Step {
                                every: 10,
                                factor: 0.5,
                            };
                        }
                        if ui
                            .selectable_label(
                                matches!(cfg.decay, Decay::Exponential { .. }),
                                "exponential",
                            )
                            .clicked()
                        {
                            cfg.decay = Decay::Exponential { gamma: 0.95 };
                        }
                    });
                match &mut cfg.decay {
                    Decay::None => {}
                    Decay::Step { every, factor } => {
                        ui.label("×");
                        ui.add(egui::DragValue::new(factor).range(0.01..=1.0).speed(0.01));
                        ui.label("every");
                        ui.add(egui::DragValue::new(every).range(1..=10_000));
                    }
                    Decay::Exponential { gamma } => {
                        ui.label("γ");
                        ui.add(egui::DragValue::new(gamma).range(0.5..=1.0).speed(0.001));
                    }
                }
            });
            ui.end_row();
            ui.label("L2 weight decay");
            ui.add(
                egui::DragValue::new(&mut cfg.weight_decay)
                    .range(0.0..=1.0)
                    .speed(0.0001),
            );
            ui.end_row();
            ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut cfg.batch_size).range(1..=4096));
            ui.end_row();
            ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut cfg.epochs).range(1..=100_000));
            ui.end_row();
            ui.label("Early stopping");
            ui.horizontal(|ui| {
                ui.add(egui::DragValue::new(&mut cfg.patience).range(0..=1000));
                ui.weak(if cfg.patience == 0 {
                    "off"
                } else {
                    "epochs of patience"
                });
            });
            ui.end_row();
            ui.label("Seed");
            ui.add(egui::DragValue::new(&mut cfg.seed));
            ui.end_row();
            ui.label("Device");
            egui::ComboBox::from_id_salt("device")
                .selected_text(match cfg.device {
                    DeviceChoice::Auto => "auto (GPU if any)",
                    DeviceChoice::Cpu => "CPU",
                    DeviceChoice::Wgpu => "GPU (wgpu)",
                    DeviceChoice::Remote => "Remote server",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut cfg.device, DeviceChoice::Auto, "auto (GPU if any)");
                    ui.selectable_value(&mut cfg.device, DeviceChoice::Cpu, "CPU");
                    ui.selectable_value(&mut cfg.device, DeviceChoice::Wgpu, "GPU (wgpu)");
                    ui.selectable_value(&mut cfg.device, DeviceChoice::Remote, "Remote server");
                });
            ui.end_row();
            if cfg.device == DeviceChoice::Remote {
                remote_rows(ui, cfg);
            }
        });
    let problems = cfg.problems();
    for p in problems {
        ui.colored_label(Color32::from_rgb(230, 80, 80), p);
    }
}

/// A connection test running on its own thread (burn's connect blocks): its answer, once
/// there. Kept in egui's memory under the panel's id.
type TestSlot = std::sync::Arc<std::sync::Mutex<Option<Result<String, String>>>>;

/// The Remote server's address, token (kept in memory only) and Test connection button.
fn remote_rows(ui: &mut Ui, cfg: &mut TrainingConfig) {
    ui.label("Server");
    ui.add(
        egui::TextEdit::singleline(&mut cfg.remote_address)
            .hint_text("ws://gpu-host:3000")
            .desired_width(180.0),
    );
    ui.end_row();
    ui.label("Token");
    ui.add(
        egui::TextEdit::singleline(&mut cfg.remote_token.0)
            .password(true)
            .hint_text("not saved")
            .desired_width(180.0),
    )
    .on_hover_text("The token of the server's --token-file; never written to the project file");
    ui.end_row();
    let id = ui.id().with("remote-test");
    let slot: Option<TestSlot> = ui.data(|d| d.get_temp(id));
    let answer = slot
        .as_ref()
        .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone());
    ui.label("");
    ui.horizontal(|ui| {
        let testing = matches!(answer, Some(None));
        if ui
            .add_enabled(!testing, egui::Button::new("Test connection"))
            .clicked()
        {
            let spec = crate::train::remote::spec_of(cfg);
            let slot: TestSlot = Default::default();
            ui.data_mut(|d| {
                d.insert_temp(id, slot.clone());
                d.insert_temp(id.with("seen"), false);
            });
            let ctx = ui.ctx().clone();
            let started = std::thread::Builder::new()
                .name("nodegrad-remote-test".into())
                .spawn(move || {
                    let r = crate::train::remote::connect(&spec)
                        .map(|d| format!("connected: {}", d.name))
                        .map_err(|e| e.to_string());
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    ctx.request_repaint();
                });
            if let Err(e) = started {
                ui.data_mut(|d| {
                    d.insert_temp::<TestSlot>(
                        id,
                        std::sync::Arc::new(std::sync::Mutex::new(Some(Err(e.to_string())))),
                    )
                });
            }
        }
        if matches!(answer, Some(None)) {
            ui.spinner();
            ui.label("connecting...");
        }
    });
    ui.end_row();
    // The answer on a row of its own, wrapped: a refusal names the address and the fix.
    let shown = match &answer {
        Some(Some(Ok(m))) => Some((Color32::from_rgb(90, 180, 90), m)),
        Some(Some(Err(m))) => Some((Color32::from_rgb(230, 80, 80), m)),
        _ => None,
    };
    if let Some((color, m)) = shown {
        ui.label("");
        // Wrapped at the panel's visible edge (a grid cell would grow instead).
        let width = (ui.clip_rect().right() - ui.cursor().left() - 8.0).max(120.0);
        let label = ui
            .allocate_ui(egui::vec2(width, 0.0), |ui| {
                ui.set_max_width(width);
                ui.add(egui::Label::new(egui::RichText::new(m).color(color)).wrap())
            })
            .inner;
        // The answer may land below the settings tile's fold: scroll it into view once.
        let seen = id.with("seen");
        if !ui.data(|d| d.get_temp::<bool>(seen).unwrap_or(false)) {
            label.scroll_to_me(Some(egui::Align::Max));
            ui.data_mut(|d| d.insert_temp(seen, true));
        }
        ui.end_row();
    }
}
