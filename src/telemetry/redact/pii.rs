//! Personal data detection, on only with `logging.redact_pii`: e-mail addresses, phone
//! numbers (`+` and a country code, or the North American `(555) 123-4567`, `555-123-4567`,
//! `555.123.4567`) and payment card numbers (13–19 digits, contiguous or grouped,
//! Luhn-checked).
//!
//! Unlike credentials, these have no trigger word, so the scans are tuned to stay cheap on a
//! clean line: one `memchr2` pass for `@` and `+`, and a digit scan that samples one byte in
//! [`MIN_NUMERIC_RUN`]. The shape checks err towards leaving a log line readable: timestamps,
//! UUIDs, IP addresses, versions and durations must not turn into `[phone]` or `[card]`.

use std::ops::RangeInclusive;

use super::{Mask, Span, is_word, run, starts_token};

/// Digits of an international number after `+` (E.164 allows at most 15).
const PHONE_DIGITS: RangeInclusive<usize> = 8..=15;
/// Separators allowed in a row inside a phone number (`) ` in `+1 (555) 123-4567`).
const PHONE_MAX_SEPARATOR_RUN: usize = 2;
/// Group sizes of a North American number written `555-123-4567`.
const NANP_GROUPS: [usize; 3] = [3, 3, 4];
/// Digits of a payment card number.
const CARD_DIGITS: RangeInclusive<usize> = 13..=19;
/// First digit of a card number (Visa 4, Mastercard 2/5, Amex/JCB/Diners 3, Discover and
/// UnionPay 6); it also keeps epoch timestamps in milliseconds or nanoseconds (which start
/// with 1) from being taken for cards.
const CARD_FIRST_DIGIT: RangeInclusive<u8> = b'2'..=b'6';
/// A card written in groups starts with a group of four (4-4-4-4, Amex 4-6-5, Diners 4-6-4).
const CARD_FIRST_GROUP: usize = 4;
/// Shortest later group of a grouped card (the final group of 4-4-4-4-3).
const CARD_MIN_GROUP: usize = 3;
/// Longest later group of a grouped card (the middle group of Amex 4-6-5).
const CARD_MAX_GROUP: usize = 6;
/// Bytes of the shortest number shape the digit scan looks for (`555-123-4567`; a card has at
/// least 13): the scan samples one byte in this many.
const MIN_NUMERIC_RUN: usize = 12;
/// Shortest top-level domain of an e-mail address.
const MIN_TLD_LEN: usize = 2;

/// Pushes an e-mail, phone or card span for every piece of personal data in `text`.
pub(super) fn find(text: &[u8], spans: &mut Vec<Span>) {
    for at in memchr::memchr2_iter(b'@', b'+', text) {
        if text[at] == b'@' {
            email(text, at, spans);
        } else {
            plus_phone(text, at, spans);
        }
    }
    numeric_runs(text, spans);
}

/// `local@domain.tld` around the `@` at `at`.
fn email(text: &[u8], at: usize, spans: &mut Vec<Span>) {
    let is_local = |b: u8| is_word(b) || matches!(b, b'.' | b'%' | b'+' | b'-');
    let mut start = at;
    while start > 0 && is_local(text[start - 1]) {
        start -= 1;
    }
    start += run(&text[..at], start, |b| b == b'.');
    if start == at {
        return;
    }
    let is_label = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
    let mut i = at + 1;
    let mut labels = 0;
    let mut last = (i, i);
    loop {
        let len = run(text, i, is_label);
        if len == 0 || text[i] == b'-' {
            break;
        }
        labels += 1;
        last = (i, i + len);
        i += len;
        if text.get(i) == Some(&b'.') && text.get(i + 1).is_some_and(|&b| is_label(b)) {
            i += 1;
        } else {
            break;
        }
    }
    let tld = &text[last.0..last.1];
    if labels >= 2 && tld.len() >= MIN_TLD_LEN && tld.iter().all(u8::is_ascii_alphabetic) {
        spans.push(Span {
            start,
            end: last.1,
            mask: Mask::Email,
        });
    }
}

/// Separators inside a phone number.
fn is_phone_separator(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')')
}

