//! Training through `nodegrad serve` (burn's remote backend over WebSocket), on loopback
//! only: the server is the built binary on 127.0.0.1 with an ephemeral port and the CPU
//! device. Remote training gives local CPU training's weights; a wrong token, a missing
//! server, a server killed mid-run and a frozen one end in messages, never hangs; a
//! restarted server trains again in the same process.
//!
//! Every wait is for an event (a line the server prints, an event of the run) with a
//! generous limit that only guards against a hang.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{load, project_path};
use nodegrad::graph::{Array, NodeId};
use nodegrad::project::training::{DeviceChoice, Secret, TrainingConfig};
use nodegrad::train::worker::{Command as Cmd, Event, TrainJob};
use nodegrad::train::{Prepared, TrainDevice, Trainer, remote, train_to_end};

/// The binary under test. `NODEGRAD_BIN` overrides it (a target directory shared by several
/// checkouts can hold another checkout's binary at cargo's path).
fn nodegrad() -> Command {
    Command::new(
        std::env::var_os("NODEGRAD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_nodegrad").into()),
    )
}

/// Only a guard against a hang: every wait below ends on an event long before.
const GUARD: Duration = Duration::from_secs(180);

/// A `nodegrad serve` child process and the lines it prints.
struct Server {
    child: Child,
    url: String,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Starts one on `bind` (127.0.0.1:0 for a free port) with the CPU device.
    fn start(bind: &str, token: Option<&str>) -> Server {
        let mut cmd = nodegrad();
        cmd.args(["serve", "--bind", bind, "--device", "cpu"]);
        let dir = tempfile::tempdir().unwrap();
        if let Some(t) = token {
            let f = dir.path().join("token");
            std::fs::write(&f, format!("{t}\n")).unwrap();
            cmd.arg("--token-file").arg(&f);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("nodegrad serve starts");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut s = Server {
            child,
            url: String::new(),
            lines,
            seen: Vec::new(),
        };
        let line = s.expect("listening on ws://");
        s.url = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .trim()
            .to_string();
        // The token file is read at the start; the folder can go.
        drop(dir);
        s
    }

    /// Waits for a line containing `text` (a line seen before counts).
    fn expect(&mut self, text: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(text)) {
            return l.clone();
        }
        let deadline = Instant::now() + GUARD;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(text) {
                        return l;
                    }
                }
                Err(e) => panic!("the server never printed {text:?} ({e}): {:?}", self.seen),
            }
        }
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(ok.success(), "kill {sig}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A stopped process must be continued to die cleanly.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        self.kill();
    }
}

fn remote_config(name: &str, url: &str, token: &str) -> (nodegrad::graph::Graph, TrainingConfig) {
    let p = load(name);
    let mut c = p.training.clone().expect("training settings");
    c.device = DeviceChoice::Remote;
    c.remote_address = url.to_string();
    c.remote_token = Secret(token.to_string());
    (p.graph, c)
}

type Weights = Vec<(NodeId, String, Array)>;

fn train(graph: &nodegrad::graph::Graph, config: &TrainingConfig) -> (Trainer, Weights) {
    let prepared = Prepared::new(config, None).unwrap();
    let device = TrainDevice::for_config(config).unwrap_or_else(|e| panic!("{e}"));
    let mut t = Trainer::new(graph, config, prepared, device).unwrap();
    train_to_end(&mut t, |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
    let w = t.weights().unwrap();
    (t, w)
}

fn largest_difference(a: &Weights, b: &Weights) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0.0f64;
    for ((na, ka, xa), (nb, kb, xb)) in a.iter().zip(b) {
        assert_eq!((na, ka), (nb, kb));
        assert_eq!(xa.shape(), xb.shape());
        for (p, q) in xa.data().iter().zip(xb.data()) {
            worst = worst.max((p - q).abs());
        }
    }
    worst
}

