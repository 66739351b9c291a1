//! Notifications leave central (issue 17): the real `mes central` binary mails a real SMTP
//! server the test starts on loopback (aiosmtpd, Python's maintained SMTP server) and posts
//! to a webhook the test serves, signed with HMAC-SHA256. A travel request waiting on the
//! manager mails the manager in Chinese; its approval mails the requester in English; each
//! move is one signed post; what went out is in the outbox, marked sent.

use crate::support::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const PASSWORD: &str = "a fair password of 24 ch";
const SECRET: &str = "the webhook secret of the test";

/// An SMTP server on a free loopback port that writes each mail it accepts as JSON (`from`,
/// `to`, `subject`, `body`, decoded) into `dir`.
const SMTP_SERVER: &str = r#"
import asyncio, email, email.policy, itertools, json, os, sys
from aiosmtpd.smtp import SMTP

# Numbered across connections (each connection has its own handler).
SEQ = itertools.count(1)

class Keep:
    def __init__(self, dir):
        self.dir = dir
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        n = next(SEQ)
        mail = {"from": envelope.mail_from, "to": envelope.rcpt_tos, "subject": str(msg["subject"]),
                "body": msg.get_content(), "content_type": msg.get_content_type()}
        tmp = os.path.join(self.dir, "%d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(mail, f)
        os.rename(tmp, os.path.join(self.dir, "%d.json" % n))
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Keep(sys.argv[1])), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// The SMTP server, or `None` when aiosmtpd is missing (skipped, except in CI).
async fn smtp_server(dir: &Path) -> Option<(tokio::process::Child, u16)> {
    let have = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        let hint = "`pip install 'aiosmtpd>=1.4,<2'` (.ci/run installs it)";
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "aiosmtpd is not installed; {hint}"
        );
        eprintln!("skipped: aiosmtpd is not installed; {hint}");
        return None;
    }
    let script = dir.join("smtp_server.py");
    std::fs::write(&script, SMTP_SERVER).unwrap();
    let mails = dir.join("mails");
    std::fs::create_dir_all(&mails).unwrap();
    let mut child = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(&mails)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the SMTP server");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("the SMTP server says its port")
    .unwrap();
    Some((child, line.trim().parse().expect("a port")))
}