/// `+<country code> <number>` at the `+` at `plus`: 8 to 15 digits with light punctuation.
/// Time zone offsets (`+02:00`), exponents (`1e+10`) and sums (`a+1`) are too short or glued
/// to a word.
fn plus_phone(text: &[u8], plus: usize, spans: &mut Vec<Span>) {
    if !starts_token(text, plus, |b| is_word(b) || b == b'+')
        || !matches!(text.get(plus + 1), Some(b'1'..=b'9'))
    {
        return;
    }
    let mut digits = 0;
    let mut separators = 0;
    let mut end = plus + 1;
    for (i, &b) in text.iter().enumerate().skip(plus + 1) {
        if b.is_ascii_digit() {
            digits += 1;
            separators = 0;
            end = i + 1;
        } else if is_phone_separator(b) && separators < PHONE_MAX_SEPARATOR_RUN {
            separators += 1;
        } else {
            break;
        }
    }
    if PHONE_DIGITS.contains(&digits) && !text.get(end).is_some_and(|&b| is_word(b)) {
        spans.push(Span {
            start: plus,
            end,
            mask: Mask::Phone,
        });
    }
}

/// Bytes that can be part of a card or phone number written without `+`.
fn is_numeric(b: u8) -> bool {
    b.is_ascii_digit() || is_phone_separator(b)
}

/// Finds the runs of number-ish bytes long enough to hold a card or a phone number, sampling
/// one byte in [`MIN_NUMERIC_RUN`]: any such run contains a sampled byte, and a line of
/// words and short numbers costs a few comparisons per sample.
fn numeric_runs(text: &[u8], spans: &mut Vec<Span>) {
    let mut probe = MIN_NUMERIC_RUN - 1;
    let mut covered = 0;
    while let Some(&b) = text.get(probe) {
        if !is_numeric(b) {
            probe += MIN_NUMERIC_RUN;
            continue;
        }
        let mut start = probe;
        while start > covered && is_numeric(text[start - 1]) {
            start -= 1;
        }
        let end = probe + run(text, probe, is_numeric);
        if end - start >= MIN_NUMERIC_RUN {
            numbers_in(text, start, end, spans);
        }
        covered = end;
        probe = end + MIN_NUMERIC_RUN;
    }
}

/// Card and phone numbers inside the number-ish run `text[start..end]`.
fn numbers_in(text: &[u8], start: usize, end: usize, spans: &mut Vec<Span>) {
    let mut i = start;
    while i < end {
        let found = match text[i] {
            b'(' => paren_phone(text, i).map(|stop| (stop, Mask::Phone)),
            b if b.is_ascii_digit() => card(text, i)
                .map(|stop| (stop, Mask::Card))
                .or_else(|| dashed_phone(text, i).map(|stop| (stop, Mask::Phone))),
            _ => None,
        };
        match found {
            Some((stop, mask)) => {
                spans.push(Span {
                    start: i,
                    end: stop,
                    mask,
                });
                i = stop;
            }
            None if text[i].is_ascii_digit() => i += run(text, i, |b| b.is_ascii_digit()),
            None => i += 1,
        }
    }
}