#[test]
fn remote_training_gives_the_weights_of_local_cpu_training() {
    let mut server = Server::start("127.0.0.1:0", Some("class-token"));
    for (name, epochs) in [("xor-train.ron", None), ("digits-mlp.ron", Some(8))] {
        let (graph, mut remote) = remote_config(name, &server.url, "class-token");
        if let Some(e) = epochs {
            remote.epochs = e;
        }
        let mut local = remote.clone();
        local.device = DeviceChoice::Cpu;
        let (tr, wr) = train(&graph, &remote);
        let (tl, wl) = train(&graph, &local);
        assert!(tr.device.name.contains(&server.url), "{}", tr.device.name);
        let diff = largest_difference(&wr, &wl);
        println!("{name}: largest weight difference remote vs local CPU: {diff:e}");
        assert!(diff <= 1e-5, "{name}: weights differ by {diff}");
        let (lr, ll) = (tr.history.last().unwrap(), tl.history.last().unwrap());
        assert_eq!(lr.train.accuracy, ll.train.accuracy, "{name}");
        assert_eq!(lr.val.unwrap().accuracy, ll.val.unwrap().accuracy, "{name}");
        assert_eq!(tr.history.len(), tl.history.len());
        if name == "xor-train.ron" {
            assert_eq!(
                lr.val.unwrap().accuracy,
                Some(1.0),
                "xor through the server"
            );
        }
    }
    server.expect("connected: WebSocket client 127.0.0.1:");
}

