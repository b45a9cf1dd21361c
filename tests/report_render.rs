//! The terminal, markdown and JSON reports rendered from realistic inputs.

mod report_fixtures;

use promptgate::report::{markdown, terminal};
use report_fixtures::*;

#[test]
fn dump() {
    let r = realistic_check();
    std::fs::write("/tmp/rep_term.txt", terminal::render(&r, false)).unwrap();
    std::fs::write("/tmp/rep_term_color.txt", terminal::render(&r, true)).unwrap();
    std::fs::write("/tmp/rep.md", markdown::render_comment(&r).unwrap()).unwrap();
    let e = eval_report();
    std::fs::write("/tmp/rep_eval_term.txt", terminal::render(&e, false)).unwrap();
    std::fs::write("/tmp/rep_eval.md", markdown::render_comment(&e).unwrap()).unwrap();
}
