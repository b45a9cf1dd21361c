//! Neutralising untrusted text (model output, case variables, names from a
//! pull request's prompt files) before it goes into markdown or a terminal.
//!
//! DESIGN.md "Trust": nothing a model or a pull request wrote may break out
//! of its block in a comment — close a code fence, open or close `<details>`,
//! start an HTML comment (our sticky marker is one), split a table cell — or
//! ping anyone with an `@mention`.

/// Zero-width joiner: invisible, but stops `@name` from linking and `<tag`
/// from parsing as a tag.
const ZWJ: char = '\u{200D}';

/// Characters that reorder text on screen (the "Trojan Source" attack);
/// they are dropped everywhere.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// C0/C1 controls other than newline and tab, and bidi controls.
fn is_unwanted_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi_control(c)
}

fn normalize_newlines(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Text for one line of markdown: a table cell, a `<summary>`, a sentence.
///
/// Every character with a meaning in markdown or HTML is written as a
/// numeric character reference, which renders as itself and is never
/// markup; newlines become spaces; `@` is followed by a zero-width joiner.
pub fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '*' => out.push_str("&#42;"),
            '_' => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '~' => out.push_str("&#126;"),
            '\\' => out.push_str("&#92;"),
            '#' => out.push_str("&#35;"),
            '@' => {
                out.push('@');
                out.push(ZWJ);
            }
            c if is_unwanted_control(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Like [`inline`], shown as code (works inside tables and `<summary>`).
pub fn code_inline(s: &str) -> String {
    format!("<code>{}</code>", inline(s))
}

/// A fenced code block that the content cannot close: the fence is longer
/// than any run of backticks inside. `<!--` is split so the body holds our
/// marker only where we put it.
pub fn code_block(s: &str, lang: &str) -> String {
    let mut content: String = normalize_newlines(s)
        .chars()
        .filter(|c| !is_unwanted_control(*c))
        .collect();
    content = content.replace("<!--", "<\u{200D}!--");
    let longest_run = content.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let lang: String = lang.chars().filter(char::is_ascii_alphanumeric).collect();
    let body = content.strip_suffix('\n').unwrap_or(&content);
    format!("{fence}{lang}\n{body}\n{fence}")
}

/// HTML that a diff may use for emphasis; any other tag is defused.
const ALLOWED_TAGS: [&str; 10] = [
    "<ins>", "</ins>", "<del>", "</del>", "<b>", "</b>", "<s>", "</s>", "<br>", "<br/>",
];

/// Markdown whose shape is ours but whose words are not (the prompt diff):
/// keeps formatting, defuses every tag outside [`ALLOWED_TAGS`] and HTML
/// comments, neutralises mentions, and closes a code fence left open.
pub fn defuse_markdown(s: &str) -> String {
    let text: String = normalize_newlines(s)
        .chars()
        .filter(|c| !is_unwanted_control(*c))
        .collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text.as_str();
    while let Some(c) = rest.chars().next() {
        let next = rest[c.len_utf8()..].chars().next();
        match c {
            '<' if ALLOWED_TAGS
                .iter()
                .any(|t| starts_with_ignore_case(rest, t)) =>
            {
                out.push('<')
            }
            '<' if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!') => {
                out.push('<');
                out.push(ZWJ);
            }
            '@' if next.is_some_and(|n| n.is_alphanumeric() || n == '-') => {
                out.push('@');
                out.push(ZWJ);
            }
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    if let Some(fence) = open_fence(&out) {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&fence);
        out.push('\n');
    }
    out
}

fn starts_with_ignore_case(haystack: &str, prefix: &str) -> bool {
    haystack
        .get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// The fence that closes a code block still open at the end, if any
/// (CommonMark: up to three spaces, three or more backticks or tildes; a
/// closing fence is the same character, at least as long, nothing after).
pub(crate) fn open_fence(markdown: &str) -> Option<String> {
    let mut open: Option<(char, usize)> = None;
    for line in markdown.lines() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > 3 {
            continue;
        }
        let trimmed = &line[indent..];
        let Some(first @ ('`' | '~')) = trimmed.chars().next() else {
            continue;
        };
        let run = trimmed.len() - trimmed.trim_start_matches(first).len();
        if run < 3 {
            continue;
        }
        let after = &trimmed[run..];
        match open {
            None if !(first == '`' && after.contains('`')) => open = Some((first, run)),
            Some((c, n)) if c == first && run >= n && after.trim().is_empty() => open = None,
            _ => {}
        }
    }
    open.map(|(c, n)| c.to_string().repeat(n))
}

/// At most `max` characters, cut on a character boundary, with a note
/// saying how much was left out.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => {
            let left_out = s[end..].chars().count();
            format!("{}\n… [{left_out} more characters not shown]", &s[..end])
        }
    }
}

