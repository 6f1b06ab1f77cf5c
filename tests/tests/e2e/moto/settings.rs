//! Settings that persist, through the built `mb` against moto (S3, STS and CloudFormation,
//! whose change sets honour `UsePreviousValue`): a setting given once stays deployed until
//! it is changed, `mb.toml` gives settings and flags win over it, `mb info` shows them, and
//! a value out of range is refused before any AWS call.

use mb_tests::deploying::Deploying;
use mb_tests::{assert_ok, text};

const STACK: &str = "mb-tune-dev";

/// The stack's parameter `key`, read back with the SDK.
async fn parameter(cf: &aws_sdk_cloudformation::Client, key: &str) -> String {
    mb_tests::deployed_parameter(cf, STACK, key).await
}

/// moto behind the recorder, for the service `tune`.
async fn world() -> Option<(Deploying, aws_sdk_cloudformation::Client)> {
    let world = Deploying::start("tune").await?;
    let cf = aws_sdk_cloudformation::Client::new(&world.config);
    Some((world, cf))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_setting_stays_deployed_until_changed_and_flags_win_over_mb_toml() {
    let Some((world, cf)) = world().await else {
        return;
    };

    // 1. A first deploy with settings: the stack takes them, the rest their defaults.
    let first = world.deploy(&["--memory", "512", "--timeout", "20"]).await;
    assert_ok("the first deploy", &first);
    assert_eq!(parameter(&cf, "MemorySize").await, "512");
    assert_eq!(parameter(&cf, "Timeout").await, "20");
    assert_eq!(parameter(&cf, "FanoutConcurrency").await, "960");

    // 2. A deploy without settings keeps them, and has nothing to change.
    let again = world.deploy(&[]).await;
    assert_ok("the deploy without settings", &again);
    assert!(
        text(&again.stderr).contains("no changes"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(parameter(&cf, "MemorySize").await, "512");
    assert_eq!(parameter(&cf, "Timeout").await, "20");

    // 3. mb.toml (found in the current folder) gives settings; a flag wins over it. A
    //    change of settings alone is a change-set update.
    std::fs::write(
        world.dir.join("mb.toml"),
        "memory = 1024\nlog-retention = 30\n",
    )
    .expect("write mb.toml");
    let tuned = world.deploy(&["--memory", "768"]).await;
    assert_ok("the deploy with mb.toml and a flag", &tuned);
    assert!(
        text(&tuned.stderr).contains("UPDATE_COMPLETE"),
        "{}",
        text(&tuned.stderr)
    );
    assert_eq!(parameter(&cf, "MemorySize").await, "768");
    assert_eq!(parameter(&cf, "LogRetentionInDays").await, "30");
    assert_eq!(parameter(&cf, "Timeout").await, "20", "kept from step 1");

    // 4. mb info shows the deployed settings.
    let info = world.mb("info", &["--json"]).await;
    assert_ok("info", &info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert_eq!(info["settings"]["memory"], 768);
    assert_eq!(info["settings"]["timeout"], 20);
    assert_eq!(info["settings"]["log-retention"], 30);
    let info = world.mb("info", &[]).await;
    assert!(
        text(&info.stdout)
            .lines()
            .any(|l| l.starts_with("  memory ") && l.ends_with(" 768 MB")),
        "{}",
        text(&info.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_out_of_range_is_refused_before_any_aws_call() {
    let Some((world, _cf)) = world().await else {
        return;
    };
    let flag = world.deploy(&["--memory", "64"]).await;
    assert_eq!(flag.status.code(), Some(2), "{}", text(&flag.stderr));
    assert!(
        text(&flag.stderr).contains("from 128 to 10240"),
        "{}",
        text(&flag.stderr)
    );

    let file = world.dir.join("other.toml");
    std::fs::write(&file, "throttle-burst = 0\n").expect("write the file");
    let config = file.to_string_lossy().into_owned();
    let from_file = world.deploy(&["--config", &config]).await;
    assert_eq!(
        from_file.status.code(),
        Some(2),
        "{}",
        text(&from_file.stderr)
    );
    let stderr = text(&from_file.stderr);
    assert!(stderr.contains("other.toml"), "names the file: {stderr}");
    assert!(
        stderr.contains("throttle-burst 0 is not allowed"),
        "{stderr}"
    );
    assert!(stderr.contains("from 1 to 5000"), "{stderr}");

    let typo = world.dir.join("typo.toml");
    std::fs::write(&typo, "memroy = 512\n").expect("write the file");
    let typo = typo.to_string_lossy().into_owned();
    let out = world.deploy(&["--config", &typo]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("unknown key `memroy`"),
        "{}",
        text(&out.stderr)
    );

    assert_eq!(
        world.recorder.operations(),
        Vec::<String>::new(),
        "no AWS call"
    );
}

/// The access settings persist like the numbers: given once, kept by a plain deploy,
/// shown by `mb info`; a list given again replaces the deployed one.
#[tokio::test(flavor = "multi_thread")]
async fn access_settings_stay_deployed_until_changed() {
    let Some((world, cf)) = world().await else {
        return;
    };
    let first = world
        .deploy(&[
            "--auth",
            "jwt",
            "--jwks-url",
            "https://idp.example/keys",
            "--issuer",
            "https://idp.example/",
            "--allow-origin",
            "https://a.example",
            "--allow-origin",
            "https://b.example/",
            "--max-messages-per-second",
            "20",
        ])
        .await;
    assert_ok("the deploy with access settings", &first);
    let again = world.deploy(&[]).await;
    assert_ok("the deploy without settings", &again);
    assert!(
        text(&again.stderr).contains("no changes"),
        "{}",
        text(&again.stderr)
    );
    assert!(!text(&again.stderr).contains("warning: auth is none"));
    assert_eq!(parameter(&cf, "Auth").await, "jwt");
    assert_eq!(parameter(&cf, "JwksUrl").await, "https://idp.example/keys");
    assert_eq!(parameter(&cf, "JwtIssuer").await, "https://idp.example/");
    assert_eq!(
        parameter(&cf, "AllowedOrigins").await,
        "https://a.example,https://b.example"
    );
    assert_eq!(parameter(&cf, "MaxMessagesPerSecond").await, "20");

    std::fs::write(
        world.dir.join("mb.toml"),
        "allow-origin = [\"https://c.example\"]\n",
    )
    .expect("write mb.toml");
    let replaced = world.deploy(&[]).await;
    assert_ok("the deploy with mb.toml's list", &replaced);
    assert_eq!(parameter(&cf, "AllowedOrigins").await, "https://c.example");
    assert_eq!(parameter(&cf, "Auth").await, "jwt", "kept");

    let info = world.mb("info", &["--json"]).await;
    assert_ok("info", &info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("JSON");
    assert_eq!(info["settings"]["auth"], "jwt");
    assert_eq!(
        info["settings"]["allow-origin"],
        serde_json::json!(["https://c.example"])
    );
    assert_eq!(info["settings"]["max-messages-per-second"], 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_access_setting_is_refused_before_any_aws_call() {
    let Some((world, _cf)) = world().await else {
        return;
    };
    for (args, said) in [
        (&["--auth", "maybe"][..], "not one of them"),
        (&["--jwks-url", "http://idp.example/keys"], "https://"),
        (
            &["--allow-origin", "app.example"],
            "must start with https://",
        ),
        (&["--max-messages-per-second", "10001"], "from 0 to 10000"),
    ] {
        let out = world.deploy(args).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(said),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let file = world.dir.join("bad.toml");
    std::fs::write(&file, "allow-origin = \"https://a.example\"\n").expect("write");
    let config = file.to_string_lossy().into_owned();
    let out = world.deploy(&["--config", &config]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("must be a list"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        world.recorder.operations(),
        Vec::<String>::new(),
        "no AWS call"
    );
}

/// Fails unless every operation the recorder saw only reads: nothing was uploaded, created
/// or changed.
fn assert_only_reads(world: &Deploying) {
    for operation in world.recorder.operations() {
        let name = operation.split(' ').next_back().unwrap_or_default();
        assert!(
            ["Describe", "Get", "Head", "List"]
                .iter()
                .any(|read| name.starts_with(read)),
            "{operation} changes something"
        );
    }
}

/// A key set (`--jwks-url`) often signs for many applications: a deploy that would accept
/// its tokens without an issuer, given or deployed, is refused with exit 2 naming
/// `--issuer`, before anything is uploaded or changed.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_set_without_an_issuer_is_refused_before_any_change() {
    let Some((world, cf)) = world().await else {
        return;
    };
    let keys = ["--auth", "jwt", "--jwks-url", "https://idp.example/keys"];
    let refused = world.deploy(&keys).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("add --issuer"),
        "{}",
        text(&refused.stderr)
    );
    assert_only_reads(&world);

    let deployed = world
        .deploy(&[&keys[..], &["--issuer", "https://idp.example/"]].concat())
        .await;
    assert_ok("the deploy with a key set and its issuer", &deployed);
    // Clearing the deployed issuer would leave the deployed key set without one.
    let cleared = world.deploy(&["--issuer", ""]).await;
    assert_eq!(cleared.status.code(), Some(2), "{}", text(&cleared.stderr));
    assert!(
        text(&cleared.stderr).contains("add --issuer"),
        "{}",
        text(&cleared.stderr)
    );
    assert_eq!(parameter(&cf, "JwtIssuer").await, "https://idp.example/");
}
