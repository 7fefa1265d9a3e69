//! English.

use super::Texts;
use crate::engine::Channel;

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Whatsapp => "WhatsApp",
    }
}

fn plural(n: impl Into<i64>, one: &str, many: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

pub const TEXTS: Texts = Texts {
    tag: "en",
    dir: "ltr",
    title: "Confirm it’s you",
    intro: |tenant| {
        format!(
            "{tenant} sent a code to each contact below. Enter each code to confirm it’s yours."
        )
    },
    channel_name,
    code_label: |channel| format!("{} code", channel_name(channel)),
    code_hint: |length| format!("{length} digits"),
    verify: "Verify",
    checking: "Checking…",
    verified: "Verified",
    optional: "Optional",
    wrong_code: "That code is not right. Check it and try again.",
    digits_only: "Codes are digits only: remove spaces, dashes and letters.",
    not_a_code: |length| format!("That is not a code. Enter the {length} digits you received."),
    channel_locked: "Too many wrong codes for this contact.",
    slow_down: "Too many tries. Wait a few minutes, then enter the code again.",
    no_more_codes: "No more codes can be sent right now. Use the latest code you received, or try again later.",
    resend: "Resend code",
    delivery_queued: "Sending…",
    delivery_sent: "Sent",
    delivery_delivered: "Delivered",
    delivery_failed: "Could not be delivered — try another channel, or resend the code.",
    resend_in: |seconds| format!("Resend in {}", plural(seconds, "second", "seconds")),
    resent: |channel| format!("A new {} code is on its way.", channel_name(channel)),
    also_sent: |channel| format!("We also sent a code by {}.", channel_name(channel)),
    progress: |done, total| format!("{done} of {total} verified"),
    expires_in: |clock| format!("Codes expire in {clock}"),
    attempts_left: |n| format!("{} left", plural(n, "attempt", "attempts")),
    announce_verified: |channel| format!("{} verified", channel_name(channel)),
    success_title: "You’re verified",
    success_any: "You can return to the app now. The other contacts are optional.",
    success_all: "Every contact is confirmed. You can return to the app now.",
    expired_title: "These codes have expired",
    expired_body: |tenant| format!("Go back to {tenant} and ask for new codes."),
    locked_title: "Too many attempts",
    locked_body: |tenant| {
        format!(
            "For your security this verification is locked. Go back to {tenant} and start again."
        )
    },
    not_found_title: "This verification link is not valid",
    not_found_body: "It may have expired, been cancelled or been copied incompletely. Go back to the app that sent you here and start again.",
    try_again: "Something went wrong. Please try again.",
};
