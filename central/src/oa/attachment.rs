//! Attachments of requests (receipts, contracts): what is accepted, checked by the file's own
//! bytes, not only by the name or type its sender claims.
//!
//! Accepted: PDF, PNG, JPEG, and Word and Excel files (`.docx`, `.xlsx`, zip containers), up
//! to [`MAX_BYTES`]. A file is kept once, by its SHA-256, which is what a form's attachment
//! field holds.

use sha2::{Digest, Sha256};

/// Largest attachment accepted.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;
/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// What an attachment is, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub sha256: String,
    pub name: String,
    pub content_type: &'static str,
}

/// Checks an upload: its size, its name, and that its bytes are one of the accepted kinds
/// (the kind comes from the bytes; a `.docx` or `.xlsx` name picks between zip containers).
pub fn check(name: &str, bytes: &[u8]) -> Result<Checked, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "the file is {} bytes; at most {MAX_BYTES} ({} MiB)",
            bytes.len(),
            MAX_BYTES / (1024 * 1024)
        ));
    }
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '"'))
    {
        return Err(format!(
            "name: expected a file name of 1 to {MAX_NAME_CHARS} characters without / \\ \" or control characters"
        ));
    }
    let lower = name.to_lowercase();
    let content_type = if bytes.starts_with(b"%PDF-") {
        "application/pdf"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        "image/jpeg"
    } else if bytes.starts_with(b"PK\x03\x04") && lower.ends_with(".docx") {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    } else if bytes.starts_with(b"PK\x03\x04") && lower.ends_with(".xlsx") {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    } else {
        return Err(format!(
            "{name:?} is not a PDF, PNG, JPEG, .docx or .xlsx file (judged by its content)"
        ));
    };
    Ok(Checked {
        sha256: hex::encode(Sha256::digest(bytes)),
        name: name.to_owned(),
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_accepted_kinds_by_their_bytes_and_within_the_size() {
        let pdf = b"%PDF-1.7\n...";
        let c = check("发票 receipt.pdf", pdf).unwrap();
        assert_eq!(c.content_type, "application/pdf");
        assert_eq!(c.sha256, hex::encode(Sha256::digest(pdf)));
        assert_eq!(
            check("a.png", b"\x89PNG\r\n\x1a\n....")
                .unwrap()
                .content_type,
            "image/png"
        );
        assert_eq!(
            check("a.jpg", b"\xFF\xD8\xFF\xE0..").unwrap().content_type,
            "image/jpeg"
        );
        assert!(
            check("c.docx", b"PK\x03\x04..")
                .unwrap()
                .content_type
                .contains("word")
        );
        assert!(
            check("c.xlsx", b"PK\x03\x04..")
                .unwrap()
                .content_type
                .contains("sheet")
        );
        // A zip that is not an office file, a script named .pdf, an empty or huge file.
        assert!(
            check("c.zip", b"PK\x03\x04..")
                .unwrap_err()
                .contains("judged by its content")
        );
        assert!(check("evil.pdf", b"#!/bin/sh\n").is_err());
        assert_eq!(check("a.pdf", b"").unwrap_err(), "the file is empty");
        let big = vec![b'%'; MAX_BYTES + 1];
        assert!(check("a.pdf", &big).unwrap_err().contains("at most"));
        // Names that would break a download's header or a path.
        for bad in ["", "a/b.pdf", "a\"b.pdf", "a\rb.pdf"] {
            assert!(check(bad, pdf).unwrap_err().starts_with("name:"), "{bad:?}");
        }
    }
}