/// At most `max` characters on one line, ending in `…` when cut.
pub fn truncate_line(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

/// Text for a terminal: control characters (escape sequences included) and
/// bidi controls become `�`, so output cannot move the cursor, recolour
/// the screen or reorder what is shown.
pub fn terminal(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\n' || c == '\t' {
                ' '
            } else if c.is_control() || is_bidi_control(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// Multi-line text for a terminal: like [`terminal`] but keeps newlines,
/// and SGR colour sequences (`ESC [ … m`) when `keep_color` is set.
pub fn terminal_block(s: &str, keep_color: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            let mut seq = String::from("\u{1b}[");
            chars.next();
            while let Some(&p) = chars.peek() {
                if p.is_ascii_digit() || p == ';' {
                    seq.push(p);
                    chars.next();
                } else {
                    break;
                }
            }
            if chars.peek() == Some(&'m') {
                chars.next();
                if keep_color {
                    seq.push('m');
                    out.push_str(&seq);
                }
            } else {
                out.push('\u{FFFD}');
            }
        } else if c == '\n' || c == '\t' {
            out.push(c);
        } else if c.is_control() || is_bidi_control(c) {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
    out
}

/// Text for HTML content and attribute values (the five characters HTML
/// and XML give meaning to).
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn inline_neutralises_markup_mentions_and_cells() {
        let got = inline("@octocat | <details> `x` <!-- m -->\nnext");
        assert!(!got.contains('|'));
        assert!(!got.contains('<'));
        assert!(!got.contains('`'));
        assert!(!got.contains('\n'));
        assert!(got.starts_with("@\u{200D}octocat"));
    }

    #[test]
    fn code_block_fence_outlasts_content_fences() {
        let block = code_block(
            "before\n````\n</details>\n<!-- promptgate:comment -->",
            "text",
        );
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], "`````text");
        assert_eq!(*lines.last().unwrap(), "`````");
        assert!(!block.contains("<!--"));
    }

    #[test]
    fn defuse_keeps_emphasis_and_defuses_the_rest() {
        let got = defuse_markdown("a <ins>new</ins> <DEL>old</DEL> </details> <!-- x --> @team");
        assert!(got.contains("<ins>new</ins>"));
        assert!(got.contains("<DEL>old</DEL>"));
        assert!(got.contains("<\u{200D}/details>"));
        assert!(got.contains("<\u{200D}!--"));
        assert!(got.contains("@\u{200D}team"));
    }

    #[test]
    fn defuse_closes_an_open_fence() {
        let got = defuse_markdown("```diff\n- a\n+ b");
        assert_eq!(open_fence(&got), None);
        assert!(got.ends_with("```\n"));
        let closed = "~~~~\nx\n~~~~\n";
        assert_eq!(defuse_markdown(closed), closed);
    }

    #[test]
    fn truncation_cuts_on_characters_and_says_so() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo", 2), "hé\n… [3 more characters not shown]");
        assert_eq!(truncate_line("héllo", 1), "h…");
    }

    #[test]
    fn terminal_text_cannot_carry_escape_sequences() {
        assert_eq!(terminal("a\u{1b}[2Jb\u{202E}c"), "a\u{FFFD}[2Jb\u{FFFD}c");
        let block = "\u{1b}[31mred\u{1b}[0m\n\u{1b}]0;title\u{7}";
        assert_eq!(
            terminal_block(block, true),
            "\u{1b}[31mred\u{1b}[0m\n\u{FFFD}]0;title\u{FFFD}"
        );
        assert_eq!(
            terminal_block(block, false),
            "red\n\u{FFFD}]0;title\u{FFFD}"
        );
    }

    proptest! {
        #[test]
        fn inline_never_leaks_structure(s in any::<String>()) {
            let got = inline(&s);
            for bad in ['|', '<', '>', '`', '\n', '\r', '[', ']', '*', '_', '\u{1b}', '\u{202E}'] {
                prop_assert!(!got.contains(bad), "{bad:?} in {got:?}");
            }
            let bytes: Vec<char> = got.chars().collect();
            for pair in bytes.windows(2) {
                if pair[0] == '@' {
                    prop_assert_eq!(pair[1], ZWJ);
                }
            }
        }

        #[test]
        fn code_block_is_closed_only_by_its_own_fence(s in "(`{0,6}|<!--|</details>|[a-z \n~])*") {
            let block = code_block(&s, "text");
            let lines: Vec<&str> = block.lines().collect();
            let fence_len = lines[0].len() - "text".len();
            prop_assert!(fence_len >= 3);
            prop_assert_eq!(*lines.last().unwrap(), "`".repeat(fence_len));
            for line in &lines[1..lines.len() - 1] {
                let run = line.trim_start_matches(' ').len()
                    - line.trim_start_matches(' ').trim_start_matches('`').len();
                prop_assert!(run < fence_len, "line {:?} could close the fence", line);
            }
            prop_assert!(!block.contains("<!--"));
        }

        #[test]
        fn defused_markdown_has_no_open_fence_or_comment(s in "(```|~~~|<!--|<details>|@a|[a-z \n])*") {
            let got = defuse_markdown(&s);
            prop_assert_eq!(open_fence(&got), None);
            prop_assert!(!got.contains("<!--"));
            prop_assert!(!got.to_lowercase().contains("<details"));
        }
    }
}
