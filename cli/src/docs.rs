//! The sections of docs/ generated from a table in the code (the IAM permissions, the
//! settings): a test per table compares its section with what the code says, and
//! `MB_UPDATE_DOCS=1` rewrites the section instead. Test-only.

use std::path::Path;

/// Checks that `doc` (a path under docs/) holds `expected` between
/// `<!-- NAME: generated from SOURCE -->` and `<!-- end of NAME -->`; with `MB_UPDATE_DOCS`
/// set, writes it there instead.
pub fn assert_generated(doc: &str, name: &str, source: &str, expected: &str) {
    let start_marker = format!("<!-- {name}: generated from {source} -->\n");
    let end_marker = format!("<!-- end of {name} -->");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(doc);
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(&start_marker)
        .unwrap_or_else(|| panic!("no `{}` in {doc}", start_marker.trim_end()))
        + start_marker.len();
    let end = text
        .find(&end_marker)
        .unwrap_or_else(|| panic!("no `{end_marker}` in {doc}"));
    let expected = format!("\n{expected}\n");
    if text[start..end] != expected && std::env::var_os("MB_UPDATE_DOCS").is_some() {
        let updated = format!("{}{expected}{}", &text[..start], &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert!(
        text[start..end] == expected,
        "{doc}'s {name} section differs from {source}; run `MB_UPDATE_DOCS=1 cargo test -p mb \
         {name}` to rewrite it"
    );
}
