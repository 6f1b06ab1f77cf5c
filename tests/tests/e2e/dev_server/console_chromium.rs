//! The browser console end to end: Debian's real `chromium`, headless, driven through
//! `chromedriver` (WebDriver) against the built `mb dev`. Two tabs connect; one sends
//! `hi there` and both lists show it, the sender's marked as its own; a JSON object is
//! shown merged with `_now` and `_me`; an over-size message shows the error frame. The
//! test saves a screenshot to `target/console.png` (and to `docs/console.png`, which the
//! README shows, with `MB_UPDATE_DOCS=1`).
//!
//! Without chromium or chromedriver (./scripts/test installs them where it may) the test
//! skips, and fails under CI. Every wait is bounded.
//!
//! `mb console` runs against the CloudFormation wire fake's stack: it prints a loopback
//! address whose page (a plain HTTP GET) points at the stack's `wss://` URL, asks for a
//! token when the stack requires one, warns about an allowlist without its origin, opens
//! the browser `BROWSER` names with `--open`, and stops on Ctrl-C; without a stack it
//! fails with one clear sentence.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use mb_tests::fake_cloudformation::{FakeCloudFormation, StackSetup};
use mb_tests::mb::{self, DevServer};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one thing the page should show may take to show.
pub(super) const SHOWN: Duration = Duration::from_secs(10);
/// The whole browser session.
pub(super) const SESSION: Duration = Duration::from_secs(180);

/// chromedriver on a free loopback port, in its own process group so that the browsers
/// it starts go with it.
pub(super) struct Driver {
    child: Child,
    url: String,
    profile: TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        // SAFETY: kill(2) on the process group this test started; no memory is involved.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// A folder removed at the end (chromium's profile).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// chromium and chromedriver, or `None` after saying why the test skips (a failure
/// under CI).
pub(super) fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return Some((PathBuf::from(CHROMIUM), PathBuf::from(CHROMEDRIVER)));
    }
    mb_tests::skip(&format!(
        "{} not found: install Debian's chromium and chromium-driver packages (./scripts/test \
         does as root or with passwordless sudo: apt-get install chromium chromium-driver)",
        missing.join(" and ")
    ));
    None
}

pub(super) async fn start_driver(chromedriver: &Path) -> Driver {
    use std::os::unix::process::CommandExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    // One profile per browser: two at once cannot share one.
    static DRIVERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = DRIVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile =
        std::env::temp_dir().join(format!("mb-console-chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).expect("a profile folder");
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: TempDir(profile),
    };
    let address = format!("127.0.0.1:{port}");
    let up = mb_tests::eventually(Duration::from_secs(20), || {
        let address = address.clone();
        async move { tokio::net::TcpStream::connect(address).await.is_ok() }
    })
    .await;
    assert!(up, "chromedriver did not listen on {address} within 20 s");
    driver
}

pub(super) async fn session(driver: &Driver, chromium: &Path) -> Client {
    let profile = driver.profile.0.display().to_string();
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            // Without the network flags chromium keeps calling home (the machine has no
            // route out, and tests talk only to 127.0.0.1).
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage",
                format!("--user-data-dir={profile}"),
            ],
        },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// What the page's message list shows: each entry's class and text.
pub(super) async fn entries(browser: &Client) -> Vec<(String, String)> {
    let value = browser
        .execute(
            "return Array.from(document.querySelectorAll('#messages li'))\
               .map(li => [li.className, li.innerText]);",
            vec![],
        )
        .await
        .expect("read the list");
    serde_json::from_value(value).expect("pairs of text")
}

