//! `mb token --service` against moto (CloudFormation, Secrets Manager, through the
//! recorder): a deploy with `--auth jwt` makes the stack generate its token secret, and
//! the token `mb token` prints verifies with the value Secrets Manager keeps; a stack
//! without a secret (auth none) is refused with why, exit 1; `--secret-file` with
//! `--service` is a usage error before any AWS call.

use mb_lambda::access::tokens::Verifier;
use mb_tests::deploying::Deploying;
use mb_tests::{assert_ok, text};

const STACK: &str = "mb-keys-dev";

async fn output(cf: &aws_sdk_cloudformation::Client, key: &str) -> Option<String> {
    let out = cf
        .describe_stacks()
        .stack_name(STACK)
        .send()
        .await
        .expect("describe the stack");
    out.stacks()
        .first()
        .expect("the stack")
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_for_the_deployed_service_verifies_with_the_secret_secrets_manager_keeps() {
    let Some(world) = Deploying::start("keys").await else {
        return;
    };
    let cf = aws_sdk_cloudformation::Client::new(&world.config);
    let secrets = aws_sdk_secretsmanager::Client::new(&world.config);

    // 1. auth none: the deploy warns that the endpoint is open, and there is no secret.
    let open = world.deploy(&[]).await;
    assert_ok("the deploy with auth none", &open);
    let stderr = text(&open.stderr);
    assert!(
        stderr.contains("warning: auth is none") && stderr.contains("--auth jwt"),
        "{stderr}"
    );
    assert_eq!(output(&cf, "AuthSecret").await, None);
    let refused = world.mb("token", &[]).await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("does not require tokens"),
        "{}",
        text(&refused.stderr)
    );
    assert!(refused.stdout.is_empty());

    // 2. --auth jwt: the stack generates the secret; its output is the ARN.
    let closed = world.deploy(&["--auth", "jwt"]).await;
    assert_ok("the deploy with --auth jwt", &closed);
    assert!(
        !text(&closed.stderr).contains("warning: auth is none"),
        "{}",
        text(&closed.stderr)
    );
    assert_eq!(
        mb_tests::deployed_parameter(&cf, STACK, "Auth").await,
        "jwt"
    );
    let arn = output(&cf, "AuthSecret")
        .await
        .expect("the AuthSecret output");
    assert!(
        arn.starts_with("arn:aws:secretsmanager:us-east-1:"),
        "{arn}"
    );
    assert!(arn.contains(":secret:mb-keys-dev-token-key"), "{arn}");
    let stored = secrets
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string()
        .expect("a string secret")
        .to_owned();
    assert_eq!(stored.len(), 64);
    assert!(
        stored.chars().all(|c| c.is_ascii_alphanumeric()),
        "no punctuation"
    );
    let combined = format!("{}{}", text(&closed.stdout), text(&closed.stderr));
    assert!(
        !combined.contains(&stored),
        "the deploy never prints the secret"
    );

    // 3. mb token signs with it; --url joins the stack's URL.
    let minted = world
        .mb(
            "token",
            &[
                "--sub",
                "user-1",
                "--channel",
                "lobby",
                "--ttl",
                "10m",
                "--url",
            ],
        )
        .await;
    assert_ok("mb token", &minted);
    let stdout = text(&minted.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let token = lines[0];
    let identity = Verifier::secret(stored.as_bytes().to_vec())
        .expect("a usable secret")
        .verify(token)
        .expect("the token verifies with the stored secret");
    assert_eq!(identity.sub.as_deref(), Some("user-1"));
    let url = output(&cf, "WebSocketUrl").await.expect("the URL output");
    assert!(
        lines[1].starts_with(&url) && lines[1].contains(&format!("token={token}")),
        "{} for {url}",
        lines[1]
    );
    let refused = Verifier::secret(b"another secret of at least thirty-two bytes".to_vec())
        .expect("a secret")
        .verify(token)
        .expect_err("another secret refuses the token");
    assert_eq!(refused.0, "the token's signature does not verify");
    assert!(!text(&minted.stderr).contains(&stored));

    // (An update to --jwks-url is not run here: moto keeps a conditional output whose
    // condition turns false on an update, so the stack would still name the secret. The
    // refusal's wording is a unit test of `token::no_secret_why`.)

    // 4. Both at once is a usage error, before any AWS call.
    let before = world.recorder.operations().len();
    let both = world.mb("token", &["--secret-file", "/nonexistent"]).await;
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    assert!(
        text(&both.stderr).contains("not both"),
        "{}",
        text(&both.stderr)
    );
    assert_eq!(world.recorder.operations().len(), before);

    // Every call mb token made is one the permission list has.
    let operations = world.recorder.operations();
    assert!(
        operations.contains(&"Secrets Manager GetSecretValue".to_owned()),
        "{operations:?}"
    );
}
