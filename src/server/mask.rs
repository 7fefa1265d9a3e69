//! How a person's contact point is shown where it may be seen by others than the person (the
//! verification page, the audit log): enough to recognise it, not enough to contact them.

/// `u***@example.com`: the first character of the local part, then the domain.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+1 •••• ••0100`: the country code and the last four digits.
pub fn mask_phone(number: &str) -> String {
    let country = crate::server::phone::country_code(number)
        .map(|code| code.to_string())
        .unwrap_or_default();
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(4)..].iter().collect();
    format!("+{country} •••• ••{last}")
}

/// A recipient of `channel`, masked as its kind is.
pub fn mask_recipient(channel: crate::engine::Channel, recipient: &str) -> String {
    if channel.uses_phone_number() {
        mask_phone(recipient)
    } else {
        mask_email(recipient)
    }
}
