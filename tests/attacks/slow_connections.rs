//! Hole 8: the webhook server had no read timeouts. Idle and slow
//! connections stayed open as long as the client liked, enough of them
//! starved `/healthz`, and unsigned bodies were read in full, any number at
//! once, before the signature check.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve_process::ServeProcess;

const SECRET: &str = "attacks-webhook-secret";

async fn server(dir: &std::path::Path) -> ServeProcess {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        "max_webhook_bytes = 1048576\n[http]\nmax_connections = 8\nidle_timeout_seconds = 1\n\
         request_timeout_seconds = 2\nmax_unverified_body_bytes = 2200000\n",
    )
    .unwrap();
    let database = format!("sqlite://{}", dir.join("server.db").display());
    let envs = [
        ("PROMPTGATE_WEBHOOK_SECRET", SECRET.to_string()),
        ("PROMPTGATE_DATABASE_URL", database),
    ];
    ServeProcess::start(&config, &envs, &dir.join("server.log")).await
}

/// Waits for the server to close `stream` (EOF or reset); how long it took,
/// or `None` when it was still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Sends `bytes` one at a time, every `every`, while the server keeps the
/// connection; true when the server closed it before the end.
async fn trickle(stream: &mut TcpStream, bytes: &[u8], every: Duration) -> bool {
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            return true;
        }
        tokio::time::sleep(every).await;
        let mut probe = [0u8; 1024];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut probe)).await
        {
            return true;
        }
    }
    false
}

async fn healthz(address: &str) -> Option<u16> {
    let client = reqwest::Client::new();
    let answer = client
        .get(format!("http://{address}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    Some(answer.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_oversized_clients_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let address = server.address.clone();
    let limit = Duration::from_secs(6);

    // An idle connection is closed.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    assert!(
        closed_within(&mut idle, limit).await.is_some(),
        "idle stays open"
    );

    // Headers at a byte every 400 ms never finish in time.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let head = b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\n\r\n";
    assert!(
        trickle(&mut slow, head, Duration::from_millis(400)).await,
        "a trickled request head stayed open"
    );

    // A body at a byte every 400 ms is cut off too.
    let mut slow_body = TcpStream::connect(&address).await.unwrap();
    slow_body
        .write_all(
            b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\n\
              Content-Length: 64\r\n\r\n",
        )
        .await
        .unwrap();
    assert!(
        trickle(&mut slow_body, &[b'{'; 64], Duration::from_millis(400)).await,
        "a trickled body stayed open"
    );

    // Many idle connections: the extra ones are closed at once, the rest
    // soon, and /healthz answers throughout the attack.
    let mut crowd = Vec::new();
    for _ in 0..40 {
        if let Ok(stream) = TcpStream::connect(&address).await {
            crowd.push(stream);
        }
    }
    let started = Instant::now();
    let mut healthy = false;
    while started.elapsed() < limit {
        if healthz(&address).await == Some(200) {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(healthy, "/healthz did not answer under 40 idle connections");
    drop(crowd);

    // Unsigned bodies in flight: two of 1 MB fit the 2.2 MB budget, the
    // third is refused before a byte of it is read.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream
            .write_all(
                b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: ping\r\n\
                  X-Hub-Signature-256: sha256=00\r\nContent-Length: 1000000\r\n\r\n{",
            )
            .await
            .unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = reqwest::Client::new()
        .post(format!("http://{address}/webhooks/github"))
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", "sha256=00")
        .body(vec![b' '; 1_000_000])
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status().as_u16(), 503);
    drop(held);
    server.stop().await;
}

/// The smaller holes of the API: a non-numeric version answered 400 before
/// the key was checked (so anyone could probe the routes), and a lowercase
/// `bearer` was refused though schemes are case-insensitive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_checked_before_anything_and_the_scheme_is_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = reqwest::Client::new();
    let get = |path: &str, auth: Option<&str>| {
        let mut request = client
            .get(format!("http://{}{path}", server.address))
            .timeout(Duration::from_secs(10));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for path in [
        "/v1/repos/o/r/prompts/p/versions/abc",
        "/v1/repos/o/r/prompts/p/versions/3",
    ] {
        let answer = get(path, None).await.unwrap();
        assert_eq!(answer.status().as_u16(), 401, "{path} without a key");
    }
    // A real key, in any case of the scheme, gets past the check: then the
    // bad version number is what is answered.
    let database = format!("sqlite://{}", dir.path().join("server.db").display());
    let (code, key, stderr) = crate::common::promptgate_with(
        dir.path(),
        &[
            "keys",
            "create",
            "--name",
            "attack-tests",
            "--repository",
            "o/r",
        ],
        &[("PROMPTGATE_DATABASE_URL", &database)],
    );
    assert_eq!(code, 0, "{stderr}");
    let key = key.trim();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let auth = format!("{scheme} {key}");
        let answer = get("/v1/repos/o/r/prompts/p/versions/abc", Some(&auth))
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 400, "{scheme}");
        let answer = get("/v1/repos/o/r/prompts/p/versions/3", Some(&auth))
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 404, "{scheme}");
    }
    let wrong = get(
        "/v1/repos/o/r/prompts/p/versions/abc",
        Some("bearer pgk_wrong"),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    server.stop().await;
}
