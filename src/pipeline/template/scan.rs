//! The one scanner of include-like tags (`{% include %}`, `{% import %}`,
//! `{% from %}`, `{% extends %}`): a small lexer that knows comments,
//! `{% raw %}` blocks and string literals, so an include inside a comment or
//! a string is not one, and `"a %} b.md"` is a whole name. The include walk,
//! change detection, the version id and the text diff all read templates
//! through it.

/// The template names a minijinja source includes, imports or extends, in
/// order, as written (`{% include "snippets/tone.md" %}` gives
/// `snippets/tone.md`; a list of alternatives gives each). Dynamic names
/// (`{% include var %}`, `"a" ~ b`) cannot be known without rendering and
/// are left out; comments and `{% raw %}` blocks are skipped.
pub fn included_names(source: &str) -> Vec<String> {
    include_tags(source)
        .into_iter()
        .flat_map(|tag| tag.names)
        .collect()
}

/// One `{% include %}`, `{% import %}`, `{% from %}` or `{% extends %}` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludeTag {
    /// `include`, `import`, `from` or `extends`.
    pub keyword: String,
    /// The literal names it refers to; empty when computed.
    pub names: Vec<String>,
    /// Where the whole tag, `{%` to `%}`, sits in the source (byte range).
    pub span: std::ops::Range<usize>,
    /// `ignore missing`: the template renders without any of the names.
    pub ignore_missing: bool,
    /// The whole tag as written, for messages.
    pub text: String,
}

/// Every include-like tag of a template, in order, with where it sits (so a
/// caller can inline snippets). Same rules as [`included_names`].
pub fn include_tags(source: &str) -> Vec<IncludeTag> {
    let bytes = source.as_bytes();
    let mut tags = Vec::new();
    let mut at = 0;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'{', b'#') => {
                at = find_from(source, at + 2, "#}").map_or(bytes.len(), |end| end + 2);
            }
            (b'{', b'{') => at = end_of_expression(source, at + 2),
            (b'{', b'%') => {
                let tag = scan_tag(source, at + 2);
                match tag.keyword {
                    "include" | "extends" | "import" | "from" => tags.push(IncludeTag {
                        keyword: tag.keyword.to_owned(),
                        names: tag.names,
                        span: at..tag.end,
                        ignore_missing: tag.ignore_missing,
                        text: source[at..tag.end].to_owned(),
                    }),
                    "raw" => {
                        at = end_of_raw(source, tag.end);
                        continue;
                    }
                    _ => {}
                }
                at = tag.end;
            }
            _ => at += 1,
        }
    }
    tags
}

fn find_from(source: &str, from: usize, needle: &str) -> Option<usize> {
    source.get(from..)?.find(needle).map(|i| from + i)
}

struct Tag<'a> {
    keyword: &'a str,
    /// Literal template names, when the tag's argument is a literal or a list
    /// of literals.
    names: Vec<String>,
    /// Byte index just past `%}` (or the end of the source).
    end: usize,
    /// The words after the names include `ignore missing`.
    ignore_missing: bool,
}

/// Reads one `{% … %}` tag starting after its `{%`, aware of string literals
/// (a `%}` inside quotes does not end the tag).
fn scan_tag(source: &str, start: usize) -> Tag<'_> {
    let bytes = source.as_bytes();
    let skip_space = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    let mut at = start;
    while at < bytes.len() && (bytes[at].is_ascii_whitespace() || matches!(bytes[at], b'-' | b'+'))
    {
        at += 1;
    }
    let keyword_start = at;
    while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
        at += 1;
    }
    let keyword = &source[keyword_start..at];

    // The argument: `"name"` or `["a", "b"]`; anything else is computed.
    let mut names = Vec::new();
    at = skip_space(at);
    match bytes.get(at) {
        Some(&quote @ (b'"' | b'\'')) => {
            let (name, next) = read_string(source, at + 1, quote);
            names.push(name);
            at = next;
        }
        Some(b'[') => {
            at += 1;
            loop {
                at = skip_space(at);
                match bytes.get(at) {
                    Some(&quote @ (b'"' | b'\'')) => {
                        let (name, next) = read_string(source, at + 1, quote);
                        names.push(name);
                        at = skip_space(next);
                        if bytes.get(at) == Some(&b',') {
                            at += 1;
                        }
                    }
                    Some(b']') => {
                        at += 1;
                        break;
                    }
                    _ => {
                        names.clear();
                        break;
                    }
                }
            }
        }
        _ => {}
    }
    // Concatenation, a filter, a call or an index after it: computed.
    at = skip_space(at);
    if matches!(bytes.get(at), Some(b'~' | b'+' | b'|' | b'(' | b'.' | b'[')) {
        names.clear();
    }

    // The rest of the tag, to its `%}`; its words outside strings.
    let mut words = String::new();
    while at < bytes.len() {
        match bytes[at] {
            b'%' if bytes.get(at + 1) == Some(&b'}') => {
                let words: Vec<&str> = words.split_whitespace().collect();
                return Tag {
                    keyword,
                    names,
                    end: at + 2,
                    ignore_missing: words.windows(2).any(|w| w == ["ignore", "missing"]),
                };
            }
            quote @ (b'"' | b'\'') => {
                words.push(' ');
                at = read_string(source, at + 1, quote).1;
            }
            other => {
                words.push(if other.is_ascii() { other as char } else { ' ' });
                at += 1;
            }
        }
    }
    Tag {
        keyword,
        names: Vec::new(),
        end: bytes.len(),
        ignore_missing: false,
    }
}