/// Whether the number ending at `end` stops there: no word byte and no decimal or further
/// group right after it.
fn number_ends(text: &[u8], end: usize) -> bool {
    match text.get(end) {
        None => true,
        Some(&b) if is_word(b) => false,
        Some(b'.' | b'-') => !text.get(end + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// A card number starting at the digit at `start`: one run of 13–19 digits, or groups
/// (the first of four) joined by one kind of separator, space or dash; Luhn-valid.
fn card(text: &[u8], start: usize) -> Option<usize> {
    if !starts_token(text, start, is_word)
        || !CARD_FIRST_DIGIT.contains(&text[start])
        || (start >= 2 && text[start - 1] == b'.' && text[start - 2].is_ascii_digit())
    {
        return None;
    }
    let mut separator = None;
    let mut digits = 0;
    let mut group = start;
    let mut groups = 0;
    loop {
        let len = run(text, group, |b| b.is_ascii_digit());
        let grouped_ok = match groups {
            0 => len == CARD_FIRST_GROUP || CARD_DIGITS.contains(&len),
            _ => (CARD_MIN_GROUP..=CARD_MAX_GROUP).contains(&len),
        };
        if !grouped_ok {
            return None;
        }
        digits += len;
        groups += 1;
        let end = group + len;
        if digits > *CARD_DIGITS.end() {
            return None;
        }
        if CARD_DIGITS.contains(&digits) && number_ends(text, end) && luhn(&text[start..end]) {
            return Some(end);
        }
        // Only a leading group of four continues into more groups.
        if groups == 1 && len != CARD_FIRST_GROUP {
            return None;
        }
        match (text.get(end), text.get(end + 1)) {
            (Some(&sep @ (b' ' | b'-')), Some(next))
                if next.is_ascii_digit() && separator.is_none_or(|s| s == sep) =>
            {
                separator = Some(sep);
                group = end + 1;
            }
            _ => return None,
        }
    }
}

/// The Luhn checksum over the digits of `number` (separators skipped).
fn luhn(number: &[u8]) -> bool {
    let mut sum = 0;
    let mut double = false;
    for &b in number.iter().rev().filter(|b| b.is_ascii_digit()) {
        let mut d = u32::from(b - b'0');
        if double {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        double = !double;
    }
    sum % 10 == 0
}

/// `555-123-4567` or `555.123.4567` starting at `start` (one kind of separator).
fn dashed_phone(text: &[u8], start: usize) -> Option<usize> {
    let glued = start >= 1 && matches!(text[start - 1], b'-' | b'.');
    if !starts_token(text, start, is_word) || glued {
        return None;
    }
    let separator = *text.get(start + NANP_GROUPS[0])?;
    if !matches!(separator, b'-' | b'.') {
        return None;
    }
    let mut i = start;
    for (n, &len) in NANP_GROUPS.iter().enumerate() {
        if n > 0 {
            if text.get(i) != Some(&separator) {
                return None;
            }
            i += 1;
        }
        if run(text, i, |b| b.is_ascii_digit()) != len {
            return None;
        }
        i += len;
    }
    number_ends(text, i).then_some(i)
}

/// `(555) 123-4567`, `(555)123-4567`, `(555) 123 4567` or `(555) 123.4567` at the `(` at
/// `start`.
fn paren_phone(text: &[u8], start: usize) -> Option<usize> {
    if !starts_token(text, start, is_word) {
        return None;
    }
    let digits = |i: usize, n: usize| (run(text, i, |b| b.is_ascii_digit()) == n).then_some(i + n);
    let mut i = digits(start + 1, NANP_GROUPS[0])?;
    if text.get(i) != Some(&b')') {
        return None;
    }
    i += 1;
    if text.get(i) == Some(&b' ') {
        i += 1;
    }
    i = digits(i, NANP_GROUPS[1])?;
    if !matches!(text.get(i), Some(b'-' | b'.' | b' ')) {
        return None;
    }
    i = digits(i + 1, NANP_GROUPS[2])?;
    number_ends(text, i).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{assert_redacts, assert_untouched};
    use super::*;

    #[test]
    fn masks_email_addresses() {
        assert_redacts([
            ("mail john.doe+tag@example.co.uk now", "mail [email] now"),
            (r#"{"to":"a@b.io"}"#, r#"{"to":"[email]"}"#),
        ]);
    }

    #[test]
    fn masks_phone_numbers() {
        assert_redacts([
            (
                "call +1 (555) 123-4567 or +44 20 7946 0958",
                "call [phone] or [phone]",
            ),
            ("tel:+14155552671.", "tel:[phone]."),
            ("(555) 123-4567, 555-123-4567", "[phone], [phone]"),
            ("at 555.123.4567", "at [phone]"),
        ]);
    }

    #[test]
    fn masks_card_numbers() {
        assert_redacts([
            ("card 4111111111111111.", "card [card]."),
            ("4111 1111 1111 1111 exp", "[card] exp"),
            ("4111-1111-1111-1111", "[card]"),
            ("amex 3782 822463 10005", "amex [card]"),
            ("visa 4111111111111111 123", "visa [card] 123"),
            ("2026-11-26 4111 1111 1111 1111", "2026-11-26 [card]"),
            (r#"{"n":5500005555555559}"#, r#"{"n":[card]}"#),
        ]);
    }

    #[test]
    fn leaves_numbers_and_addresses_that_are_not_pii_alone() {
        assert_untouched(&[
            r#"{"timestamp":"2026-11-26T13:05:01.123456Z","level":"INFO"}"#,
            "2026-11-26T13:05:01+02:00 took 1.234567890123s",
            "id 123e4567-e89b-12d3-a456-426614174000 and 12345678-1234-1234-1234-123456789012",
            "peer 10.244.123.45:8080 ip 192.168.100.200 and [::1]:9901",
            "duration_ms=12.345678901234 cost_usd=0.0000412345678901",
            "epoch_ms 1764162301123 epoch_ns 1764162301123456789",
            // 16 digits that fail Luhn.
            "order 4111111111111112",
            // Too many digits for a card.
            "big 41111111111111111111111",
            "user@localhost scope @types/node model@2024 x@1.2.3.4",
            "1e+10 a+123456789 +12345 +0123456789",
            "version 1.2.3 port 8080 pid 12345 bytes 10485760",
            "phone-ish 1234-567-8901 and 555-1234",
        ]);
    }

    #[test]
    fn luhn_checks() {
        for (number, valid) in [
            ("4111111111111111", true),
            ("4111 1111 1111 1111", true),
            ("378282246310005", true),
            ("4111111111111112", false),
            ("0", true),
        ] {
            assert_eq!(luhn(number.as_bytes()), valid, "{number}");
        }
    }
}
