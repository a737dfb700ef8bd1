//! The in-tree fuzzer: mutated example projects and generated graphs through load,
//! analysis, CPU evaluation and the stepper, with the memory budget at its default. The
//! assertion is zero panics (counted by a panic hook, so a panic that some layer catches and
//! turns into an error still counts).
//!
//! Deterministic: `NODEGRAD_FUZZ_SEED` (default below) and `NODEGRAD_FUZZ_CASES` (default
//! 10,000, the CI run: about 8 s in a debug build) choose the inputs; a long run is
//! `NODEGRAD_FUZZ_CASES=100000 NODEGRAD_FUZZ_SEED=1 cargo test --test fuzz -- --nocapture`.
//! `NODEGRAD_FUZZ_SHOW=N` prints input number N (with its mutations) to reproduce it.
//! A crash it finds becomes a named case in `tests/hostile.rs`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::graph::ops::Padding;
use nodegrad::graph::{Array, Graph, Init, Op};
use nodegrad::project::{Project, list_projects};
use nodegrad::stepper::{backward_steps, forward_steps};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DEFAULT_SEED: u64 = 0x6e6f_6465_6772_6164; // "nodegrad"
const DEFAULT_CASES: usize = 10_000;

/// Numbers that break arithmetic: the brief's list plus their neighbours.
const EXTREMES: [&str; 14] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "inf",
    "-inf",
    "NaN",
    "18446744073709551615",
    "9223372036854775807",
    "1e12",
    "1000000000000",
    "4294967296",
    "0.0",
    "-0.5",
];

static PANICS: AtomicUsize = AtomicUsize::new(0);
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Counts every panic in the process (this binary has one test) instead of printing it.
fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = LAST_PANIC.lock() {
                *last = info.to_string();
            }
        }));
    });
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------------------
// Text mutations

/// Byte ranges of number-like tokens (`-1.5e3`, `12`, `inf`, `NaN`).
fn numbers(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts =
            b[i].is_ascii_digit() || (b[i] == b'-' && i + 1 < b.len() && b[i + 1].is_ascii_digit());
        if starts && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
            let start = i;
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit() || matches!(b[i], b'.' | b'e' | b'E' | b'+' | b'-'))
            {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of double-quoted strings (node names, port names), quotes included.
fn strings(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open = None;
    for (i, &c) in b.iter().enumerate() {
        if c == b'"' {
            match open.take() {
                None => open = Some(i),
                Some(s) => out.push((s, i + 1)),
            }
        }
    }
    out
}

/// Byte ranges of tokens: identifiers, numbers, strings and single punctuation marks.
fn tokens(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.' || b[i] == b'-' {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-' | b'+'))
            {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            i = (i + 1).min(b.len());
        } else {
            i += 1;
        }
        out.push((start, i));
    }
    out
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.random_range(0..items.len())])
}

