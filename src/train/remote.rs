//! Training on another machine's device through burn's remote backend (`burn-remote`, over
//! WebSocket): `serve` runs the server (`nodegrad serve`), `connect` makes the client's
//! device, and `Watch` is the watchdog that turns a frozen server into a message.
//!
//! The client keeps autodiff; the server runs the tensor operations on its own device.
//!
//! **Reconnecting after a server restart.** burn caches a remote session per process by
//! address and credential: after the server restarts, connecting again with the same pair
//! returns the dead session. So every connection attempt presents a fresh credential,
//! `nodegrad1 <nonce> <token>` (a process-wide counter and the process id), and `serve`'s
//! authorizer checks only the token part. Each attempt costs burn a device id (65,536 per
//! process) and a runner thread for the life of the process; a class restarts a server a
//! handful of times, not thousands. The alternative, the worker in a child process, would
//! have to ship the graph, the dataset and every dashboard event across a pipe.
//!
//! **Failures are messages.** No server: a plain TCP connect with a short timeout answers
//! first (burn's own connect retries for about 16 s). A wrong token: burn's `Unauthorized`.
//! A server killed mid-run: the next read fails within milliseconds and the step's error
//! says so. A frozen server: reads never return, so `Watch` notices that no step finished
//! within the timeout and the caller gives up on the (abandoned, blocked) thread.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::remote::{ConnectError, RemoteHost};
use burn::server::{AuthorizationRequest, RemoteServer, WebSocketTransport, telemetry};
use burn::tensor::Device;

use super::{TrainDevice, TrainError};
use crate::exec::EngineKind;
use crate::graph::{Array, NodeId};
use crate::project::training::DeviceChoice;

/// How long a remote step may take before the watchdog gives up, unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the quick check waits for the server's port to accept a connection.
pub const CONNECT_CHECK: Duration = Duration::from_secs(3);
/// The port `nodegrad serve` listens on unless told.
pub const DEFAULT_PORT: u16 = 3000;

const CREDENTIAL_TAG: &str = "nodegrad1";

/// Where the server is and how to get in.
#[derive(Clone)]
pub struct RemoteSpec {
    /// `ws://host:port`.
    pub url: String,
    /// Empty when the server has none.
    pub token: String,
    /// The watchdog's limit for one step (or the connect).
    pub timeout: Duration,
}

impl std::fmt::Debug for RemoteSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("RemoteSpec")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The remote settings of a project's training config.
pub fn spec_of(config: &crate::project::training::TrainingConfig) -> RemoteSpec {
    RemoteSpec {
        url: config.remote_address.clone(),
        token: config.remote_token.0.clone(),
        timeout: config
            .remote_timeout_s
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_TIMEOUT),
    }
}

/// `ws://host:port` checked, with the socket addresses it names. A missing port is 3000, a
/// missing scheme is `ws://`.
pub fn parse_url(url: &str) -> Result<(String, Vec<SocketAddr>), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("no server address: give one like ws://gpu-host:3000".into());
    }
    let rest = match url.split_once("://") {
        Some(("ws", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "server address `{url}`: the scheme `{scheme}://` is not supported, only \
                 ws:// (`nodegrad serve` speaks unencrypted WebSocket; use an SSH tunnel \
                 to encrypt it)"
            ));
        }
        None => url,
    };
    let hostport = rest.trim_end_matches('/');
    if hostport.is_empty() || hostport.contains('/') {
        return Err(format!(
            "server address `{url}`: expected ws://host:port, like ws://gpu-host:3000"
        ));
    }
    let with_port = if hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        hostport.to_string()
    } else {
        format!("{hostport}:{DEFAULT_PORT}")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|e| format!("server address `{url}`: cannot resolve `{with_port}` ({e})"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!(
            "server address `{url}`: `{with_port}` names no address"
        ));
    }
    Ok((format!("ws://{with_port}"), addrs))
}

/// A credential no earlier connection attempt of this process presented.
pub fn fresh_credential(token: &str) -> String {
    static ATTEMPT: AtomicU64 = AtomicU64::new(0);
    let n = ATTEMPT.fetch_add(1, Ordering::Relaxed);
    format!("{CREDENTIAL_TAG} {}.{n} {token}", std::process::id())
}

/// The token part of a credential `connect` made (`None` for anything else).
pub fn token_of(credential: &[u8]) -> Option<&[u8]> {
    let s = credential.strip_prefix(CREDENTIAL_TAG.as_bytes())?;
    let s = s.strip_prefix(b" ")?;
    let space = s.iter().position(|&b| b == b' ')?;
    Some(&s[space + 1..])
}

