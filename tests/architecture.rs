//! The layer rule written at the top of `src/lib.rs`, checked on every test
//! run: no unit imports a unit of a higher layer, and no two units import each
//! other, directly or around a loop.
//!
//! A *unit* is a module that owns one job: each child of a layer folder
//! (`types::path`, `pipeline::gate`, `edges::git`, `flows::check`), and each of
//! the front ends (`action`, `server`, `mcp`, `cli`). Imports are read from the
//! source with `syn` — `use` trees, paths in code and `crate::` paths inside
//! macro calls — leaving out `#[cfg(test)]` items, whose imports are free.
//! A `pub use` at a layer root (`types::RepoPath`) is followed to the unit that
//! defines the item.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;

/// The layers, lowest first. A unit may import units of its own layer or of
/// a lower one.
const LAYERS: &[(&str, u8)] = &[
    ("types", 0),
    ("pipeline", 1),
    ("edges", 2),
    ("flows", 3),
    ("action", 4),
    ("server", 4),
    ("mcp", 4),
    ("cli", 5),
];

/// Layers that are folders of units (the others are one unit each).
const FOLDERS: &[&str] = &["types", "pipeline", "edges", "flows"];

fn rank(unit: &str) -> Option<u8> {
    let layer = unit.split("::").next()?;
    LAYERS
        .iter()
        .find(|(name, _)| *name == layer)
        .map(|(_, r)| *r)
}

/// One import of one unit by another, with where it is written.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    at: String,
}

/// A source file as the checker sees it: its module path and its text.
struct SourceFile {
    /// `src/`-relative, for messages.
    name: String,
    module: Vec<String>,
    text: String,
}

fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_owned());
    }
    parts
}

fn read_tree(root: &Path) -> Vec<SourceFile> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path: PathBuf = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).expect("under src/");
                files.push(SourceFile {
                    name: format!("src/{}", relative.display()),
                    module: module_of(relative),
                    text: std::fs::read_to_string(&path).expect("a UTF-8 source file"),
                });
            }
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The unit a module path belongs to; `None` for the crate root.
fn unit_of(module: &[String], units: &BTreeSet<String>) -> Option<String> {
    let first = module.first()?;
    if FOLDERS.contains(&first.as_str())
        && let Some(second) = module.get(1)
    {
        let unit = format!("{first}::{second}");
        if units.contains(&unit) {
            return Some(unit);
        }
    }
    Some(first.clone())
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr.meta.require_list().is_ok_and(|list| {
                list.tokens
                    .to_string()
                    .split_whitespace()
                    .any(|t| t == "test")
            })
    })
}

/// Collects the crate-absolute paths one file names, with their lines.
struct PathCollector<'a> {
    /// The module the code being visited is in.
    module: Vec<String>,
    found: &'a mut Vec<(Vec<String>, usize)>,
}

impl PathCollector<'_> {
    /// `crate::a::b`, `super::c`, `self::d` → absolute; other paths
    /// (std, dependencies, local names) → `None`.
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let mut base: Vec<String> = match segments.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") | Some("self") => self.module.clone(),
            _ => return None,
        };
        let mut rest = segments;
        if rest.first().is_some_and(|s| s == "crate") {
            rest = &rest[1..];
        } else {
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn record(&mut self, segments: &[String], line: usize) {
        if let Some(path) = self.absolute(segments) {
            self.found.push((path, line));
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(prefix, &path.tree);
                prefix.pop();
            }
            syn::UseTree::Name(name) => {
                let line = name.ident.span().start().line;
                let mut full = prefix.clone();
                if name.ident != "self" {
                    full.push(name.ident.to_string());
                }
                self.record(&full, line);
            }
            syn::UseTree::Rename(rename) => {
                let line = rename.ident.span().start().line;
                let mut full = prefix.clone();
                if rename.ident != "self" {
                    full.push(rename.ident.to_string());
                }
                self.record(&full, line);
            }
            syn::UseTree::Glob(glob) => {
                let line = glob.star_token.span.start().line;
                self.record(&prefix.clone(), line);
            }
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }

    /// `crate :: a :: b` (and `$crate`) token runs inside macro calls.
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut at = 0;
        while at < trees.len() {
            if let TokenTree::Group(group) = &trees[at] {
                self.tokens(group.stream());
                at += 1;
                continue;
            }
            let starts = matches!(&trees[at], TokenTree::Ident(i) if i == "crate" || i == "super");
            if !starts {
                at += 1;
                continue;
            }
            let line = trees[at].span().start().line;
            let mut segments = vec![trees[at].to_string()];
            let mut next = at + 1;
            while next + 1 < trees.len() {
                let colons = matches!(&trees[next..], [TokenTree::Punct(a), TokenTree::Punct(b), ..]
                    if a.as_char() == ':' && b.as_char() == ':');
                if !colons {
                    break;
                }
                match trees.get(next + 2) {
                    Some(TokenTree::Ident(ident)) => {
                        segments.push(ident.to_string());
                        next += 3;
                    }
                    _ => break,
                }
            }
            if segments.len() > 1 {
                self.record(&segments, line);
            }
            at = next.max(at + 1);
        }
    }
}