/// Waits (at most [`SHOWN`]) for an entry whose text has every one of `parts`.
pub(super) async fn shown(browser: &Client, parts: &[&str]) -> (String, String) {
    let deadline = tokio::time::Instant::now() + SHOWN;
    loop {
        let all = entries(browser).await;
        if let Some(found) = all
            .iter()
            .find(|(_, text)| parts.iter().all(|p| text.contains(p)))
        {
            return found.clone();
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("no entry with {parts:?} within {SHOWN:?}; the list: {all:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens the console in the current tab and connects (at most [`SHOWN`]).
pub(super) async fn connect(browser: &Client, page: &str) {
    browser.goto(page).await.expect("open the console");
    browser
        .find(Locator::Id("connect"))
        .await
        .expect("the Connect button")
        .click()
        .await
        .expect("click Connect");
    let deadline = tokio::time::Instant::now() + SHOWN;
    loop {
        let status = browser
            .find(Locator::Id("status"))
            .await
            .expect("the status")
            .text()
            .await
            .expect("its text");
        if status == "Connected" {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page did not connect within {SHOWN:?}: {status}; {:#?}",
            entries(browser).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `text` in the message box and presses Enter, as a user does.
async fn type_and_enter(browser: &Client, text: &str) {
    let message = browser
        .find(Locator::Id("message"))
        .await
        .expect("the message box");
    message.send_keys(text).await.expect("type the message");
    message
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .expect("press Enter");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_pages_see_each_message_and_the_sender_sees_its_own_marked() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let dev = DevServer::start(&[]);
    let driver = start_driver(&chromedriver).await;
    let browser = tokio::time::timeout(Duration::from_secs(60), session(&driver, &chromium))
        .await
        .expect("chromium started within 60 s");
    let page = format!("{}/", dev.http);

    let run = async {
        // Room for the whole page in the screenshot.
        browser
            .set_window_size(1280, 1160)
            .await
            .expect("size the window");
        // The sender's tab, then the other's.
        let sender = browser.window().await.expect("the first tab");
        connect(&browser, &page).await;
        let other = browser.new_window(true).await.expect("a second tab").handle;
        browser
            .switch_to_window(other.clone())
            .await
            .expect("to the second tab");
        connect(&browser, &page).await;
        browser
            .switch_to_window(sender.clone())
            .await
            .expect("to the first tab");

        // Text: both lists show it; only the sender's copy is marked, in words.
        type_and_enter(&browser, "hi there").await;
        let (class, text) = shown(&browser, &["hi there"]).await;
        assert!(class.split(' ').any(|c| c == "mine"), "{class}: {text}");
        assert!(text.contains("(you)"), "{text}");
        assert!(text.contains("delivered in "), "{text}");
        browser.switch_to_window(other.clone()).await.unwrap();
        let (class, text) = shown(&browser, &["hi there"]).await;
        assert!(!class.split(' ').any(|c| c == "mine"), "{class}: {text}");
        assert!(!text.contains("(you)"), "{text}");

        // A JSON object is shown merged: its keys, then the server's _now and _me.
        browser.switch_to_window(sender.clone()).await.unwrap();
        type_and_enter(&browser, r#"{"type":"act","payload":"left"}"#).await;
        let (_, text) = shown(&browser, &[r#"{"type":"act","payload":"left","_now":"#]).await;
        assert!(text.contains(r#""_me":true}"#), "{text}");
        browser.switch_to_window(other.clone()).await.unwrap();
        let (_, text) = shown(&browser, &[r#"{"type":"act","payload":"left","_now":"#]).await;
        assert!(text.contains(r#""_me":false}"#), "{text}");

        // Over the limit once _now and _me are added: the sender's error frame, in words
        // and in its own style; the other tab gets nothing.
        browser.switch_to_window(sender.clone()).await.unwrap();
        browser
            .execute(
                "document.getElementById('message').value = 'x'.repeat(131050);",
                vec![],
            )
            .await
            .expect("fill the message box");
        browser
            .find(Locator::Id("send"))
            .await
            .expect("the Send button")
            .click()
            .await
            .expect("click Send");
        let (class, text) = shown(&browser, &["Error: message_too_large"]).await;
        assert!(class.split(' ').any(|c| c == "error"), "{class}: {text}");
        assert!(
            text.contains("over API Gateway's 131072-byte limit"),
            "{text}"
        );
        browser.switch_to_window(other.clone()).await.unwrap();
        type_and_enter(&browser, "after the refusal").await;
        shown(&browser, &["after the refusal"]).await;
        assert!(
            !entries(&browser)
                .await
                .iter()
                .any(|(_, t)| t.contains("message_too_large")),
            "the refusal reached only its sender"
        );

        // The sender's view, for the README.
        browser.switch_to_window(sender).await.unwrap();
        shown(&browser, &["after the refusal"]).await;
        browser.screenshot().await.expect("a screenshot")
    };
    let screenshot = tokio::time::timeout(SESSION, run)
        .await
        .unwrap_or_else(|_| panic!("the browser session took over {SESSION:?}"));
    let _ = browser.close().await;

    let root = mb_tests::workspace_root();
    let target = root.join("target/console.png");
    std::fs::write(&target, &screenshot).expect("write target/console.png");
    if std::env::var("MB_UPDATE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(root.join("docs/console.png"), &screenshot).expect("write docs/console.png");
    }
    assert!(
        screenshot.starts_with(b"\x89PNG"),
        "the screenshot is a PNG"
    );
}

/// A running `mb console`, killed at the end whatever happens.
struct Console {
    child: Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CloudFormation fake's endpoint and test credentials: `mb console` reads nothing else.
fn fake_vars(fake: &FakeCloudFormation) -> Vec<(&str, &str)> {
    let mut vars = mb::loopback_aws_env();
    vars.push(("AWS_ENDPOINT_URL_CLOUDFORMATION", &fake.endpoint));
    vars
}

/// The JSON block the page reads its settings from.
fn page_config(page: &str) -> Value {
    let open = r#"<script type="application/json" id="mb-config">"#;
    let start = page.find(open).expect("the page's config block") + open.len();
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end]).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn mb_console_serves_the_page_pointed_at_the_deployed_stack() {
    let mut setup = StackSetup::new("mb-chat-dev", "UPDATE_COMPLETE");
    setup.parameters = vec![
        ("Auth".into(), "jwt".into()),
        ("AllowedOrigins".into(), "https://app.example".into()),
    ];
    let fake = FakeCloudFormation::start(Some(setup)).await;
    // `--open` runs the browser BROWSER names: here, a script that writes down the URL.
    let dir = TempDir(std::env::temp_dir().join(format!("mb-console-open-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let opened = dir.0.join("opened");
    let browser = dir.0.join("browser");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut vars = fake_vars(&fake);
    let browser_var = browser.display().to_string();
    vars.push(("BROWSER", &browser_var));
    let args = [
        "console",
        "--service",
        "chat",
        "--region",
        "us-east-1",
        "--port",
        "0",
        "--open",
    ];
    let mut child = mb::command(&args, &vars)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mb console");
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut text);
        text
    });
    let mut console = Console {
        child,
        stdout: rx,
        stderr: Some(stderr),
    };

    // It prints where the page is (on loopback), and that a token is needed.
    let mut printed = Vec::new();
    let page = tokio::task::block_in_place(|| {
        loop {
            let line = console
                .stdout
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no `open http://` line within 30 s: {printed:?}"));
            printed.push(line.clone());
            if let Some(rest) = line.trim().strip_prefix("open ") {
                break rest.trim_end_matches(" in a browser").to_owned();
            }
        }
    });
    assert!(page.starts_with("http://127.0.0.1:"), "{page}");
    assert!(
        printed[0].starts_with("mb console: service chat, stage dev (us-east-1) on wss://abc123.execute-api.us-east-1.amazonaws.com/dev"),
        "{printed:?}"
    );
    let next = console.stdout.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        next.contains("tokens are required: `mb token --service chat --stage dev`"),
        "{next}"
    );

    // The page, fetched as a browser does first, points at the stack's URL.
    let (status, content_type, body) = mb_tests::http_get(&format!("{page}/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    let config = page_config(&body);
    assert_eq!(
        config["url"],
        "wss://abc123.execute-api.us-east-1.amazonaws.com/dev"
    );
    assert_eq!(config["tokenRequired"], true);
    assert_eq!(config["publish"], false);
    assert!(
        config["tokenHint"]
            .as_str()
            .unwrap()
            .contains("mb token --service chat --stage dev"),
        "{config}"
    );

    // --open handed the page's address to the browser.
    let handed = mb_tests::eventually(Duration::from_secs(10), || {
        let opened = opened.clone();
        async move { opened.exists() }
    })
    .await;
    assert!(handed, "the BROWSER program was not run within 10 s");
    assert_eq!(std::fs::read_to_string(&opened).unwrap().trim(), page);

    // Ctrl-C stops it, as it stops mb dev: exit 0.
    let _ = Command::new("kill")
        .args(["-INT", &console.child.id().to_string()])
        .status();
    let status = mb_tests::eventually(Duration::from_secs(10), || {
        let done = matches!(console.child.try_wait(), Ok(Some(_)));
        async move { done }
    })
    .await;
    assert!(status, "mb console did not stop within 10 s of Ctrl-C");
    let code = console.child.wait().unwrap().code();
    assert_eq!(code, Some(0));
    // The rest of what it printed (the reader ends with the process's stdout).
    let rest: Vec<String> =
        std::iter::from_fn(|| console.stdout.recv_timeout(Duration::from_secs(5)).ok()).collect();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("mb console: stopped"),
        "{rest:?}"
    );
    // The allowlist leaves out the console's origin: a warning names it.
    let stderr = console.stderr.take().unwrap().join().unwrap();
    assert!(
        stderr.contains(&format!(
            "the allowed origins (https://app.example) do not include the console's, {page}"
        )),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mb_console_without_a_stack_is_one_clear_error() {
    let fake = FakeCloudFormation::start(None).await;
    let out = mb::run_async(
        &[
            "console",
            "--service",
            "chat",
            "--region",
            "us-east-1",
            "--port",
            "0",
        ],
        &fake_vars(&fake),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = mb_tests::text(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "error: no stack mb-chat-dev in us-east-1: service `chat` stage `dev` is not deployed \
         there (deploy it with `mb deploy --service chat --stage dev`)",
    );
    assert!(out.stdout.is_empty(), "{}", mb_tests::text(&out.stdout));
}
