//! A purpose-built reader for the small XML documents STS answers with: the text of the element
//! at a path of tag names, entities decoded. Not an XML parser (no CDATA, no namespaces by
//! prefix), which STS's responses do not need; an XML crate would cost binary for two documents.

/// The text of the element at `path` (each tag nested in the previous one), trimmed, with the
/// five predefined entities and numeric character references decoded. `None` when any tag of the
/// path is missing or unclosed.
pub fn element_text(xml: &str, path: &[&str]) -> Option<String> {
    let mut scope = xml;
    for tag in path {
        scope = element_content(scope, tag)?;
    }
    Some(decode_entities(scope.trim()))
}

/// The content of the first `<tag>` (or `<tag attr="…">`) element in `xml`; empty for `<tag/>`.
fn element_content<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let mut from = 0;
    loop {
        let open = from + xml.get(from..)?.find('<')?;
        from = open + 1;
        let Some(after_name) = xml.get(from..)?.strip_prefix(tag) else {
            continue;
        };
        let start_tag_end = match after_name.bytes().next() {
            Some(b'>') => 0,
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'/') => after_name.find('>')?,
            // A longer name that starts with `tag` (`<CredentialsX>`).
            _ => continue,
        };
        if after_name.get(..start_tag_end)?.ends_with('/') {
            return Some("");
        }
        let content = after_name.get(start_tag_end + 1..)?;
        let end = content.find(&format!("</{tag}>"))?;
        return content.get(..end);
    }
}

/// `text` with `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` and `&#NN;`/`&#xNN;` decoded; anything
/// else after a `&` is kept as it is.
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => numeric_reference(entity)?,
            };
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character of `#NN` or `#xNN`.
fn numeric_reference(entity: &str) -> Option<char> {
    /// Radix of `&#xNN;`.
    const HEX: u32 = 16;
    let number = entity.strip_prefix('#')?;
    let code = match number.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, HEX).ok()?,
        None => number.parse().ok()?,
    };
    char::from_u32(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:app</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>se&lt;cr&amp;et&#x2F;&#43;</SecretAccessKey>
      <SessionToken>tok&quot;en&apos;</SessionToken>
      <Expiration>2026-12-03T18:00:00Z</Expiration>
    </Credentials>
    <EmptyElement/>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn finds_nested_elements_and_decodes_entities() {
        let at = |path: &[&str]| element_text(RESPONSE, path);
        let creds = [
            "AssumeRoleWithWebIdentityResponse",
            "AssumeRoleWithWebIdentityResult",
            "Credentials",
        ];
        let field = |name| at(&[creds[0], creds[1], creds[2], name]);
        assert_eq!(field("AccessKeyId").as_deref(), Some("ASIAEXAMPLE"));
        assert_eq!(field("SecretAccessKey").as_deref(), Some("se<cr&et/+"));
        assert_eq!(field("SessionToken").as_deref(), Some("tok\"en'"));
        assert_eq!(field("Expiration").as_deref(), Some("2026-12-03T18:00:00Z"));
        assert_eq!(
            at(&[creds[0], creds[1], "EmptyElement"]).as_deref(),
            Some("")
        );
        assert_eq!(
            at(&[creds[0], "Credentials", "AccessKeyId"]).as_deref(),
            Some("ASIAEXAMPLE")
        );
        assert_eq!(at(&[creds[0], creds[1], "Missing"]), None);
        assert_eq!(at(&["Credential"]), None);
    }

    #[test]
    fn malformed_documents_give_none_or_keep_text() {
        assert_eq!(element_text("<a><b>unclosed</a>", &["a", "b"]), None);
        assert_eq!(element_text("<a", &["a"]), None);
        assert_eq!(element_text("", &["a"]), None);
        assert_eq!(
            element_text("<a>x &bogus; &#xZZ; & y</a>", &["a"]).as_deref(),
            Some("x &bogus; &#xZZ; & y")
        );
        assert_eq!(
            element_text("<ab>1</ab><a>2</a>", &["a"]).as_deref(),
            Some("2")
        );
    }
}
