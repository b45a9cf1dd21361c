//! Hole 2: a fork's template stalls or kills whoever renders it. A string
//! doubled forty times aborted the App server (a 4 GiB allocation), nested
//! `range(100000)` loops held a worker at 100% CPU, `indent(2000000000)`
//! reached 1.96 GB for one case. Each must end as a failed prompt, with
//! the reason, in bounded time, the process intact.

use std::time::{Duration, Instant};

use crate::common::{git, promptgate, write};

fn bomb(name: &str, body: &str) -> String {
    format!(
        "name: {name}\nsemantics: promptgate\nmodel: echo/echo\nmessages:\n  - role: user\n    content: |\n      {body}\ntestData:\n  - q: hi\n"
    )
}

#[test]
fn template_bombs_fail_their_prompt_in_bounded_time() {
    let doubling = format!(
        "{{% set a = q ~ \"0123456789abcdef\" %}}{}{{{{ a }}}}",
        "{% set a = a ~ a %}".repeat(40)
    );
    let bombs = [
        ("doubling", doubling.as_str()),
        (
            "loops",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        ),
        ("indent", "{{ (q ~ '\\nx') | indent(2000000000) }}"),
    ];
    for (name, body) in bombs {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "promptgate.toml", "prompts = [\"*.prompt.yml\"]\n");
        write(root, "bomb.prompt.yml", &bomb(name, body));
        git(root, &["init", "-q"]);
        for command in ["validate", "eval"] {
            let started = Instant::now();
            let (code, stdout, stderr) = promptgate(root, &[command]);
            let took = started.elapsed();
            assert_eq!(code, 2, "{name} / {command}: {stdout}\n{stderr}");
            assert!(
                stderr.contains("rendering stopped") || stderr.contains("fuel"),
                "{name} / {command}: {stderr}"
            );
            assert!(
                took < Duration::from_secs(60),
                "{name} / {command} took {took:?}"
            );
        }
    }
}
