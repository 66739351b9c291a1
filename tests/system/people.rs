//! A newcomer's way in (issue 13), with the real binaries: `mes central` makes the first
//! administrator, `mes user add` (with the admin token) makes a supervisor and prints their
//! password, the supervisor signs in, sees their plant's work and cannot reach what a
//! supervisor may not; `mes token create --login` makes them a personal token that reads and
//! is refused what its owner may not do; `mes user disable` stops both.

use crate::support::*;
use serde_json::{Value, json};
use std::process::{Command, Stdio};

fn mes(args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mes"));
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("MES_TOKEN")
        .env_remove("MES_PASSWORD")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("mes runs");
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_newcomer_signs_in_as_a_supervisor_and_cannot_reach_what_a_supervisor_may_not() {
    let dir = temp_dir();
    let central = Central::start(dir.path(), None).await;
    let url = central.url();
    let admin = [("MES_ADMIN_TOKEN", ADMIN_TOKEN)];

    let (ok, stdout, stderr) = mes(
        &[
            "user",
            "--central",
            &url,
            "add",
            "zhang.min",
            "--name",
            "Zhang Min",
            "--roles",
            "supervisor",
            "--plants",
            "default",
            "--language",
            "en",
        ],
        &admin,
        None,
    );
    assert!(ok, "{stdout}{stderr}");
    let added: Value = serde_json::from_str(stdout.trim()).expect("json");
    let password = added["password"]
        .as_str()
        .expect("a first password")
        .to_owned();

    let (ok, stdout, stderr) = mes(&["user", "--central", &url, "list"], &admin, None);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("zhang.min") && stdout.contains("\"admin\""),
        "{stdout}"
    );

    // Signed in as the supervisor: the session reads work orders, not users.
    let http = http_client();
    let signed_in = http
        .post(format!("{url}/api/v1/session"))
        .json(&json!({"login": "zhang.min", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let get = |path: &str| {
        http.get(format!("{url}{path}"))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(get("/api/v1/work-orders").await.unwrap().status(), 200);
    let users = get("/api/v1/users").await.unwrap();
    assert_eq!(users.status(), 403);
    let body: Value = users.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`users.read`"),
        "{body}"
    );

    // A personal token, made by signing in on the command line.
    let (ok, stdout, stderr) = mes(
        &[
            "token",
            "create",
            "--central",
            &url,
            "--name",
            "report script",
            "--days",
            "7",
            "--login",
            "zhang.min",
            "--permissions",
            "work_orders.read",
        ],
        &[],
        Some(&format!("{password}\n")),
    );
    assert!(ok, "{stdout}{stderr}");
    let made: Value = serde_json::from_str(stdout.trim()).expect("json");
    let token = made["token"].as_str().unwrap().to_owned();
    let with_token = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(
        with_token(reqwest::Method::GET, "/api/v1/work-orders")
            .await
            .unwrap()
            .status(),
        200
    );
    // Its owner may release orders; the token was made for reading only.
    assert_eq!(
        with_token(reqwest::Method::POST, "/api/v1/work-orders/WO-1/release")
            .await
            .unwrap()
            .status(),
        403
    );

    // Disabled: the session and the token stop working.
    let (ok, _, stderr) = mes(
        &["user", "--central", &url, "disable", "zhang.min"],
        &admin,
        None,
    );
    assert!(ok, "{stderr}");
    assert_eq!(get("/api/v1/work-orders").await.unwrap().status(), 401);
    assert_eq!(
        with_token(reqwest::Method::GET, "/api/v1/work-orders")
            .await
            .unwrap()
            .status(),
        401
    );
    // A bad role is refused with the reason, and nothing is made.
    let (ok, _, stderr) = mes(
        &[
            "user",
            "--central",
            &url,
            "add",
            "li.na",
            "--name",
            "Li Na",
            "--roles",
            "wizard",
            "--plants",
            "default",
        ],
        &admin,
        None,
    );
    assert!(!ok);
    assert!(stderr.contains("wizard"), "{stderr}");
}
