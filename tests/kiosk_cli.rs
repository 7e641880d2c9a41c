//! `edgepaint kiosk` end to end on the fixture bundle: a scripted stdin
//! session, and a session over a real pseudo-terminal pair (the serial
//! path: raw termios, exact JSON replies, still alive at the end, SIGTERM
//! finishes cleanly).

mod common;
use common::fixture;
use serde_json::{json, Value};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn board() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("board/desktop.toml")
}

fn kiosk(dir: &Path, extra: &[&str]) -> Command {
    let frames = format!("png:{}", dir.join("frames").display());
    let mut c = common::kiosk_command(dir, &fixture("bundles/tiny-flow"), &frames);
    c.args(extra);
    c
}

fn parse(lines: &str) -> Vec<Value> {
    lines.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect()
}

/// `ms` varies from run to run; everything else is exact.
fn without_ms(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        assert!(o.remove("ms").is_none_or(|ms| ms.is_u64()));
    }
    v
}

#[test]
fn scripted_stdin_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = kiosk(dir.path(), &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut script = b"/seed 7\n/steps 2\na red house on a snowy field at night\n/frobnicate\n".to_vec();
    script.extend(b"\xc3\x28 bad utf-8\n");
    script.extend(vec![b'x'; 513]);
    script.extend(b"\n/seed seven\n/steps 3\n/status\n");
    child.stdin.take().unwrap().write_all(&script).unwrap();
    // stdin closed: the kiosk finishes the queued picture, then exits 0.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let replies = parse(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(replies[0]["event"], "ready");
    assert_eq!(replies[0]["model"], "tiny-flow");
    assert_eq!(replies[0]["board"], "desktop");
    assert_eq!(replies[0]["steps"], json!([1, 2, 4]));

    // Replies to lines come in order; the generation's reports interleave.
    let (gen, lines): (Vec<Value>, Vec<Value>) =
        replies[1..].iter().cloned().partition(|v| v["event"] == "progress" || v["event"] == "done");
    let code = |v: &Value| v["code"].as_str().unwrap_or("").to_string();
    assert_eq!(lines[0]["event"], "status");
    assert_eq!(lines[1]["event"], "status");
    assert_eq!(lines[1]["steps"], 2);
    assert_eq!(
        lines[2],
        json!({"event": "accepted", "id": 1, "prompt": "a red house on a snowy field at night", "seed": 7, "steps": 2, "position": 0})
    );
    let codes: Vec<String> = lines[3..8].iter().map(code).collect();
    assert_eq!(codes, ["unknown_command", "invalid_utf8", "line_too_long", "bad_number", "bad_argument"]);
    assert_eq!(lines[3]["message"], "unknown command /frobnicate; /help lists them");
    assert_eq!(lines[7]["message"], "steps must be one of 1, 2, 4 for model tiny-flow (got 3)");
    assert_eq!(lines[8]["event"], "status");
    assert_eq!(lines.len(), 9, "{lines:?}");

    assert_eq!(gen[0], json!({"event": "progress", "id": 1, "step": 1, "of": 2}));
    assert_eq!(gen[1], json!({"event": "progress", "id": 1, "step": 2, "of": 2}));
    let done = without_ms(gen[2].clone());
    let path = dir.path().join("pictures/000001-7.png");
    let bytes = std::fs::read(&path).unwrap();
    use sha2::Digest;
    assert_eq!(
        done,
        json!({"event": "done", "id": 1, "seed": 7, "path": path.display().to_string(),
               "sha256": hex::encode(sha2::Sha256::digest(&bytes))})
    );
    // The same picture `generate` makes, with the same metadata.
    let text = edgepaint::image::read_png_text(&bytes).unwrap();
    assert!(text.contains(&("prompt".into(), "a red house on a snowy field at night".into())));
    assert!(text.contains(&("seed".into(), "7".into())));
    assert!(text.contains(&("steps".into(), "2".into())));
    // The png display drew the idle screen, the start, the last step (earlier
    // steps only when the display kept up with the model) and the result.
    let frames = std::fs::read_dir(dir.path().join("frames")).unwrap().count();
    assert!(frames >= 4, "{frames} frames");
}

