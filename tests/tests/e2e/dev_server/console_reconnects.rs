//! The console page keeps every message of a channel across API Gateway's cuts: headless
//! chromium (as in `console_chromium.rs`) opens the page of `mb dev
//! --max-connection-seconds 3`, joins a channel and stays while the test publishes 1,000
//! messages at about 50 a second; the page's client (mb.js, inlined) reconnects after
//! each cut and resumes, and delivers all of them, none twice, in order.
//!
//! Without chromium or chromedriver the test skips (and fails under CI). Every wait is
//! bounded.

use std::time::Duration;

use fantoccini::{Client, Locator};
use mb_tests::mb::DevServer;
use serde_json::Value;

use super::console_chromium::{SESSION, browser_tools, entries, session, shown, start_driver};

/// Runs `script` in the page and returns its value.
async fn run(browser: &Client, script: &str) -> Value {
    browser
        .execute(script, vec![])
        .await
        .expect("run in the page")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_gets_every_message_of_a_channel_across_cuts() {
    let Some((chromium, chromedriver)) = browser_tools() else {
        return;
    };
    let dev = DevServer::start(&["--max-connection-seconds", "3"]);
    let driver = start_driver(&chromedriver).await;
    let browser = tokio::time::timeout(Duration::from_secs(60), session(&driver, &chromium))
        .await
        .expect("chromium started within 60 s");
    let page = format!("{}/", dev.http);

    let session = async {
        browser.goto(&page).await.expect("open the console");
        run(
            &browser,
            "document.getElementById('channels').value = 'feed';",
        )
        .await;
        browser
            .find(Locator::Id("connect"))
            .await
            .expect("the Connect button")
            .click()
            .await
            .expect("click Connect");
        // Once the channel has a position, every later message must arrive.
        shown(&browser, &["resumed channel feed at"]).await;
        run(
            &browser,
            "window.got = []; window.gaps = []; \
             window.mbClient.on('message', function (msg) { window.got.push(msg.data); }); \
             window.mbClient.on('gap', function (gap) { window.gaps.push(gap.reason); });",
        )
        .await;

        let start = tokio::time::Instant::now();
        for i in 0..1000u64 {
            let url = format!("{}/publish?channel=feed", dev.http);
            let (status, body) = mb_tests::http_post(&url, &format!("m{i}")).await;
            assert_eq!(status, 200, "publish {i}: {body}");
            tokio::time::sleep_until(start + Duration::from_millis(20 * (i + 1))).await;
        }
        let all = mb_tests::eventually(Duration::from_secs(60), || async {
            run(&browser, "return window.got.length;").await.as_u64() >= Some(1000)
        })
        .await;
        // Late duplicates would come in the next moment.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let got = run(&browser, "return window.got;").await;
        let gaps = run(&browser, "return window.gaps;").await;
        (all, got, gaps)
    };
    let (all, got, gaps) = tokio::time::timeout(SESSION, session)
        .await
        .unwrap_or_else(|_| panic!("the browser session took over {SESSION:?}"));
    let got: Vec<String> = serde_json::from_value(got).expect("strings");
    let expected: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    if got != expected {
        let missing: Vec<&String> = expected.iter().filter(|e| !got.contains(e)).collect();
        let list = entries(&browser).await;
        let notes: Vec<&String> = list
            .iter()
            .filter(|(class, _)| !class.starts_with("msg"))
            .map(|(_, text)| text)
            .collect();
        panic!(
            "all arrived: {all}; {} delivered; missing {missing:?}; the page's notes: {notes:#?}",
            got.len()
        );
    }
    assert_eq!(gaps, serde_json::json!([]), "no gap was reported");
    // The page shows the last one, and that it reconnected: mb dev cut it every 3 s.
    shown(&browser, &["m999"]).await;
    shown(&browser, &["reconnected to ", "channel=feed"]).await;
    let opened = dev
        .stderr()
        .iter()
        .filter(|l| l.contains("connection opened"))
        .count();
    assert!(opened >= 6, "mb dev opened {opened} connections");
    let _ = browser.close().await;
}