/// One random mutation of the bytes (which need not be UTF-8 any more); returns its
/// description.
fn mutate(rng: &mut StdRng, bytes: &mut Vec<u8>) -> String {
    let text = bytes.clone();
    let show = |r: (usize, usize)| String::from_utf8_lossy(&text[r.0..r.1]).into_owned();
    match rng.random_range(0..11) {
        0 if !bytes.is_empty() => {
            let i = rng.random_range(0..bytes.len());
            let bit = 1u8 << rng.random_range(0..8);
            bytes[i] ^= bit;
            format!("flip bit {bit:#04x} of byte {i}")
        }
        1..=4 => match pick(rng, &numbers(&text)) {
            Some(&(s, e)) => {
                let x = pick(rng, &EXTREMES).copied().unwrap_or("0");
                let old = show((s, e));
                bytes.splice(s..e, x.bytes());
                format!("number {old} at byte {s} -> {x}")
            }
            None => "no number to replace".into(),
        },
        5 => match pick(rng, &tokens(&text)) {
            Some(&(s, e)) => {
                let old = show((s, e));
                bytes.drain(s..e);
                format!("delete token {old:?} at byte {s}")
            }
            None => "no token".into(),
        },
        6 => match pick(rng, &tokens(&text)) {
            Some(&(s, e)) => {
                let old = show((s, e));
                bytes.splice(e..e, text[s..e].iter().copied());
                format!("duplicate token {old:?} at byte {s}")
            }
            None => "no token".into(),
        },
        7 => {
            let quoted = strings(&text);
            match (pick(rng, &quoted), pick(rng, &quoted)) {
                (Some(&a), Some(&b)) if a.0 < b.0 => {
                    let (sa, sb) = (show(a), show(b));
                    bytes.splice(b.0..b.1, text[a.0..a.1].iter().copied());
                    bytes.splice(a.0..a.1, text[b.0..b.1].iter().copied());
                    format!("swap {sa} and {sb}")
                }
                _ => "no pair of names".into(),
            }
        }
        8 => {
            // Duplicate or delete a whole line (a node field, an input, a node's line).
            let lines: Vec<(usize, usize)> = text
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'\n')
                .scan(0, |start, (i, _)| {
                    let l = (*start, i + 1);
                    *start = i + 1;
                    Some(l)
                })
                .collect();
            match pick(rng, &lines) {
                Some(&(s, e)) if rng.random_bool(0.5) => {
                    bytes.drain(s..e);
                    format!("delete line at byte {s}")
                }
                Some(&(s, e)) => {
                    let line = bytes[s..e].to_vec();
                    bytes.splice(e..e, line);
                    format!("duplicate line at byte {s}")
                }
                None => "no line".into(),
            }
        }
        9 => {
            // Another op (with extreme settings half the time) in place of a node's op.
            let ops: Vec<(usize, usize)> = text
                .windows(4)
                .enumerate()
                .filter(|(_, w)| *w == b"op: ")
                .filter_map(|(i, _)| {
                    let start = i + 4;
                    let len = text[start..].windows(2).position(|w| w == b",\n")?;
                    Some((start, start + len))
                })
                .collect();
            match pick(rng, &ops) {
                Some(&(s, e)) => {
                    let op = random_op(rng);
                    let with = ron::to_string(&op).unwrap_or_default();
                    let old = show((s, e));
                    bytes.splice(s..e, with.bytes());
                    format!("op {old} -> {with}")
                }
                None => "no op".into(),
            }
        }
        _ => {
            // Rewire: point an input at another node's name (often a cycle).
            let quoted = strings(&text);
            match (pick(rng, &quoted), pick(rng, &quoted)) {
                (Some(&a), Some(&b)) => {
                    let (old, with) = (show(a), show(b));
                    bytes.splice(a.0..a.1, text[b.0..b.1].iter().copied());
                    format!("replace {old} by {with}")
                }
                _ => "no names".into(),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generated graphs

fn small_number(rng: &mut StdRng) -> f64 {
    match rng.random_range(0..12) {
        0 => 0.0,
        1 => -1.0,
        2 => 1e308,
        3 => f64::INFINITY,
        4 => f64::NAN,
        5 => 1e12,
        _ => rng.random_range(-3.0..3.0),
    }
}

fn small_count(rng: &mut StdRng) -> usize {
    match rng.random_range(0..16) {
        0 => 0,
        1 => usize::MAX,
        2 => 1 << 40,
        3 => 65,
        _ => rng.random_range(1..5),
    }
}

fn random_init(rng: &mut StdRng) -> Init {
    match rng.random_range(0..8) {
        0 => Init::Zeros,
        1 => Init::Constant {
            value: small_number(rng),
        },
        2 => Init::Uniform {
            low: small_number(rng),
            high: small_number(rng),
        },
        3 => Init::Normal {
            mean: small_number(rng),
            std: small_number(rng),
        },
        4 => Init::XavierUniform,
        5 => Init::XavierNormal,
        6 => Init::HeUniform,
        _ => Init::HeNormal,
    }
}

/// The catalogue op with some settings replaced by small or extreme values.
fn random_op(rng: &mut StdRng) -> Op {
    let all = Op::catalogue();
    let mut op = all[rng.random_range(0..all.len())].clone();
    if rng.random_bool(0.5) {
        match &mut op {
            Op::Parameter { init } => *init = random_init(rng),
            Op::Pow { exponent } => *exponent = small_number(rng),
            Op::Scale { factor } => *factor = small_number(rng),
            Op::Sum { axis } | Op::Mean { axis } => {
                *axis = rng.random_bool(0.7).then(|| rng.random_range(-4..4))
            }
            Op::Reshape { shape } => {
                *shape = (0..rng.random_range(1..4))
                    .map(|_| rng.random_range(-2..5))
                    .collect()
            }
            Op::Concat { inputs, axis } => {
                *inputs = small_count(rng).min(6);
                *axis = rng.random_range(-3..3);
            }
            Op::Dense { units, init } => {
                *units = small_count(rng);
                *init = random_init(rng);
            }
            Op::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                bias,
                init,
            } => {
                *filters = small_count(rng);
                *kernel = small_count(rng);
                *stride = small_count(rng);
                *padding = match rng.random_range(0..3) {
                    0 => Padding::Valid,
                    1 => Padding::Same,
                    _ => Padding::Explicit(small_count(rng)),
                };
                *bias = rng.random_bool(0.5);
                *init = random_init(rng);
            }
            Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
                *kernel = small_count(rng);
                *stride = small_count(rng);
            }
            Op::Dropout { p } => *p = small_number(rng),
            Op::BatchNorm { momentum } => *momentum = small_number(rng),
            Op::LeakyReLU { alpha } => *alpha = small_number(rng),
            Op::PReLU { init_alpha } => *init_alpha = small_number(rng),
            _ => {}
        }
    }
    op
}

fn random_value(rng: &mut StdRng) -> Array {
    let shape: Vec<usize> = match rng.random_range(0..6) {
        0 => vec![],
        1 => vec![0],
        2 => vec![rng.random_range(1..5)],
        3 => vec![rng.random_range(1..4), rng.random_range(1..4)],
        4 => vec![1, rng.random_range(1..7), rng.random_range(1..7)],
        _ => vec![
            rng.random_range(1..3),
            rng.random_range(1..5),
            rng.random_range(1..5),
        ],
    };
    let n = shape.iter().product();
    let data = (0..n)
        .map(|_| {
            if rng.random_bool(0.05) {
                small_number(rng)
            } else {
                rng.random_range(-2.0..2.0)
            }
        })
        .collect();
    Array::new(shape, data).unwrap_or_else(|_| Array::vector(Vec::new()))
}

/// A small random graph wired through `Graph::connect`, as project text.
fn generated(rng: &mut StdRng) -> String {
    let mut g = Graph::new();
    g.seed = rng.random();
    let mut ids = Vec::new();
    for _ in 0..rng.random_range(1..4) {
        let op = if rng.random_bool(0.3) {
            Op::Parameter {
                init: random_init(rng),
            }
        } else {
            Op::Input
        };
        let id = g.add(op, [0.0, 0.0]);
        g.set_tensor(id, "value", random_value(rng)).unwrap();
        ids.push(id);
    }
    for _ in 0..rng.random_range(1..7) {
        let op = random_op(rng);
        let id = g.add(op.clone(), [0.0, 0.0]);
        if op.is_source() {
            g.set_tensor(id, "value", random_value(rng)).unwrap();
        }
        for port in 0..op.arity() {
            if rng.random_bool(0.95) {
                let from = ids[rng.random_range(0..ids.len())];
                // Every earlier node is upstream, so this never closes a cycle.
                g.connect(from, id, port).unwrap();
            }
        }
        ids.push(id);
    }
    if rng.random_bool(0.2) {
        g.output = Some(ids[rng.random_range(0..ids.len())]);
    }
    Project::from_graph(g)
        .to_ron()
        .expect("a generated graph serializes")
}

// ---------------------------------------------------------------------------------------
// The pipeline

#[derive(Default, Debug)]
struct Reached {
    parsed: usize,
    analysed_clean: usize,
    evaluated: usize,
    stepped: usize,
}

/// What `nodegrad steps` does with a file, plus a save round trip.
fn pipeline(bytes: &[u8], reached: &mut Reached) {
    let Ok(project) = Project::parse_bytes(bytes, "fuzz.ron") else {
        return;
    };
    reached.parsed += 1;
    if let Ok(again) = project.to_ron() {
        let _ = Project::parse(&again, "fuzz-saved.ron");
    }
    let analysis = analyze(&project.graph);
    if !analysis.has_errors() {
        reached.analysed_clean += 1;
    }
    let Ok(eval) = Engine::cpu().evaluate(&project.graph, &analysis) else {
        return;
    };
    reached.evaluated += 1;
    let steps = forward_steps(&project.graph, &analysis, &eval).len()
        + backward_steps(&project.graph, &analysis, &eval).len();
    if steps > 0 {
        reached.stepped += 1;
    }
}

struct Failure {
    case: usize,
    how: String,
    panic: String,
    input: String,
}

#[test]
fn hostile_inputs_never_panic() {
    install_panic_counter();
    let seed = env_number("NODEGRAD_FUZZ_SEED", DEFAULT_SEED);
    let cases = env_number("NODEGRAD_FUZZ_CASES", DEFAULT_CASES as u64) as usize;
    let show = std::env::var("NODEGRAD_FUZZ_SHOW")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("projects");
    let examples: Vec<(String, Vec<u8>)> = list_projects(&dir)
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    assert!(examples.len() >= 10, "the example projects are the corpus");

    let mut rng = StdRng::seed_from_u64(seed);
    let mut reached = Reached::default();
    let mut failures: Vec<Failure> = Vec::new();
    let mut slowest = (Duration::ZERO, 0usize, String::new());
    let started = Instant::now();
    for case in 0..cases {
        // A third generated graphs, the rest mutated examples; both mutated 0..=3 more times.
        let (mut bytes, mut how) = if case % 3 == 0 {
            (
                generated(&mut rng).into_bytes(),
                vec!["generated".to_string()],
            )
        } else {
            let (name, bytes) = &examples[rng.random_range(0..examples.len())];
            (bytes.clone(), vec![name.clone()])
        };
        let rounds = if case % 3 == 0 {
            rng.random_range(0..2)
        } else {
            rng.random_range(1..4)
        };
        for _ in 0..rounds {
            how.push(mutate(&mut rng, &mut bytes));
        }
        if show == Some(case) {
            eprintln!(
                "--- case {case} ({}):\n{}\n---",
                how.join("; "),
                String::from_utf8_lossy(&bytes)
            );
        }
        let before = PANICS.load(Ordering::SeqCst);
        let t0 = Instant::now();
        let caught = catch_unwind(AssertUnwindSafe(|| pipeline(&bytes, &mut reached)));
        let took = t0.elapsed();
        if took > slowest.0 {
            slowest = (took, case, how.join("; "));
        }
        if caught.is_err() || PANICS.load(Ordering::SeqCst) != before {
            failures.push(Failure {
                case,
                how: how.join("; "),
                panic: LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default(),
                input: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
    }
    let elapsed = started.elapsed();
    // The default hook again, so the assertions below print their messages.
    drop(std::panic::take_hook());
    eprintln!(
        "fuzz: seed {seed:#x}, {cases} inputs in {:.1} s (slowest: case {} in {:.2} s: {}); \
         reached {reached:?}; {} panicked",
        elapsed.as_secs_f64(),
        slowest.1,
        slowest.0.as_secs_f64(),
        slowest.2,
        failures.len()
    );
    for f in failures.iter().take(5) {
        eprintln!(
            "--- case {} ({}) panicked: {}\n{}\n---",
            f.case, f.how, f.panic, f.input
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} inputs panicked (seed {seed:#x}); cases {:?}",
        failures.len(),
        failures.iter().map(|f| f.case).collect::<Vec<_>>()
    );
    // The mutations must leave enough inputs loadable to exercise the later stages.
    assert!(reached.parsed * 4 >= cases, "{reached:?}");
    assert!(reached.evaluated * 5 >= cases, "{reached:?}");
    assert!(reached.stepped * 10 >= cases, "{reached:?}");
}