#[test]
fn a_wrong_token_and_a_missing_server_are_messages() {
    let mut server = Server::start("127.0.0.1:0", Some("right"));
    let (_, mut c) = remote_config("xor-train.ron", &server.url, "wrong");
    let e = TrainDevice::for_config(&c).unwrap_err().to_string();
    assert!(e.contains("refused the token"), "{e}");
    assert!(e.contains(&server.url), "{e}");
    server.expect("refused WebSocket client 127.0.0.1:");
    c.remote_token = Secret(String::new());
    let e = TrainDevice::for_config(&c).unwrap_err().to_string();
    assert!(e.contains("refused the token (none was given)"), "{e}");

    // Nothing listens on the port of a server that has gone.
    let url = server.url.clone();
    server.kill();
    c.remote_address = url.clone();
    let started = Instant::now();
    let e = TrainDevice::for_config(&c).unwrap_err().to_string();
    assert!(e.contains(&format!("no training server at {url}")), "{e}");
    // burn's own connect would retry for ~16 s; the port check answers at once.
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn serve_refuses_an_open_address_without_a_token() {
    let out = nodegrad()
        .args(["serve", "--bind", "0.0.0.0:0", "--device", "cpu"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{err}"
    );
}

/// `nodegrad train --device remote` in its own process: the server sees it come and go.
#[test]
fn the_cli_trains_remotely_and_the_server_logs_the_client() {
    let mut server = Server::start("127.0.0.1:0", None);
    server.expect("computing on: CPU");
    server.expect("WebSocket is unencrypted");
    let out = nodegrad()
        .arg("train")
        .arg(project_path("xor-train.ron"))
        .args([
            "--device",
            "remote",
            "--remote",
            &server.url,
            "--epochs",
            "3",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("done: epochs=3 "), "{last}");
    assert!(last.ends_with("device=remote"), "{last}");
    server.expect("connected: WebSocket client 127.0.0.1:");
    server.expect("left: WebSocket client 127.0.0.1:");
}

/// Starts a long remote run on the worker and waits until steps come back.
fn running_job(url: &str, timeout_s: Option<f64>) -> TrainJob {
    let (graph, mut c) = remote_config("xor-train.ron", url, "");
    c.epochs = 1_000_000;
    c.remote_timeout_s = timeout_s;
    let job = TrainJob::start(graph, c, None, false, || {});
    let deadline = Instant::now() + GUARD;
    let mut steps = 0;
    while steps < 20 {
        match job.wait(deadline.saturating_duration_since(Instant::now())) {
            Some(Event::Steps { points, .. }) => steps += points.len(),
            Some(Event::Failed { message, .. }) => panic!("{message}"),
            Some(_) => {}
            None => panic!("no steps came back"),
        }
    }
    job
}

/// Waits for the run's Failed event.
fn failure(job: &TrainJob) -> (String, Option<Weights>) {
    let deadline = Instant::now() + GUARD;
    loop {
        match job.wait(deadline.saturating_duration_since(Instant::now())) {
            Some(Event::Failed { message, weights }) => return (message, weights),
            Some(Event::Finished { .. }) => panic!("the run finished instead of failing"),
            Some(_) => {}
            None => panic!("the run neither failed nor finished"),
        }
    }
}

#[test]
fn a_server_killed_mid_run_ends_the_run_with_a_message_and_the_last_weights() {
    let mut server = Server::start("127.0.0.1:0", None);
    let job = running_job(&server.url, None);
    server.kill();
    let (message, weights) = failure(&job);
    assert!(
        message.contains(&format!(
            "the training server at {} stopped answering",
            server.url
        )),
        "{message}"
    );
    assert!(message.contains("the weights after step"), "{message}");
    let weights = weights.expect("the weights of the last finished step");
    // The untrained weights, computed here: the kept ones are the same tensors, trained.
    let (graph, mut c) = remote_config("xor-train.ron", "", "");
    c.device = DeviceChoice::Cpu;
    let prepared = Prepared::new(&c, None).unwrap();
    let device = TrainDevice::for_config(&c).unwrap();
    let initial = Trainer::new(&graph, &c, prepared, device)
        .unwrap()
        .weights()
        .unwrap();
    assert_eq!(weights.len(), initial.len());
    let mut moved = false;
    for ((na, ka, a), (nb, kb, b)) in weights.iter().zip(&initial) {
        assert_eq!((na, ka), (nb, kb));
        assert_eq!(a.shape(), b.shape());
        moved |= a != b;
    }
    assert!(moved, "the kept weights are the initial ones");
}

#[test]
fn a_frozen_server_ends_the_run_with_a_timeout_message() {
    let server = Server::start("127.0.0.1:0", None);
    let job = running_job(&server.url, Some(2.0));
    server.signal("-STOP");
    let (message, weights) = failure(&job);
    assert!(
        message.contains(&format!(
            "the training server at {} did not answer for 2 s",
            server.url
        )),
        "{message}"
    );
    assert!(weights.is_some());
    job.send(Cmd::Stop);
}

#[test]
fn after_the_server_restarts_training_works_again_in_the_same_process() {
    let mut first = Server::start("127.0.0.1:0", Some("t"));
    let (graph, mut c) = remote_config("xor-train.ron", &first.url, "t");
    c.epochs = 2;
    let (t, _) = train(&graph, &c);
    assert_eq!(t.history.len(), 2);
    let port = first.port();
    first.kill();
    let second = Server::start(&format!("127.0.0.1:{port}"), Some("t"));
    assert_eq!(second.url, first.url);
    let (t, _) = train(&graph, &c);
    assert_eq!(t.history.len(), 2);
    assert!(t.history[1].train.loss.is_finite());
}

#[test]
fn the_project_file_remembers_the_address_never_the_token() {
    let mut p = load("xor-train.ron");
    let c = p.training.as_mut().unwrap();
    c.device = DeviceChoice::Remote;
    c.remote_address = "ws://gpu-host:3000".into();
    c.remote_token = Secret("do-not-save-me".into());
    assert!(!format!("{c:?}").contains("do-not-save-me"));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p.ron");
    p.save(&f).unwrap();
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("remote_address: \"ws://gpu-host:3000\""),
        "{text}"
    );
    assert!(text.contains("device: Remote"), "{text}");
    assert!(!text.contains("do-not-save-me"));
    let back = nodegrad::project::Project::load(&f).unwrap();
    let c = back.training.unwrap();
    assert_eq!(c.remote_address, "ws://gpu-host:3000");
    assert_eq!(c.remote_token, Secret::default());
}

// The credential and address rules, without a server.
#[test]
fn credentials_differ_per_attempt_and_carry_the_token() {
    let a = remote::fresh_credential("s3cret");
    let b = remote::fresh_credential("s3cret");
    assert_ne!(a, b);
    assert_eq!(remote::token_of(a.as_bytes()), Some(&b"s3cret"[..]));
    assert_eq!(
        remote::token_of(remote::fresh_credential("").as_bytes()),
        Some(&b""[..])
    );
    assert_eq!(remote::token_of(b"s3cret"), None);
    assert!(remote::same_bytes(b"abc", b"abc"));
    assert!(!remote::same_bytes(b"abc", b"abd"));
    assert!(!remote::same_bytes(b"abc", b"ab"));
    assert!(!remote::same_bytes(b"", b"a"));
}

#[test]
fn addresses_are_checked() {
    assert_eq!(
        remote::parse_url("127.0.0.1").unwrap().0,
        "ws://127.0.0.1:3000"
    );
    assert_eq!(
        remote::parse_url("ws://127.0.0.1:4001/").unwrap().0,
        "ws://127.0.0.1:4001"
    );
    let e = remote::parse_url("wss://x:1").unwrap_err();
    assert!(e.contains("wss://"), "{e}");
    assert!(
        remote::parse_url("")
            .unwrap_err()
            .contains("no server address")
    );
    assert!(
        remote::parse_url("ws://a/b")
            .unwrap_err()
            .contains("ws://host:port")
    );
}

/// The window: "Remote server" in the Training panel, Test connection (answered on a thread,
/// the window keeps drawing), then a run whose progress line names the server, and after
/// the server is gone, Test connection says so.
#[test]
fn the_window_tests_the_connection_and_trains_on_the_remote_server() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use nodegrad::ui::training::RunState;
    use nodegrad::ui::{AppConfig, NodegradApp};

    let mut server = Server::start("127.0.0.1:0", None);
    let dir = tempfile::tempdir().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut p = load("xor-train.ron");
    let t = p.training.as_mut().unwrap();
    t.device = DeviceChoice::Remote;
    t.remote_address = server.url.clone();
    t.epochs = 3;
    let file = dir.path().join("xor.ron");
    p.save(&file).unwrap();
    let config = AppConfig {
        file: Some(file),
        storage_dir: Some(storage.path().to_path_buf()),
        ..AppConfig::default()
    };
    // Tall enough for every settings row.
    let mut h = Harness::builder()
        .with_size([1600.0, 1500.0])
        .with_max_steps(40)
        .build_eframe(move |cc| NodegradApp::new(cc, config.clone()));
    h.run_ok();
    let until = |h: &mut Harness<'_, NodegradApp>,
                 what: &str,
                 done: &dyn Fn(&Harness<'_, NodegradApp>) -> bool| {
        let deadline = Instant::now() + GUARD;
        while !done(h) {
            if Instant::now() >= deadline {
                if let Ok(img) = h.render() {
                    let _ = img.save(std::env::temp_dir().join("nodegrad-remote-timeout.png"));
                }
                panic!("waited for {what} (picture: nodegrad-remote-timeout.png in the temp dir)");
            }
            std::thread::sleep(Duration::from_millis(20));
            h.step();
        }
        h.step();
    };
    if h.query_by_label("Test connection").is_none() {
        h.get_by_label("Training").click();
        h.run_ok();
    }
    h.get_by_label("Test connection").click();
    h.step();
    let connected = format!("connected: remote server {} (f32)", server.url);
    until(&mut h, "the connection test", &|h| {
        h.query_by_label_contains(&connected).is_some()
    });
    // A picture to look at (not a snapshot: the port differs every run).
    if let Ok(img) = h.render() {
        let _ = img.save(std::env::temp_dir().join("nodegrad-remote-settings.png"));
    }
    h.get_by_label("▶ Train").click();
    h.step();
    until(&mut h, "the end of the run", &|h| {
        matches!(h.state().training.state, RunState::Finished(_))
            || matches!(h.state().training.state, RunState::Failed(_))
    });
    assert!(
        matches!(h.state().training.state, RunState::Finished(_)),
        "{:?}",
        h.state().training.state
    );
    assert_eq!(h.state().training.run.epochs.len(), 3);
    let line = format!("remote server {}", server.url);
    assert!(
        h.query_by_label_contains(&line).is_some(),
        "the progress line names the server"
    );
    server.expect("connected: WebSocket client 127.0.0.1:");

    let url = server.url.clone();
    server.kill();
    // After a run the timeline row has pushed the button below the tile's fold: a user
    // scrolls to it, and so does the test.
    h.get_by_label("Test connection").scroll_to_me();
    h.step();
    // The scroll is animated: press the button through accesskit, wherever it is now.
    h.get_by_label("Test connection").click_accesskit();
    h.step();
    let gone = format!("no training server at {url}");
    until(&mut h, "the failed connection test", &|h| {
        h.query_by_label_contains(&gone).is_some()
    });
    if let Ok(img) = h.render() {
        let _ = img.save(std::env::temp_dir().join("nodegrad-remote-gone.png"));
    }
}