fn mails(dir: &Path) -> Vec<Value> {
    let mut out: Vec<(u64, Value)> = std::fs::read_dir(dir.join("mails"))
        .unwrap()
        .filter_map(|e| {
            let path = e.ok()?.path();
            let n: u64 = path
                .file_name()?
                .to_str()?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((n, serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?))
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    out.into_iter().map(|(_, m)| m).collect()
}

/// A post the webhook received: its timestamp and signature headers, and its body.
type Posts = Arc<Mutex<Vec<(String, String, String)>>>;

async fn webhook() -> (String, Posts) {
    use axum::http::HeaderMap;
    let posts: Posts = Arc::default();
    let keep = posts.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                keep.lock()
                    .unwrap()
                    .push((h("x-mes-timestamp"), h("x-mes-signature"), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, posts)
}

/// Waits for `what` to hold (mail and posts go out within the sender's poll of 2 s).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "{what} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct User {
    cookie: String,
    csrf: String,
}

async fn sign_in(base: &str, login: &str) -> User {
    let response = http_client()
        .post(format!("{base}/api/v1/session"))
        .json(&json!({"login": login, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    User {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

async fn post_as(base: &str, u: &User, path: &str, body: Value) -> Value {
    let response = http_client()
        .post(format!("{base}{path}"))
        .header("cookie", &u.cookie)
        .header("x-csrf-token", &u.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let reply: Value = response.json().await.unwrap_or(Value::Null);
    assert!(
        (200..300).contains(&status),
        "POST {path}: {status} {reply}"
    );
    reply
}

#[tokio::test]
async fn issue_17_notifications_are_mailed_over_smtp_and_posted_signed() {
    let tmp = temp_dir();
    let Some((_smtp, smtp_port)) = smtp_server(tmp.path()).await else {
        return;
    };
    let (hook, posts) = webhook().await;
    let config = format!(
        r#"[notify]
base_url = "https://mes.example.com"
smtp = "smtp://127.0.0.1:{smtp_port}"
from = "MES <mes@plant.example>"
webhook = "{hook}"
webhook_secret = "{SECRET}"
"#
    );
    let central = Central::start(&tmp.path().join("central"), Some(&config)).await;
    let base = central.url();
    for (login, name, language, manager, email) in [
        ("chen.mgr", "陈经理", "zh", None, "chen@plant.example"),
        (
            "li.sales",
            "Li Sales",
            "en",
            Some("chen.mgr"),
            "li@plant.example",
        ),
    ] {
        crate::crm_sales_pages::call(
            &base,
            reqwest::Method::PUT,
            &format!("/api/v1/users/{login}"),
            Some(json!({"display_name": name, "roles": [if manager.is_some() {"sales"} else {"sales_manager"}],
                        "plants": ["default"], "language": language, "password": PASSWORD,
                        "manager": manager, "email": email})),
        )
        .await;
    }
    // A bad address is refused, named.
    let (status, reply) = {
        let r = http_client()
            .put(format!("{base}/api/v1/users/wang.hq"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"display_name": "Wang", "roles": ["viewer"], "email": "wang at plant"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email: \"wang at plant\" is not an e-mail address"),
        "{reply}"
    );
    crate::crm_sales_pages::call(
        &base,
        reqwest::Method::PUT,
        "/api/v1/oa/workflows/travel",
        Some(json!({"form": "travel", "steps": [{"name": "manager",
            "approvers": [{"by": "manager", "levels": 1}], "mode": {"need": "any"}}]})),
    )
    .await;

    let li = sign_in(&base, "li.sales").await;
    let chen = sign_in(&base, "chen.mgr").await;
    let request = post_as(
        &base,
        &li,
        "/api/v1/oa/requests",
        json!({"form": "travel", "values": {"destination": "汉诺威工业博览会",
            "dates": {"from": "2027-04-12", "to": "2027-04-16"}, "reason": "trade fair",
            "budget": {"amount": "2500", "currency": "CNY"}}}),
    )
    .await;
    let id = request["id"].as_i64().unwrap();
    let number = request["number"].as_str().unwrap().to_owned();

    // chen is mailed, in Chinese, with a link to the request.
    let dir = tmp.path().to_owned();
    until("the manager's mail", || !mails(&dir).is_empty()).await;
    let mail = &mails(&dir)[0];
    assert_eq!(mail["to"], json!(["chen@plant.example"]), "{mail}");
    assert_eq!(mail["from"], "mes@plant.example");
    let subject = mail["subject"].as_str().unwrap();
    assert!(
        subject.contains(&number) && subject.contains("出差申请"),
        "{subject}"
    );
    let body = mail["body"].as_str().unwrap();
    assert!(body.contains("等待您审批"), "{body}");
    assert!(
        body.contains(&format!("https://mes.example.com/oa/requests/{id}")),
        "{body}"
    );

    post_as(
        &base,
        &chen,
        &format!("/api/v1/oa/requests/{id}/approve"),
        json!({"comment": "have a good fair"}),
    )
    .await;
    // li is mailed, in English.
    until("the requester's mail", || mails(&dir).len() >= 2).await;
    let mail = &mails(&dir)[1];
    assert_eq!(mail["to"], json!(["li@plant.example"]), "{mail}");
    assert!(
        mail["body"]
            .as_str()
            .unwrap()
            .contains(&format!("{number} Travel request is approved")),
        "{mail}"
    );

    // Two signed posts: the request waiting, then approved.
    until("two webhook posts", || posts.lock().unwrap().len() >= 2).await;
    let posts = posts.lock().unwrap().clone();
    let events: Vec<Value> = posts
        .iter()
        .map(|(timestamp, signature, body)| {
            let ts: i64 = timestamp.parse().expect("a timestamp");
            assert_eq!(
                *signature,
                central::notify::sign(SECRET, ts, body),
                "the signature of {body}"
            );
            assert_ne!(
                *signature,
                central::notify::sign("another secret", ts, body)
            );
            serde_json::from_str(body).unwrap()
        })
        .collect();
    assert_eq!(events[0]["event"], "oa.waiting");
    assert_eq!(events[0]["to"], json!(["chen.mgr"]));
    assert_eq!(
        events[0]["url"],
        format!("https://mes.example.com/oa/requests/{id}")
    );
    assert_eq!(events[1]["event"], "oa.approved");
    assert_eq!(events[1]["subject"], number);

    // The outbox says so, once the last send is recorded.
    let start = Instant::now();
    loop {
        let outbox = crate::crm_sales_pages::call(
            &base,
            reqwest::Method::GET,
            "/api/v1/notifications/outbox",
            None,
        )
        .await;
        let rows = outbox["outbox"].as_array().unwrap().clone();
        assert_eq!(rows.len(), 4, "two mails and two posts: {outbox}");
        if rows.iter().all(|r| r["state"] == "sent") {
            assert!(rows.iter().all(|r| r["attempts"] == 1), "{outbox}");
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "all sent within {DEADLINE:?}: {outbox}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
