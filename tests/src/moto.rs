//! moto (`moto_server`) on a free loopback port, one per test, killed when dropped.
//!
//! The binary comes from the project's venv (`.venv/bin/moto_server`, made by
//! `scripts/test`) or `MB_MOTO_SERVER`; never from whatever is on `PATH`. When it is
//! missing, tests skip with a message, except under CI, where they fail.
//!
//! It runs through `tests/moto/mb_moto_server.py` with the Python next to `moto_server`:
//! moto_server plus the CloudFormation resource type `AWS::Lambda::Url` (the publish
//! endpoint of mb's template), which moto implements as an API but not as a resource.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn binary() -> PathBuf {
    std::env::var_os("MB_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join(".venv/bin/moto_server"))
}

impl Moto {
    /// Starts moto, or returns `None` (after saying why) when it is not installed and
    /// this is not CI. Under CI a missing moto panics: the test fails, never skips.
    pub fn start() -> Option<Moto> {
        Moto::launch(None)
    }

    /// As [`Moto::start`], with Python switching threads every `interval` (its default is
    /// 5 ms): a race between two requests that a default moto shows once in many runs then
    /// shows in most.
    pub fn start_switching_threads_every(interval: Duration) -> Option<Moto> {
        Moto::launch(Some(interval))
    }

    fn launch(switch_interval: Option<Duration>) -> Option<Moto> {
        let binary = crate::required_tool(binary(), "moto_server")?;
        // The venv's Python runs moto_server's `main` with mb's function URL model.
        let python = binary.with_file_name("python");
        let server = crate::workspace_root().join("tests/moto/mb_moto_server.py");
        // The free port can be taken by another test between our check and moto's bind;
        // moto then exits, and a new port is tried.
        for _ in 0..3 {
            let port = free_port();
            let mut command = Command::new(&python);
            if let Some(interval) = switch_interval {
                command.env(
                    "MB_MOTO_SWITCH_INTERVAL_S",
                    format!("{:.9}", interval.as_secs_f64()),
                );
            }
            let child = command
                .arg(&server)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
            let mut moto = Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            };
            if moto.wait_ready(port) {
                return Some(moto);
            }
        }
        panic!("moto_server exited three times before listening");
    }

    /// Waits (at most 60 s) until this moto listens; false if it exited first, or if
    /// the port answered from another process (another test's moto took the free port
    /// between our check and this one's bind: talking to it would mix two tests' state).
    fn wait_ready(&mut self, port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                match listens_on(self.child.id(), port) {
                    Some(false) => {
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        return false;
                    }
                    Some(true) | None => return true,
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not listen on port {port} within 60 s");
    }

    /// SDK configuration with every client pointed at this moto.
    pub async fn sdk_config(&self) -> SdkConfig {
        crate::sdk_config(Some(&self.endpoint), None).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the process `pid` holds the socket listening on loopback `port`, read from
/// Linux's `/proc` (the listening socket's inode among the process's descriptors); `None`
/// where `/proc` cannot tell.
fn listens_on(pid: u32, port: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!(":{port:04X}");
    // Columns: sl, local_address, rem_address, st (0A = LISTEN), ..., inode (10th).
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 9 && fields[1].ends_with(&local) && fields[3] == "0A")
                .then(|| format!("socket:[{}]", fields[9]))
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let descriptors = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(descriptors.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    }))
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check that keeps a test off another test's moto tells the listener's owner.
    #[test]
    fn the_listening_process_is_told_apart() {
        let Some(moto) = Moto::start() else { return };
        let port: u16 = moto
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        assert_eq!(listens_on(moto.child.id(), port), Some(true));
        assert_eq!(listens_on(std::process::id(), port), Some(false));
    }
}