/// A pseudo-terminal pair: the kiosk gets the slave as --serial, the test
/// talks on the master like a microcontroller on a UART.
#[test]
fn serial_session_over_a_pty() {
    use nix::pty::openpty;
    use nix::sys::termios;
    let pty = openpty(None, None).unwrap();
    let slave_path = nix::unistd::ttyname(&pty.slave).unwrap();
    // openpty(3) leaves both ends inheritable: the kiosk must not hold the master.
    for fd in [&pty.master, &pty.slave] {
        use std::os::fd::AsRawFd;
        nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).unwrap();
    }
    // Raw from the start, so nothing the test writes is echoed back.
    let mut t = termios::tcgetattr(&pty.slave).unwrap();
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(&pty.slave, termios::SetArg::TCSANOW, &t).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let child = kiosk(dir.path(), &["--serial", slave_path.to_str().unwrap(), "--no-stdin"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(child);
    let master = std::fs::File::from(pty.master);
    let mut writer = master.try_clone().unwrap();
    let mut reader = BufReader::new(master);
    let ready = next(&mut reader);
    assert_eq!(ready["event"], "ready");
    assert_eq!(ready["presets"], json!(["Snowy house", "Sunset sea", "Forest"]));

    let exchange = |writer: &mut std::fs::File, reader: &mut BufReader<std::fs::File>, input: &[u8], expected: &[Value]| {
        writer.write_all(input).unwrap();
        for e in expected {
            assert_eq!(&without_ms(next(reader)), e, "after {:?}", String::from_utf8_lossy(input));
        }
    };
    exchange(&mut writer, &mut reader, b"/steps 1\r\n", &[json!({"event": "status", "state": "idle", "queue": 0, "seed": null, "steps": 1, "best_of": 1, "generated": 0, "blocked": 0})]);
    exchange(&mut writer, &mut reader, b"/nope\n", &[json!({"event": "error", "code": "unknown_command", "message": "unknown command /nope; /help lists them"})]);
    exchange(&mut writer, &mut reader, b"\xff\xfe\n", &[json!({"event": "error", "code": "invalid_utf8", "message": "the line is not valid UTF-8"})]);
    let mut long = vec![b'y'; 2000];
    long.push(b'\n');
    exchange(&mut writer, &mut reader, &long, &[json!({"event": "error", "code": "line_too_long", "message": "the line is longer than 512 bytes"})]);
    exchange(&mut writer, &mut reader, b"/preset 4\n", &[json!({"event": "error", "code": "no_such_preset", "message": "preset 4 does not exist; there are 3"})]);
    exchange(&mut writer, &mut reader, b"/rate up\n", &[json!({"event": "error", "code": "nothing_to_rate", "message": "no picture to rate yet"})]);
    exchange(&mut writer, &mut reader, b"/preset 1\n", &[
        json!({"event": "accepted", "id": 1, "prompt": "a red house on a snowy field at night", "seed": 7, "steps": 1, "position": 0}),
        json!({"event": "progress", "id": 1, "step": 1, "of": 1}),
    ]);
    let path = dir.path().join("pictures/000001-7.png");
    let done = without_ms(next(&mut reader));
    assert_eq!(done["event"], "done");
    assert_eq!(done["path"], path.display().to_string());
    assert!(path.is_file(), "announced before it was written");
    exchange(&mut writer, &mut reader, b"/rate down\n", &[json!({"event": "rated", "id": 1, "rating": "down"})]);
    exchange(&mut writer, &mut reader, b"/status\n", &[json!({"event": "status", "state": "idle", "queue": 0, "seed": null, "steps": 1, "best_of": 1, "generated": 1, "blocked": 0})]);

    // The other end goes away (a cable pulled): the kiosk waits for it to
    // come back instead of exiting.
    drop(writer);
    drop(reader);
    std::thread::sleep(Duration::from_millis(1500));
    // Still alive after all that; SIGTERM ends it cleanly (exit 0).
    let child = &mut guard.0;
    assert!(child.try_wait().unwrap().is_none(), "the kiosk exited");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("is gone; waiting for it to come back"), "{err}");
}

fn next(reader: &mut BufReader<std::fs::File>) -> Value {
    read_line(reader, Duration::from_secs(60))
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One JSON line from the pty master, failing the test after `timeout`.
fn read_line(reader: &mut BufReader<std::fs::File>, timeout: Duration) -> Value {
    use std::os::fd::AsFd;
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        if !reader.buffer().is_empty() || {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut fds = [nix::poll::PollFd::new(reader.get_ref().as_fd(), nix::poll::PollFlags::POLLIN)];
            let ms = nix::poll::PollTimeout::try_from(left.as_millis().min(10_000) as i32).unwrap();
            nix::poll::poll(&mut fds, ms).unwrap() > 0
        } {
            let mut byte = [0u8; 1];
            reader.read_exact(&mut byte).unwrap();
            if byte[0] == b'\n' {
                return serde_json::from_slice(&line)
                    .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(&line)));
            }
            line.push(byte[0]);
        }
        assert!(Instant::now() < deadline, "no reply within {timeout:?}; got {:?}", String::from_utf8_lossy(&line));
    }
}

