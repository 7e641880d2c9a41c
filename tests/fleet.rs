//! Kiosks on a real MQTT broker (README "Fleet"): Debian's mosquitto on a
//! free localhost port, kiosks on the fixture bundle, `edgepaint send` and
//! `edgepaint fleet` as a user runs them.
#![cfg(feature = "mqtt")]

mod common;
use common::{edgepaint_command, fixture};
use edgepaint::fleet::remote::Remote;
use edgepaint::fleet::MqttConfig;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Broker {
    child: Option<Child>,
    port: u16,
    conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl Broker {
    /// mosquitto with `extra` lines after the listener (default: anonymous allowed).
    fn start(extra: &str) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        let extra = if extra.is_empty() { "allow_anonymous true\n" } else { extra };
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\npersistence false\n{RUN_AS}{extra}")).unwrap();
        let mut b = Broker { child: None, port, conf, _dir: dir };
        b.run();
        b
    }

    fn run(&mut self) {
        let child = Command::new(mosquitto())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (Debian package mosquitto; scripts/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Started as root mosquitto switches to its own user, which cannot read the
/// test's files (the TLS key in a private temporary folder); as another user this line does nothing.
const RUN_AS: &str = "user root\n";

fn mosquitto() -> &'static str {
    if Path::new("/usr/sbin/mosquitto").exists() {
        "/usr/sbin/mosquitto"
    } else {
        "mosquitto"
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A kiosk on the fixture bundle: stdin is its "serial line", stdout its replies.
struct Kiosk {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Value>,
    stderr: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Kiosk {
    /// `mqtt`: the board file's `[mqtt]` section after `url`.
    fn start(url: &str, name: &str, mqtt: &str) -> Kiosk {
        let dir = tempfile::tempdir().unwrap();
        let board = board_file(dir.path(), &format!("url = {url:?}\nname = {name:?}\nkeep_alive_seconds = 5\n{mqtt}"));
        let mut child = kiosk_command(dir.path(), &board).spawn().unwrap();
        let (tx, replies) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).unwrap_or(Value::String(line)));
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let stdin = child.stdin.take().unwrap();
        let k = Kiosk { child, stdin, replies, stderr, dir };
        k.reply_until(|e| e["event"] == "ready", 30);
        k
    }

    /// Replies on stdout until one matches (panics after `secs`).
    fn reply_until(&self, want: impl Fn(&Value) -> bool, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(_) => {}
                Err(_) => panic!("no such reply within {secs} s; stderr:\n{}", self.stderr()),
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn board_file(dir: &Path, mqtt: &str) -> PathBuf {
    let desktop = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("board/desktop.toml")).unwrap();
    let path = dir.join("board.toml");
    // The shipped file has an [mqtt] section of comments: ours goes under its header.
    assert!(desktop.contains("\n[mqtt]\n"));
    std::fs::write(&path, desktop.replacen("\n[mqtt]\n", &format!("\n[mqtt]\n{mqtt}\n"), 1)).unwrap();
    path
}

fn kiosk_command(dir: &Path, board: &Path) -> Command {
    let mut c = edgepaint_command();
    c.arg("kiosk")
        .arg("--board")
        .arg(board)
        .arg("--model")
        .arg(fixture("bundles/tiny-flow"))
        .args(["--display", "none"])
        .current_dir(dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("RUST_LOG", "info")
        .env_remove("STATE_DIRECTORY")
        .env_remove("EDGEPAINT_MODEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn edgepaint(args: &[&str]) -> Output {
    edgepaint_command().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn config(url: &str) -> MqttConfig {
    MqttConfig { url: Some(url.to_string()), ..Default::default() }
}

/// The retained status of `name` once `want` holds for it (polls; broker may be restarting).
fn status_until(url: &str, name: &str, want: impl Fn(&Value) -> bool, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Ok(mut r) = Remote::connect(&config(url), &[format!("edgepaint/{name}/status")]) {
            while let Ok(Some(m)) = r.next(Instant::now() + Duration::from_millis(500)) {
                last = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                if want(&last) {
                    return last;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("status of {name} never matched; last: {last}");
}

#[test]
fn a_prompt_to_one_board_and_to_all_is_answered_with_pictures() {
    let broker = Broker::start("");
    let url = broker.url();
    let a = Kiosk::start(&url, "a", "pictures = true");
    let b = Kiosk::start(&url, "b", "pictures = true");
    for n in ["a", "b"] {
        status_until(&url, n, |s| s["online"] == true, 20);
    }
    let save = tempfile::tempdir().unwrap();
    let saved = save.path().to_str().unwrap();
    let o = edgepaint(&["send", "--mqtt", &url, "--to", "a", "--save", saved, "--json", "a red house on a snowy field"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let events = json_lines(&o);
    let done = events.iter().find(|e| e["event"] == "done").unwrap_or_else(|| panic!("{}", text(&o)));
    assert_eq!(done["board"], "a");
    let on_board = std::fs::read(done["path"].as_str().unwrap()).unwrap();
    assert!(on_board.starts_with(b"\x89PNG"));
    assert_eq!(std::fs::read(save.path().join("a-000001.png")).unwrap(), on_board, "the picture received is the one on disk");

    let o = edgepaint(&["send", "--mqtt", &url, "--to", "all", "--save", saved, "a boat on the sea"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("a: done #2") && out.contains("b: done #1"), "{out}");
    assert!(save.path().join("a-000002.png").is_file() && save.path().join("b-000001.png").is_file());
    for k in [&a, &b] {
        let pictures = std::fs::read_dir(k.dir.path().join("data/edgepaint/pictures")).unwrap().count();
        assert!(pictures >= 1);
    }

    let o = edgepaint(&["fleet", "--mqtt", &url, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let boards: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(boards.len(), 2, "{}", text(&o));
    for s in &boards {
        assert_eq!(s["online"], true);
        assert_eq!(s["state"], "idle");
        assert_eq!(s["model"], "tiny-flow");
        assert_eq!(s["last_picture"]["prompt"], "a boat on the sea");
    }
}

#[test]
fn the_status_is_retained_and_the_last_will_says_offline_after_kill_9() {
    let broker = Broker::start("");
    let url = broker.url();
    let mut k = Kiosk::start(&url, "c", "");
    let s = status_until(&url, "c", |s| s["online"] == true, 20);
    assert_eq!(s["state"], "idle");
    assert_eq!(s["board"], "desktop");
    k.child.kill().unwrap(); // SIGKILL: no goodbye; the broker's keep-alive (1.5 x 5 s) fires the will.
    let s = status_until(&url, "c", |s| s["online"] == false, 30);
    assert_eq!(s["state"], "offline");
    assert_eq!(s["model"], "tiny-flow");
}

#[test]
fn the_kiosk_rides_out_a_broker_restart_and_serial_works_meanwhile() {
    let mut broker = Broker::start("");
    let url = broker.url();
    let k = Kiosk::start(&url, "d", "");
    status_until(&url, "d", |s| s["online"] == true, 20);
    broker.stop();
    // Serial (here stdin) keeps working without the broker.
    writeln!(&k.stdin, "a green tree on a hill").unwrap();
    k.reply_until(|e| e["event"] == "done", 30);
    std::thread::sleep(Duration::from_millis(500));
    broker.run();
    status_until(&url, "d", |s| s["online"] == true && s["generated"] == 1, 60);
    let o = edgepaint(&["send", "--mqtt", &url, "--to", "d", "--wait", "a boat at night"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(k.stderr().contains("cannot reach the broker") || k.stderr().contains("connection to the broker"), "{}", k.stderr());
}

#[test]
fn a_wrong_password_is_one_clear_line_and_no_crash() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let made = Command::new("mosquitto_passwd").arg("-b").arg("-c").arg(&users).args(["kiosk", "right"]).status().unwrap();
    assert!(made.success());
    let broker = Broker::start(&format!("allow_anonymous false\npassword_file {}\n", users.display()));
    let url = broker.url();
    for (file, pw) in [("wrong", "nope\n"), ("right", "right\n")] {
        std::fs::write(dir.path().join(file), pw).unwrap();
    }
    let wrong = dir.path().join("wrong");
    let k = Kiosk::start(&url, "e", &format!("username = \"kiosk\"\npassword_file = {:?}", wrong.display().to_string()));
    writeln!(&k.stdin, "a red house").unwrap();
    k.reply_until(|e| e["event"] == "done", 30);
    let err = k.stderr();
    assert_eq!(err.matches("refused the login").count(), 1, "logged once per outage:\n{err}");

    let o = edgepaint(&["fleet", "--mqtt", &url, "--username", "kiosk", "--password-file", wrong.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refused the login"), "{}", text(&o));
    let right = dir.path().join("right").display().to_string();
    let o = edgepaint(&["fleet", "--mqtt", &url, "--username", "kiosk", "--password-file", &right]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn tls_with_a_test_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let req = |key: &str, out: &str, subject: &str, extra: &[&str]| {
        let mut args = vec!["req"];
        args.extend(extra);
        args.extend(ec);
        args.extend(["-keyout", key, "-out", out, "-subj", subject]);
        openssl(d, &args);
    };
    req("ca.key", "ca.pem", "/CN=edgepaint test CA", &["-x509", "-days", "2"]);
    std::fs::write(d.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    // An extension makes it an X.509 v3 certificate (webpki takes no v1).
    std::fs::write(d.join("kiosk.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "kiosk"] {
        req(&format!("{who}.key"), &format!("{who}.csr"), &format!("/CN={who}"), &[]);
        let (csr, pem, ext) = (format!("{who}.csr"), format!("{who}.pem"), format!("{who}.ext"));
        let mut args = vec!["x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"];
        args.extend(["-out", &pem, "-days", "2", "-extfile", &ext]);
        openssl(d, &args);
    }
    let p = |f: &str| d.join(f).display().to_string();
    let broker = Broker::start(&format!(
        "allow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        p("ca.pem"),
        p("server.pem"),
        p("server.key")
    ));
    let url = format!("mqtts://127.0.0.1:{}", broker.port);
    let files = format!("ca_file = {:?}\ncert_file = {:?}\nkey_file = {:?}", p("ca.pem"), p("kiosk.pem"), p("kiosk.key"));
    let _k = Kiosk::start(&url, "f", &files);
    let tls = ["--ca-file", &p("ca.pem"), "--cert-file", &p("kiosk.pem"), "--key-file", &p("kiosk.key")];
    let mut args = vec!["send", "--mqtt", &url, "--to", "f", "--wait", "a red house"];
    args.extend(tls);
    let o = edgepaint(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Without a client certificate, and without our CA: refused.
    for args in [vec!["fleet", "--mqtt", &url, "--ca-file", &p("ca.pem")], vec!["fleet", "--mqtt", &url]] {
        let o = edgepaint(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    }
    let o = edgepaint(&["fleet", "--mqtt", &url]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("TLS"), "{}", text(&o));
}

#[test]
fn malformed_payloads_get_errors_and_a_flood_is_bounded() {
    let broker = Broker::start("allow_anonymous true\nmax_queued_messages 20000\n");
    let url = broker.url();
    let k = Kiosk::start(&url, "g", "");
    status_until(&url, "g", |s| s["online"] == true, 20);
    let mut events = Remote::connect(&config(&url), &["edgepaint/g/events".to_string()]).unwrap();
    let publish = |payload: &[u8]| {
        let mut c = Command::new("mosquitto_pub")
            .args(["-p", &broker.port.to_string(), "-t", "edgepaint/g/in", "-q", "1", "-s"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(payload).unwrap();
        assert!(c.wait().unwrap().success());
    };
    let mut next_error = || loop {
        let m = events.next(Instant::now() + Duration::from_secs(20)).unwrap().expect("an event");
        let e: Value = serde_json::from_slice(&m.payload).unwrap();
        if e["event"] == "error" {
            return e["code"].as_str().unwrap().to_string();
        }
    };
    publish(b"\xc3\x28 not utf-8");
    assert_eq!(next_error(), "invalid_utf8");
    publish(&[b'x'; 600]);
    assert_eq!(next_error(), "line_too_long");
    // Far over the limit: the connection is dropped and its session cleared, once.
    publish(&vec![b'y'; 200_000]);
    assert_eq!(next_error(), "line_too_long");
    status_until(&url, "g", |s| s["online"] == true, 30);

    let before = k.rss_kib();
    let flood: String = (0..10_000).map(|i| format!("a red house number {i}\n")).collect();
    let mut c = Command::new("mosquitto_pub")
        .args(["-p", &broker.port.to_string(), "-t", "edgepaint/g/in", "-q", "1", "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(flood.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
    // It keeps serving: a prompt after the flood is answered.
    let o = edgepaint(&["send", "--mqtt", &url, "--to", "g", "--wait", "--timeout", "120", "a boat on the sea"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let after = k.rss_kib();
    assert!(after < before + 20 * 1024, "RSS {before} -> {after} KiB after 10,000 messages");
    // The queue stayed bounded: most of the flood was answered `busy`.
    let (mut busy, mut accepted) = (0, 0);
    while let Ok(Some(m)) = events.next(Instant::now() + Duration::from_secs(2)) {
        let e: Value = serde_json::from_slice(&m.payload).unwrap();
        busy += (e["code"] == "busy") as usize;
        accepted += (e["event"] == "accepted") as usize;
    }
    assert!(busy > 1000 && accepted >= 1, "{busy} busy, {accepted} accepted");
    writeln!(&k.stdin, "/status").unwrap();
    let s = k.reply_until(|e| e["event"] == "status", 10);
    assert!(s["generated"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["dropped_events"].is_u64(), "{s}");
}

#[test]
fn bad_mqtt_sections_are_refused_and_an_unreachable_broker_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for (section, field) in
        [("url = \"mqtt://h:99999\"", "mqtt.url"), ("url = \"mqtt://h\"\nname = \"a/b\"", "mqtt.name"), ("bogus = 1", "mqtt")]
    {
        let board = board_file(dir.path(), section);
        let o = kiosk_command(dir.path(), &board).stdin(Stdio::null()).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{section}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(field) && err.lines().count() == 1, "{section}: {err}");
    }
    let o = kiosk_command(dir.path(), &board_file(dir.path(), "url = \"mqtt://127.0.0.1:1\"\npassword_file = \"p\""))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("mqtt.password_file"), "{}", text(&o));

    let url = format!("mqtt://127.0.0.1:{}", free_port());
    let k = Kiosk::start(&url, "h", "");
    writeln!(&k.stdin, "a red house").unwrap();
    k.reply_until(|e| e["event"] == "done", 30);
    std::thread::sleep(Duration::from_secs(3));
    let err = k.stderr();
    assert_eq!(err.matches("cannot reach the broker").count(), 1, "{err}");
}

#[test]
fn a_line_the_broker_took_while_the_kiosk_was_away_is_not_lost() {
    let broker = Broker::start("");
    let url = broker.url();
    let k = Kiosk::start(&url, "i", "");
    status_until(&url, "i", |s| s["online"] == true, 20);
    let dir = k.dir.path().to_path_buf();
    let pid = nix::unistd::Pid::from_raw(k.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    status_until(&url, "i", |s| s["state"] == "stopped", 20);
    // QoS 1: the broker acknowledges and keeps it for the kiosk's session.
    let o = edgepaint(&["send", "--mqtt", &url, "--to", "i", "a red house on a snowy field"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut again = kiosk_command(&dir, &dir.join("board.toml")).spawn().unwrap();
    let s = status_until(&url, "i", |s| s["generated"] == 1, 30);
    assert_eq!(s["last_picture"]["prompt"], "a red house on a snowy field");
    let _ = again.kill();
    let _ = again.wait();
}
