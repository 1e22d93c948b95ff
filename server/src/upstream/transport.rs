//! What a transport error says in the server's log: reqwest's own line names the URL but not
//! why ("error sending request for url (…)"); the reason (connection refused, reset, DNS, TLS)
//! is in its sources.

use std::error::Error;

/// The error and each of its sources, joined with `: ` (for the log, never a client).
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let line = e.to_string();
        // hyper and reqwest often repeat a source's text in its parent's.
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request for url (http://127.0.0.1:9/v1/messages)")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_the_reason_after_the_url() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(
            error_chain(&e),
            "error sending request for url (http://127.0.0.1:9/v1/messages): Connection refused (os error 111)"
        );
    }
}