#[test]
fn bad_board_or_options_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\n[queue]\ncapacity = 0\n").unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let o = common::edgepaint_command().arg("kiosk").args(args).stdin(Stdio::null()).output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    // No --board and no installed /etc/edgepaint/board.toml: say where board files are.
    if !std::path::Path::new("/etc/edgepaint/board.toml").exists() {
        let (code, err) = run(&[]);
        assert_eq!(code, Some(2));
        assert!(err.starts_with("error: no board file: give --board FILE.toml") && err.contains("/usr/share/edgepaint/boards"), "{err}");
    }
    let (code, err) = run(&["--board".as_ref(), bad.as_os_str()]);
    assert_eq!(code, Some(2));
    assert_eq!(err, format!("error: board file {}: queue.capacity: must be at least 1\n", bad.display()));
    let (code, err) = run(&["--board".as_ref(), board().as_os_str(), "--display".as_ref(), "vga:1".as_ref()]);
    assert_eq!(code, Some(2));
    // clap's usage error (the value parser's reason in it).
    assert!(err.starts_with("error: ") && err.contains("--display") && err.contains("must be png:DIR, fb:PATH or none (got \"vga:1\")"), "{err}");
    let (code, err) =
        run(&["--board".as_ref(), board().as_os_str(), "--model".as_ref(), fixture("bundles/tiny-flow").as_os_str(),
              "--display".as_ref(), "none".as_ref(), "--serial".as_ref(), dir.path().join("ttyNONE").as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("error: serial device ") && err.ends_with("No such file or directory (os error 2)\n"), "{err}");
}

/// Under systemd (`Type=notify`, `WatchdogSec=`): READY when serving, the
/// watchdog petted from the main loop, STOPPING at the end. The test plays
/// systemd's notify socket.
#[test]
fn tells_systemd_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut child = kiosk(dir.path(), &[])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a tree\n").unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 256];
    let started = Instant::now();
    // Idle after the picture: the main loop still turns and pets.
    while started.elapsed() < Duration::from_millis(1800) {
        let n = socket.recv(&mut buf).unwrap();
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    drop(stdin);
    loop {
        let n = socket.recv(&mut buf).unwrap();
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if messages.last().unwrap() == "STOPPING=1\n" {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(messages[0], "READY=1\n", "{messages:?}");
    let pets = messages.iter().filter(|m| *m == "WATCHDOG=1\n").count();
    assert!(pets >= 2, "{messages:?}");
}

/// Without `--output` and `--display` the desktop board's relative folders
/// are under the data home: `$XDG_DATA_HOME/edgepaint` for a user,
/// `$STATE_DIRECTORY` under the systemd unit; the working directory stays
/// empty.
#[test]
fn pictures_and_frames_go_to_the_data_home_never_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let run = |env: &[(&str, PathBuf)]| {
        let mut c = common::edgepaint_command();
        c.args(["kiosk", "--board"]).arg(board()).arg("--model").arg(fixture("bundles/tiny-flow"));
        c.current_dir(&cwd).env_remove("STATE_DIRECTORY").env_remove("XDG_DATA_HOME").env_remove("EDGEPAINT_MODEL");
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"/seed 3\na red house\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let done = parse(&String::from_utf8(out.stdout).unwrap()).into_iter().find(|v| v["event"] == "done").unwrap();
        PathBuf::from(done["path"].as_str().unwrap())
    };
    let user = run(&[("HOME", dir.path().join("home"))]);
    let home = dir.path().join("home/.local/share/edgepaint");
    assert_eq!(user, home.join("pictures/000001-3.png"));
    assert!(home.join("frames/latest.png").is_file());
    let xdg = run(&[("HOME", dir.path().join("home")), ("XDG_DATA_HOME", dir.path().join("xdg"))]);
    assert!(xdg.starts_with(dir.path().join("xdg/edgepaint/pictures")), "{}", xdg.display());
    let service = run(&[("STATE_DIRECTORY", dir.path().join("state")), ("HOME", dir.path().join("home"))]);
    assert!(service.starts_with(dir.path().join("state/pictures")), "{}", service.display());
    assert!(dir.path().join("state/frames/latest.png").is_file());
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "the kiosk wrote into its working directory");
}
