//! The layout a newcomer relies on, held by a test anyone can run
//! (`cargo test -p mb-tests --test layout`):
//! - the files of each crate (`lambda/src`, `cli/src`) import each other without a
//!   circle: a file's imports (`use crate::…`, `use super::…`, a child module's path, or
//!   such a path written inline) name the file of the module they reach, and the graph of
//!   those arrows has no cycle;
//! - no file holds more than [`MAX_LINES`] lines before its tests.
//!
//! It reads the source as text (comments and test modules left out), which is all an
//! import graph needs: a path resolves to the deepest module file that exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a file may hold before its `#[cfg(test)] mod tests`.
const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

/// Every `.rs` file under `dir`, but `bin/` (another crate) and test files.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// A file's module path within its crate: `a/b.rs` and `a/b/mod.rs` are `[a, b]`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).expect("a file of the crate");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file before its test module, without comment lines.
fn code(text: &str) -> (Vec<&str>, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| {
            let item = w[1]
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ");
            w[0].trim() == "#[cfg(test)]" && item.starts_with("mod ") && item.ends_with('{')
        })
        .unwrap_or(lines.len());
    let code = lines[..end]
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    (code, end)
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths written after `at` in `text` (`a::b::c`, or a group `{a::b, c}`), each
/// as its segments.
fn paths_after(text: &str, mut at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let bytes = text.as_bytes();
    let mut path = prefix;
    loop {
        if text[at..].starts_with('{') {
            group(text, at, &path, out);
            return;
        }
        let start = at;
        while at < text.len() && is_ident(bytes[at] as char) {
            at += 1;
        }
        match &text[start..at] {
            "" | "self" => {}
            "super" => {
                path.pop();
            }
            segment => path.push(segment.to_owned()),
        }
        if text[at..].starts_with("::") {
            at += 2;
            continue;
        }
        out.push(path);
        return;
    }
}

/// A group `{a::b, c}` at `at`: each item is a path of its own under `prefix`.
fn group(text: &str, at: usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut depth = 0;
    let mut item_start = at + 1;
    for (offset, c) in text[at..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' | ',' if depth == 1 => {
                let item = text[item_start..at + offset].trim();
                if !item.is_empty() {
                    paths_after(item, 0, prefix.to_vec(), out);
                }
                item_start = at + offset + 1;
                if c == '}' {
                    return;
                }
            }
            '}' => depth -= 1,
            _ => {}
        }
    }
}

/// The module paths a file's code names: absolute (`crate::`), relative to its parent
/// (`super::`), or through a child module it declares.
fn imports(code: &str, module: &[String], children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for (at, _) in code.char_indices() {
        if at > 0 && (is_ident(bytes[at - 1] as char) || bytes[at - 1] == b':') {
            continue;
        }
        let rest = &code[at..];
        if let Some(after) = rest.strip_prefix("crate::") {
            paths_after(code, code.len() - after.len(), Vec::new(), &mut found);
        } else if let Some(after) = rest.strip_prefix("super::") {
            let parent = module[..module.len().saturating_sub(1)].to_vec();
            paths_after(code, code.len() - after.len(), parent, &mut found);
        } else if let Some(after) = rest.strip_prefix("self::") {
            paths_after(code, code.len() - after.len(), module.to_vec(), &mut found);
        } else {
            for child in children {
                if rest.starts_with(&format!("{child}::")) {
                    paths_after(code, at, module.to_vec(), &mut found);
                }
            }
        }
    }
    found
}

/// The files of one crate and, for each, the files it imports (with the names that tie
/// them).
fn graph(root: &Path) -> BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>> {
    let files = sources(root);
    let by_module: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(root, f), f.clone()))
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let (lines, _) = code(&text);
        let code = lines.join("\n");
        let module = module_of(root, file);
        let children: BTreeSet<String> = lines
            .iter()
            .filter_map(|l| {
                let l = l.trim_start();
                let l = l.strip_prefix("pub ").unwrap_or(l);
                l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
            })
            .collect();
        let mut edges: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
        for path in imports(&code, &module, &children) {
            // The deepest module of the path that is a file.
            let target = (1..=path.len())
                .rev()
                .find_map(|n| by_module.get(&path[..n]).map(|f| (f, n)));
            if let Some((target, n)) = target
                && target != file
                // A module's own ancestors' `mod` items are no import; a child reached by
                // `super::` from within it is (the parent holds what it takes).
                && n > 0
            {
                let name = path.get(n).cloned().unwrap_or_else(|| path[n - 1].clone());
                edges.entry(target.clone()).or_default().insert(name);
            }
        }
        graph.insert(file.clone(), edges);
    }
    graph
}

/// The strongly connected components of more than one file (Tarjan), each sorted.
fn circles(graph: &BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>) -> Vec<Vec<PathBuf>> {
    struct State<'a> {
        graph: &'a BTreeMap<PathBuf, BTreeMap<PathBuf, BTreeSet<String>>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        next: usize,
        found: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|e| e.keys()) {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let root = workspace();
    let mut report = String::new();
    let mut files = 0;
    for crate_dir in ["lambda/src", "cli/src"] {
        let graph = graph(&root.join(crate_dir));
        files += graph.len();
        for circle in circles(&graph) {
            report.push_str("circle:\n");
            for file in &circle {
                for (target, names) in &graph[file] {
                    if circle.contains(target) {
                        report.push_str(&format!(
                            "  {} -> {}: {}\n",
                            file.strip_prefix(&root).unwrap_or(file).display(),
                            target.strip_prefix(&root).unwrap_or(target).display(),
                            names.iter().cloned().collect::<Vec<_>>().join(", ")
                        ));
                    }
                }
            }
        }
    }
    assert!(files > 60, "only {files} source files found");
    assert!(
        report.is_empty(),
        "import circles (move what both sides need to where neither imports the other):\n{report}"
    );
}

/// The reader of the graph sees a circle where there is one: two files of a made-up crate
/// that import each other.
#[test]
fn a_circle_is_seen() {
    let dir = std::env::temp_dir().join(format!("mb-layout-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("a")).expect("a folder");
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\n").expect("lib.rs");
    std::fs::write(dir.join("a/mod.rs"), "mod c;\nuse c::Thing;\n").expect("a/mod.rs");
    std::fs::write(
        dir.join("a/c.rs"),
        "// use crate::b::Nothing; (a comment)\nuse super::super::b::Other;\n",
    )
    .expect("a/c.rs");
    std::fs::write(dir.join("b.rs"), "use crate::{a::Top, a::c::Thing};\n").expect("b.rs");
    let graph = graph(&dir);
    let found = circles(&graph);
    let _ = std::fs::remove_dir_all(&dir);
    let names: Vec<Vec<String>> = found
        .iter()
        .map(|c| {
            c.iter()
                .map(|f| f.strip_prefix(&dir).unwrap_or(f).display().to_string())
                .collect()
        })
        .collect();
    assert_eq!(names, [["a/c.rs", "a/mod.rs", "b.rs"]], "{graph:#?}");
}

#[test]
fn no_file_holds_more_than_about_600_lines_before_its_tests() {
    let root = workspace();
    let mut long = Vec::new();
    for crate_dir in ["lambda/src", "cli/src"] {
        for file in sources(&root.join(crate_dir)) {
            let text = std::fs::read_to_string(&file).expect("read a source file");
            let (_, before_tests) = code(&text);
            if before_tests > MAX_LINES {
                long.push(format!(
                    "{} ({before_tests} lines)",
                    file.strip_prefix(&root).unwrap_or(&file).display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines before the tests: split by concept\n  {}",
        long.join("\n  ")
    );
}