/// Equal without an early exit, so timing does not reveal how much of a guess was right.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u64;
    for (i, &x) in a.iter().enumerate() {
        let y = b.get(i % b.len().max(1)).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    diff == 0
}

/// Connects a training device on the server `spec` names. Blocks: never on the UI thread.
pub fn connect(spec: &RemoteSpec) -> Result<TrainDevice, TrainError> {
    let (url, addrs) = parse_url(&spec.url).map_err(TrainError::Device)?;
    // burn's connect retries for ~16 s when nothing listens: ask the port first.
    let mut last = None;
    let reached = addrs
        .iter()
        .any(|a| match TcpStream::connect_timeout(a, CONNECT_CHECK) {
            Ok(_) => true,
            Err(e) => {
                last = Some(e);
                false
            }
        });
    if !reached {
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        return Err(TrainError::Device(format!(
            "no training server at {url} ({why}): start one there with `nodegrad serve`, or \
             choose CPU to train here"
        )));
    }
    let host = RemoteHost::websocket(&url).with_credential(fresh_credential(&spec.token));
    let device = match Device::remote_options(&host).init() {
        Ok(d) => d,
        Err(ConnectError::Unauthorized) => {
            return Err(TrainError::Device(format!(
                "the training server at {url} refused the token{}: ask for the token its \
                 `nodegrad serve --token-file` reads",
                if spec.token.is_empty() {
                    " (none was given)"
                } else {
                    ""
                }
            )));
        }
        Err(e) => {
            return Err(TrainError::Device(format!(
                "cannot connect to the training server at {url}: {e}"
            )));
        }
    };
    Ok(TrainDevice {
        device: device.autodiff(),
        name: format!("remote server {url} (f32)"),
        kind: EngineKind::Cpu,
        software: false,
        notice: None,
        remote: Some(url),
    })
}

/// The message for a step that failed on a remote device: the server is gone, and the
/// weights of the last finished step are what is left.
pub fn lost(url: &str, e: &TrainError, kept_step: Option<usize>) -> String {
    let kept = match kept_step {
        Some(0) | None => "the graph keeps its weights from before the run".to_string(),
        Some(s) => format!(
            "the weights after step {s} are kept; choose the CPU device and train again to go on"
        ),
    };
    // burn's error is a chain ending in the cause ("Failed to read tensor: RecvError(())"):
    // the last link, short, is enough to tell a lost connection from a refusal.
    let text = e.to_string();
    let cause = text
        .rsplit("Caused by:")
        .next()
        .unwrap_or(&text)
        .trim()
        .chars()
        .take(80)
        .collect::<String>();
    format!("the training server at {url} stopped answering ({cause}); {kept}")
}

/// The watchdog of a remote run: the worker ticks after every step, the waiting side asks
/// whether the last tick is older than the timeout. It also keeps the weights of the last
/// finished step on this machine, since a dead server cannot hand them back.
pub struct Watch {
    pub url: String,
    pub timeout: Duration,
    /// When the worker last made progress; `None` while it waits for a command.
    busy_since: Mutex<Option<Instant>>,
    kept: Mutex<Option<(usize, Vec<(NodeId, String, Array)>)>>,
}

impl Watch {
    pub fn new(url: &str, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_string(),
            timeout,
            busy_since: Mutex::new(Some(Instant::now())),
            kept: Mutex::new(None),
        })
    }

    /// Progress: the clock starts again.
    pub fn tick(&self) {
        *self.busy_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Waiting for the user: nothing to watch.
    pub fn idle(&self) {
        *self.busy_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn keep(&self, step: usize, weights: Vec<(NodeId, String, Array)>) {
        *self.kept.lock().unwrap_or_else(|p| p.into_inner()) = Some((step, weights));
    }

    /// The last kept weights and their step.
    pub fn kept(&self) -> Option<(usize, Vec<(NodeId, String, Array)>)> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How long until the watchdog fires (zero: it has), or `None` while idle.
    pub fn remaining(&self) -> Option<Duration> {
        let since = (*self.busy_since.lock().unwrap_or_else(|p| p.into_inner()))?;
        Some(self.timeout.saturating_sub(since.elapsed()))
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// What the student reads when it fired.
    pub fn timeout_message(&self) -> String {
        let kept = match self.kept() {
            Some((s, _)) if s > 0 => format!(
                "the weights after step {s} are kept: apply them and train on the CPU to go on"
            ),
            _ => "the graph keeps its weights from before the run".to_string(),
        };
        format!(
            "the training server at {} did not answer for {:.0} s (frozen, or the network \
             stalls): training stopped; {kept}",
            self.url,
            self.timeout.as_secs_f64()
        )
    }
}

/// `nodegrad serve`'s settings.
#[derive(Clone)]
pub struct ServeOptions {
    pub bind: SocketAddr,
    pub device: DeviceChoice,
    /// Required unless `bind` is a loopback address.
    pub token: Option<String>,
}

/// Reads a token file: its first line, trimmed; empty is an error.
pub fn read_token(path: &std::path::Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("token file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        return Err(format!(
            "token file {}: the first line is empty: write a token there (any long random \
             text)",
            path.display()
        ));
    }
    Ok(token)
}