/// Reads a string literal's value from just past its opening quote; returns
/// it and the index past the closing quote.
fn read_string(source: &str, start: usize, quote: u8) -> (String, usize) {
    let mut text = String::new();
    let mut chars = source[start..].char_indices();
    while let Some((offset, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, 'n')) => text.push('\n'),
                Some((_, 't')) => text.push('\t'),
                Some((_, other)) => text.push(other),
                None => break,
            },
            c if c as u32 == u32::from(quote) => return (text, start + offset + 1),
            c => text.push(c),
        }
    }
    (text, source.len())
}

/// Index past the `}}` closing an expression that starts at `from`.
fn end_of_expression(source: &str, mut at: usize) -> usize {
    let bytes = source.as_bytes();
    while at < bytes.len() {
        match bytes[at] {
            b'}' if bytes.get(at + 1) == Some(&b'}') => return at + 2,
            quote @ (b'"' | b'\'') => at = read_string(source, at + 1, quote).1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Index past the `{% endraw %}` that closes a raw block opened before `from`.
fn end_of_raw(source: &str, mut from: usize) -> usize {
    while let Some(open) = find_from(source, from, "{%") {
        let tag = scan_tag(source, open + 2);
        if tag.keyword == "endraw" {
            return tag.end;
        }
        from = open + 2;
    }
    source.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_found_as_written() {
        let source = r#"
{% include "snippets/tone.md" %}
{%- include 'snippets/a.md' -%}
{% include ["first.md", "fallback.md"] ignore missing %}
{% include "with %} inside.md" %}
{% include name %}
{% include "prefix/" ~ name %}
{# {% include "commented.md" %} #}
{% raw %}{% include "raw.md" %}{% endraw %}
{% import "macros.j2" as m %}{% from "helpers.j2" import x %}
{% extends "base.j2" %}
{{ "{% include 'not-a-tag.md' %}" }}
{% if x %}{% include "nested/inner.md" with context %}{% endif %}
"#;
        assert_eq!(
            included_names(source),
            [
                "snippets/tone.md",
                "snippets/a.md",
                "first.md",
                "fallback.md",
                "with %} inside.md",
                "macros.j2",
                "helpers.j2",
                "base.j2",
                "nested/inner.md",
            ]
        );
    }

    #[test]
    fn include_tags_know_where_they_are() {
        let source = "Hi {%- include 'a.md' -%} and {% include x %}.";
        let tags = include_tags(source);
        assert_eq!(tags.len(), 2);
        assert_eq!(&source[tags[0].span.clone()], "{%- include 'a.md' -%}");
        assert_eq!(tags[0].names, ["a.md"]);
        assert_eq!(&source[tags[1].span.clone()], "{% include x %}");
        assert!(tags[1].names.is_empty());
    }

    #[test]
    fn unterminated_tags_do_not_panic() {
        for source in [
            "{%",
            "{% include",
            "{% include \"a",
            "{#",
            "{% raw %}",
            "{% include \"é\\",
        ] {
            let _ = included_names(source);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_source_is_scanned_without_panic(source in "[{}%#~\\[\\]\"' a-z.é-]{0,80}") {
            let _ = included_names(&source);
        }
    }

    #[test]
    fn ignore_missing_is_read_outside_strings() {
        let tags = include_tags(
            "{% include ['a.md', 'b.md'] ignore missing %}{% include 'ignore missing.md' %}",
        );
        assert!(tags[0].ignore_missing);
        assert_eq!(tags[0].names, ["a.md", "b.md"]);
        assert!(!tags[1].ignore_missing);
    }
}