impl<'ast> Visit<'ast> for PathCollector<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Trait(t) => &t.attrs,
            syn::Item::Macro(m) => &m.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if is_cfg_test(attrs) {
            return;
        }
        match item {
            syn::Item::Mod(m) if m.content.is_some() => {
                self.module.push(m.ident.to_string());
                syn::visit::visit_item(self, item);
                self.module.pop();
            }
            // A macro's definition holds `$crate::…` paths written for its
            // callers; they count where the macro is defined.
            _ => syn::visit::visit_item(self, item),
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = path
            .segments
            .first()
            .map_or(0, |s| s.ident.span().start().line);
        self.record(&segments, line);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// What a layer root re-exports: item name → the module that defines it.
fn reexports(files: &[SourceFile]) -> BTreeMap<Vec<String>, Vec<String>> {
    let mut table = BTreeMap::new();
    for file in files
        .iter()
        .filter(|f| f.module.len() == 1 && FOLDERS.contains(&f.module[0].as_str()))
    {
        let Ok(parsed) = syn::parse_file(&file.text) else {
            continue;
        };
        for item in parsed.items {
            let syn::Item::Use(item) = item else { continue };
            if !matches!(item.vis, syn::Visibility::Public(_)) {
                continue;
            }
            let mut found = Vec::new();
            let mut collector = PathCollector {
                module: file.module.clone(),
                found: &mut found,
            };
            // `pub use child::X` is relative to the root: make it `self::child::X`.
            let tree = syn::UseTree::Path(syn::UsePath {
                ident: syn::Ident::new("self", proc_macro2::Span::call_site()),
                colon2_token: Default::default(),
                tree: Box::new(item.tree.clone()),
            });
            collector.use_tree(&mut Vec::new(), &tree);
            for (target, _) in found {
                if let Some(name) = target.last() {
                    let mut exported = file.module.clone();
                    exported.push(name.clone());
                    table.insert(exported, target);
                }
            }
        }
    }
    table
}

/// Every unit-to-unit import of the sources, or the files that do not parse.
fn imports(files: &[SourceFile]) -> Result<(BTreeSet<String>, Vec<Import>), Vec<String>> {
    let units: BTreeSet<String> = files
        .iter()
        .filter(|f| !f.module.is_empty())
        .map(|f| match (f.module.first(), f.module.get(1)) {
            (Some(first), Some(second)) if FOLDERS.contains(&first.as_str()) => {
                format!("{first}::{second}")
            }
            _ => f.module[0].clone(),
        })
        .collect();
    let exports = reexports(files);
    let mut errors = Vec::new();
    let mut edges = Vec::new();
    for file in files {
        let Some(from) = unit_of(&file.module, &units) else {
            continue;
        };
        let parsed = match syn::parse_file(&file.text) {
            Ok(parsed) => parsed,
            Err(error) => {
                errors.push(format!("{}: {error}", file.name));
                continue;
            }
        };
        let mut found = Vec::new();
        let mut collector = PathCollector {
            module: file.module.clone(),
            found: &mut found,
        };
        collector.visit_file(&parsed);
        for (mut path, line) in found {
            for length in (2..=path.len()).rev() {
                if let Some(target) = exports.get(&path[..length]) {
                    let mut resolved = target.clone();
                    resolved.extend(path[length..].iter().cloned());
                    path = resolved;
                    break;
                }
            }
            let Some(to) = unit_of(&path, &units) else {
                continue;
            };
            if to != from && units.contains(&to) {
                edges.push(Import {
                    from: from.clone(),
                    to,
                    at: format!("{}:{line}", file.name),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok((units, edges))
    } else {
        Err(errors)
    }
}

/// Imports that go up a layer.
fn upward(imports: &[Import]) -> Vec<&Import> {
    imports
        .iter()
        .filter(|i| match (rank(&i.from), rank(&i.to)) {
            (Some(from), Some(to)) => to > from,
            _ => false,
        })
        .collect()
}

/// Units unknown to the layer table (a new top-level module must be placed).
fn unplaced(units: &BTreeSet<String>) -> Vec<String> {
    units
        .iter()
        .filter(|u| rank(u).is_none())
        .cloned()
        .collect()
}

/// The groups of units that import each other around a loop (Tarjan's
/// strongly connected components of more than one unit).
fn cycles(units: &BTreeSet<String>, imports: &[Import]) -> Vec<Vec<String>> {
    let names: Vec<&String> = units.iter().collect();
    let index_of = |unit: &str| names.iter().position(|n| n.as_str() == unit);
    let mut next: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); names.len()];
    for import in imports {
        if let (Some(a), Some(b)) = (index_of(&import.from), index_of(&import.to)) {
            next[a].insert(b);
        }
    }
    struct Tarjan<'g> {
        next: &'g [BTreeSet<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        counter: usize,
        found: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.counter);
            self.low[v] = self.counter;
            self.counter += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in self.next[v].iter() {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        next: &next,
        index: vec![None; names.len()],
        low: vec![0; names.len()],
        stack: Vec::new(),
        on_stack: vec![false; names.len()],
        counter: 0,
        found: Vec::new(),
    };
    for v in 0..names.len() {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    let mut groups: Vec<Vec<String>> = tarjan
        .found
        .into_iter()
        .map(|c| {
            let mut group: Vec<String> = c.into_iter().map(|i| names[i].clone()).collect();
            group.sort();
            group
        })
        .collect();
    groups.sort();
    groups
}

/// Everything wrong with a source tree, as lines for a failure message.
fn violations(files: &[SourceFile]) -> Vec<String> {
    let (units, imports) = match imports(files) {
        Ok(found) => found,
        Err(errors) => return errors,
    };
    let mut problems = Vec::new();
    for unit in unplaced(&units) {
        problems.push(format!(
            "`{unit}` is in no layer: place it in a layer folder or add it to LAYERS (and to the layer rule in src/lib.rs)"
        ));
    }
    for import in upward(&imports) {
        problems.push(format!(
            "{}: `{}` imports `{}`, a higher layer",
            import.at, import.from, import.to
        ));
    }
    for group in cycles(&units, &imports) {
        let inside: Vec<String> = imports
            .iter()
            .filter(|i| group.contains(&i.from) && group.contains(&i.to))
            .map(|i| format!("    {} → {} ({})", i.from, i.to, i.at))
            .collect();
        problems.push(format!(
            "these units import each other around a loop: {}\n{}",
            group.join(", "),
            inside.join("\n")
        ));
    }
    problems
}

#[test]
fn the_layers_of_src_have_no_upward_import_and_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = read_tree(&root);
    let (units, _) = imports(&files).expect("every source file parses");
    assert!(
        units.len() > 20,
        "the checker found only {} units: it is not reading src/",
        units.len()
    );
    let problems = violations(&files);
    assert!(
        problems.is_empty(),
        "the layer rule of src/lib.rs is broken:\n{}",
        problems.join("\n")
    );
}

fn file(name: &str, text: &str) -> SourceFile {
    SourceFile {
        name: format!("src/{name}"),
        module: module_of(Path::new(name)),
        text: text.to_owned(),
    }
}

/// A small tree in the real shape, that the mutants below break.
fn sound_tree() -> Vec<SourceFile> {
    vec![
        file(
            "types/mod.rs",
            "pub mod path; pub mod call;\npub use path::RepoPath;\n",
        ),
        file("types/path.rs", "pub struct RepoPath;\n"),
        file(
            "types/call.rs",
            "use super::path::RepoPath;\npub struct Call(RepoPath);\n",
        ),
        file("pipeline/mod.rs", "pub mod spec; pub mod gate;\n"),
        file(
            "pipeline/spec.rs",
            "use crate::types::RepoPath;\npub fn parse() {}\n",
        ),
        file(
            "pipeline/gate.rs",
            "pub fn gate() { crate::pipeline::spec::parse(); }\n#[cfg(test)]\nmod tests { use crate::cli::Run; }\n",
        ),
        file(
            "cli/mod.rs",
            "pub struct Run;\nfn go() { crate::pipeline::gate::gate(); }\n",
        ),
    ]
}

#[test]
fn the_checker_passes_a_sound_tree() {
    let problems = violations(&sound_tree());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn mutant_an_upward_import_is_caught_with_its_place() {
    let mut files = sound_tree();
    files.push(file(
        "types/clock.rs",
        "\nfn now() { let _ = format!(\"{}\", crate::pipeline::gate::gate()); }\n",
    ));
    let problems = violations(&files);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("src/types/clock.rs:2: `types::clock` imports `pipeline::gate`")),
        "{problems:#?}"
    );
}

#[test]
fn mutant_a_cycle_inside_a_layer_is_caught() {
    let mut files = sound_tree();
    files[4] = file(
        "pipeline/spec.rs",
        "use crate::types::RepoPath;\npub fn parse() { super::gate::gate(); }\n",
    );
    let problems = violations(&files);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("around a loop: pipeline::gate, pipeline::spec")),
        "{problems:#?}"
    );
}

#[test]
fn mutant_a_cycle_through_a_reexport_is_caught() {
    let mut files = sound_tree();
    files[1] = file(
        "types/path.rs",
        "pub struct RepoPath(crate::types::call::Call);\n",
    );
    files[2] = file(
        "types/call.rs",
        "pub struct Call(crate::types::RepoPath);\n",
    );
    let problems = violations(&files);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("around a loop: types::call, types::path")),
        "{problems:#?}"
    );
}

#[test]
fn mutant_a_module_outside_the_layers_is_caught() {
    let mut files = sound_tree();
    files.push(file("grab_bag.rs", "pub fn helper() {}\n"));
    let problems = violations(&files);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`grab_bag` is in no layer")),
        "{problems:#?}"
    );
}