/// Runs the server until the process gets Ctrl+C or SIGTERM. `log` receives the lines a
/// teacher reads (where it listens, on which device, who connects and leaves).
pub fn serve(opts: ServeOptions, log: impl Write + Send + 'static) -> Result<(), String> {
    let log = Arc::new(Mutex::new(log));
    let say = {
        let log = log.clone();
        move |line: String| {
            let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(l, "{line}");
            let _ = l.flush();
        }
    };
    if !opts.bind.ip().is_loopback() && opts.token.is_none() {
        return Err(format!(
            "refusing to listen on {} without a token: any machine that reaches it could run \
             work on this one. Give --token-file FILE (and the same token to the students), \
             or bind 127.0.0.1",
            opts.bind
        ));
    }
    let device = match opts.device {
        DeviceChoice::Remote => {
            return Err("a server computes on its own device: choose auto, cpu or wgpu".into());
        }
        d => TrainDevice::choose(d).map_err(|e| e.to_string())?,
    };
    if let Some(n) = &device.notice {
        say(n.clone());
    }
    let listener = std::net::TcpListener::bind(opts.bind)
        .map_err(|e| format!("cannot listen on {}: {e}", opts.bind))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the address bound: {e}"))?;
    say(format!("nodegrad serve: listening on ws://{addr}"));
    say(format!("computing on: {}", device.name));
    say(if opts.token.is_some() {
        "clients need the token".into()
    } else {
        "no token: only this machine can connect".into()
    });
    say(
        "note: WebSocket is unencrypted; a token keeps stray clients out on a trusted \
         network, not someone reading the traffic. Across an untrusted network, bind \
         127.0.0.1 and let students reach it through an SSH tunnel (ssh -L 3000:127.0.0.1:3000 \
         HOST)"
            .into(),
    );

    // Who asked to connect, waiting for their session to open (in order).
    let waiting: Arc<Mutex<Vec<String>>> = Arc::default();
    let token = opts.token.clone();
    let authorize = {
        let say = say.clone();
        let waiting = waiting.clone();
        move |req: AuthorizationRequest<'_>| -> Result<(), String> {
            let ok = match (&token, token_of(req.credential.as_bytes())) {
                (None, _) => true,
                (Some(t), Some(given)) => same_bytes(given, t.as_bytes()),
                (Some(_), None) => false,
            };
            if ok {
                waiting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(req.client.to_string());
                Ok(())
            } else {
                say(format!("refused {}: wrong token", req.client));
                Err(format!("{} presented the wrong token", req.client))
            }
        }
    };
    let (probe, mut events) = telemetry::TelemetryProbe::channel(1 << 16);
    {
        let say = say.clone();
        std::thread::Builder::new()
            .name("nodegrad-serve-log".into())
            .spawn(move || {
                let mut who = std::collections::HashMap::new();
                let mut sink = Vec::new();
                loop {
                    let open = events.drain_into(&mut sink);
                    for e in sink.drain(..) {
                        match &*e {
                            telemetry::TelemetryEvent::SessionOpened { session, .. } => {
                                let client = {
                                    let mut w = waiting.lock().unwrap_or_else(|p| p.into_inner());
                                    if w.is_empty() {
                                        "a client".to_string()
                                    } else {
                                        w.remove(0)
                                    }
                                };
                                say(format!("connected: {client}"));
                                who.insert(format!("{session:?}"), client);
                            }
                            telemetry::TelemetryEvent::SessionClosed { session } => {
                                let client = who
                                    .remove(&format!("{session:?}"))
                                    .unwrap_or_else(|| "a client".into());
                                say(format!("left: {client}"));
                            }
                            _ => {}
                        }
                    }
                    if matches!(open, telemetry::DrainStatus::Closed) {
                        return;
                    }
                    // Polled every millisecond: at 20 ms the server trained spiral-mlp 9 times
                    // slower (benches/remote.rs), at 1 ms as fast as without the probe.
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .map_err(|e| format!("cannot start the log thread: {e}"))?;
    }
    RemoteServer::new([device.device.clone()])
        .with_authorizer(authorize)
        .with_telemetry(probe)
        .serve(WebSocketTransport::from_listener(listener))
        .map_err(|e| format!("the server stopped: {e}"))
}
