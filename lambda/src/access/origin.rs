//! The origin allowlist: a browser sends `Origin` on every WebSocket handshake, so a
//! deployment that lists its web apps' origins refuses pages elsewhere that would use
//! its endpoint. A handshake without `Origin` (a server, a command-line client: they can
//! send any header they like) is not refused: the allowlist stops other sites' pages,
//! not other programs. Pure.

/// Whether a handshake with `origin` may connect, given the allowed origins (none
/// listed: any).
pub fn allowed(origin: Option<&str>, allowlist: &[String]) -> bool {
    match origin {
        _ if allowlist.is_empty() => true,
        None => true,
        Some(origin) => {
            let origin = origin.trim_end_matches('/');
            allowlist
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
        }
    }
}

/// The `Origin` header among `headers` (names are case-insensitive).
pub fn of<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
    headers
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("origin"))
        .map(|(_, value)| value)
}

/// Checks one allowlist entry: a scheme and a host (and port), nothing else, as
/// browsers send `Origin`. Returns the entry or why it is wrong.
pub fn parse(entry: &str) -> Result<String, String> {
    let entry = entry.trim().trim_end_matches('/');
    let rest = entry
        .strip_prefix("https://")
        .or_else(|| entry.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("origin {entry:?} must start with https:// or http:// (for example https://app.example.com)")
        })?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', ',']) {
        return Err(format!(
            "origin {entry:?} must be a scheme and a host only, as a browser sends it (for example https://app.example.com:8443), with no path"
        ));
    }
    Ok(entry.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_and_originless_handshakes_pass() {
        let list = vec!["https://app.example".to_owned()];
        assert!(allowed(Some("https://app.example"), &list));
        assert!(allowed(Some("https://APP.example/"), &list));
        assert!(!allowed(Some("https://evil.example"), &list));
        assert!(!allowed(Some("http://app.example"), &list));
        assert!(!allowed(Some("null"), &list));
        assert!(allowed(None, &list));
        assert!(allowed(Some("https://evil.example"), &[]));
    }

    #[test]
    fn headers_and_entries() {
        let headers = [("Host", "h"), ("origin", "https://a")];
        assert_eq!(of(headers), Some("https://a"));
        assert_eq!(parse("https://a.example/").unwrap(), "https://a.example");
        assert!(parse("a.example").unwrap_err().contains("https://"));
        assert!(
            parse("https://a.example/app")
                .unwrap_err()
                .contains("no path")
        );
    }
}
