//! One channel's card: its name and masked recipient, the code input (typed, pasted, any
//! script's digits, submitted by itself when full), its state, and "Resend code" with a visible
//! cooldown. Without JavaScript the card is a plain form that posts to the page.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::PageState;
use crate::app::i18n::{Count, Say, Texts, Word};
use crate::engine::code::{CodeFormatError, display_digits, normalize_code};
use crate::engine::delivery::DeliveryStatus;
use crate::engine::{Channel, SessionStatus, VerificationMode};
use crate::model::{CodeResult, ResendAnswer, WidgetSession};
use crate::rpc::{resend_widget_code, submit_widget_code};

/// What the card is doing, apart from what the session says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CardState {
    Waiting,
    Checking,
    Wrong,
    /// The submission was too long to be a code (no attempt counted).
    Malformed,
    /// The field holds characters other than digits; nothing was sent.
    NotDigits,
    ChannelLocked,
    Resent,
    /// A limit refused the code unchecked; no attempt was spent.
    Throttled,
    /// A limit refused the resend.
    NoMoreCodes,
    Failed,
}

impl CardState {
    /// The state a form post without JavaScript left behind.
    fn from_notice(notice: Option<&str>) -> CardState {
        match notice {
            Some("wrong") => CardState::Wrong,
            Some("malformed") => CardState::Malformed,
            Some("locked") => CardState::ChannelLocked,
            Some("resent") => CardState::Resent,
            Some("throttled") => CardState::Throttled,
            Some("no-more-codes") => CardState::NoMoreCodes,
            Some("error") => CardState::Failed,
            _ => CardState::Waiting,
        }
    }
}

/// The card's message: one per state. Once the session is locked or expired the page's banner
/// says what happened and what to do, and no card invites another attempt.
fn card_message(
    texts: &Texts,
    page: PageState,
    channel: Channel,
    verified: bool,
    channel_locked: bool,
    card: CardState,
    code_length: u8,
) -> String {
    if verified || matches!(page, PageState::Locked | PageState::Expired) {
        return String::new();
    }
    if channel_locked {
        return texts.word(Word::ChannelLocked).to_owned();
    }
    let word = match card {
        CardState::Malformed => return texts.count(Count::NotACode, code_length),
        CardState::Resent => return texts.about(Word::Resent, channel),
        CardState::Waiting | CardState::ChannelLocked => return String::new(),
        CardState::Checking => Word::Checking,
        CardState::Wrong => Word::WrongCode,
        CardState::NotDigits => Word::DigitsOnly,
        CardState::Throttled => Word::SlowDown,
        CardState::NoMoreCodes => Word::NoMoreCodes,
        CardState::Failed => Word::TryAgain,
    };
    texts.word(word).to_owned()
}

#[component]
pub fn ChannelCard(
    token: String,
    channel: Channel,
    session: RwSignal<WidgetSession>,
    state: Memo<PageState>,
    now: RwSignal<i64>,
    announcement: RwSignal<String>,
    say: Say,
    form_action: String,
    notice: Option<String>,
) -> impl IntoView {
    let token = StoredValue::new(token);
    let card = RwSignal::new(CardState::from_notice(notice.as_deref()));
    let input = NodeRef::<leptos::html::Input>::new();
    let name = say.channel(channel);
    let id = channel.as_str();

    let info = move || session.with(|s| s.channel(channel).cloned());
    let verified = move || info().is_some_and(|c| c.verified);
    let channel_locked =
        move || info().is_some_and(|c| c.locked) || card.get() == CardState::ChannelLocked;
    let open = Memo::new(move |_| {
        matches!(state.get(), PageState::Pending | PageState::Verified)
            && !verified()
            && !channel_locked()
    });
    let optional = Memo::new(move |_| {
        session.with(|s| s.mode == VerificationMode::Any && s.session_verified) && !verified()
    });
    // What shows or hides part of the card is a memo, so the part is built again only when it
    // comes or goes, not on every change of the session (the field keeps its text and focus).
    let shown_verified = Memo::new(move |_| verified());
    let code_length = move || session.with(|s| s.code_length);
    let wait = move || info().map_or(0, |c| c.resend_at) - now.get();
    let cooling = move || wait() > 0;

    let clear_and_focus = move || {
        if let Some(element) = input.get_untracked() {
            element.set_value("");
            let _ = element.focus();
        }
    };
    let submit = Callback::new(move |code: String| {
        if code.is_empty() || card.get_untracked() == CardState::Checking {
            return;
        }
        card.set(CardState::Checking);
        spawn_local(async move {
            match submit_widget_code(token.get_value(), channel, code).await {
                Ok(answer) => {
                    session.set(answer.session);
                    match answer.result {
                        Some(CodeResult::Accepted) => {
                            card.set(CardState::Waiting);
                            announcement.set(say.about(Word::AnnounceVerified, channel));
                        }
                        Some(CodeResult::Wrong) => {
                            card.set(CardState::Wrong);
                            let (status, left, tenant) = session.with_untracked(|s| {
                                (s.status, s.attempts_remaining, s.tenant.clone())
                            });
                            // The last wrong code locks the page: say that, not "try again".
                            if status == SessionStatus::Locked {
                                announcement.set(format!(
                                    "{} {}",
                                    say.word(Word::LockedTitle),
                                    say.fill(Word::LockedBody, &[("tenant", &tenant)])
                                ));
                            } else {
                                clear_and_focus();
                                announcement.set(format!(
                                    "{} {}",
                                    say.word(Word::WrongCode),
                                    say.count(Count::AttemptsLeft, left)
                                ));
                            }
                        }
                        Some(CodeResult::ChannelLocked) => card.set(CardState::ChannelLocked),
                        Some(CodeResult::Malformed) => {
                            card.set(CardState::Malformed);
                            let length = session.with_untracked(|s| s.code_length);
                            announcement.set(say.count(Count::NotACode, length));
                        }
                        Some(CodeResult::Throttled(_)) => {
                            card.set(CardState::Throttled);
                            announcement.set(say.word(Word::SlowDown));
                        }
                        None => card.set(CardState::Waiting),
                    }
                }
                Err(_) => {
                    card.set(CardState::Failed);
                    announcement.set(say.word(Word::TryAgain));
                }
            }
        });
    });
    let on_input = move |_| {
        let Some(element) = input.get_untracked() else {
            return;
        };
        // Digits of any script show as ASCII; anything else stays visible, because the server
        // reads the field by the engine's one rule and must see what the person sees.
        let raw = element.value();
        let shown = display_digits(&raw);
        if shown != raw {
            element.set_value(&shown);
        }
        // Submits by itself only when the field holds exactly a whole code; says so at once
        // when it holds something a code never contains, before any attempt is spent.
        match normalize_code(&shown) {
            Ok(code) if code.len() == usize::from(code_length()) => submit.run(shown),
            Err(CodeFormatError::NotADigit) => card.set(CardState::NotDigits),
            _ if card.get_untracked() != CardState::Checking => card.set(CardState::Waiting),
            _ => {}
        }
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        if let Some(element) = input.get_untracked() {
            submit.run(element.value());
        }
    };
    let on_resend = move |event: leptos::ev::MouseEvent| {
        event.prevent_default();
        spawn_local(async move {
            match resend_widget_code(token.get_value(), channel).await {
                Ok(ResendAnswer::Sent(updated)) => {
                    session.set(updated);
                    card.set(CardState::Resent);
                    clear_and_focus();
                    announcement.set(say.about(Word::Resent, channel));
                }
                Ok(ResendAnswer::CoolingDown(_)) => {}
                Ok(ResendAnswer::Refused) => {
                    card.set(CardState::NoMoreCodes);
                    announcement.set(say.word(Word::NoMoreCodes));
                }
                Ok(ResendAnswer::Closed(updated)) => session.set(updated),
                Err(_) => card.set(CardState::Failed),
            }
        });
    };

    let data_state = move || {
        if verified() {
            "verified"
        } else if matches!(state.get(), PageState::Locked | PageState::Expired) {
            // The page's banner speaks for every open card once the session is over.
            "closed"
        } else if channel_locked() {
            "locked"
        } else {
            match card.get() {
                CardState::Waiting | CardState::Resent => "waiting",
                CardState::Checking => "checking",
                CardState::Wrong => "wrong",
                CardState::Malformed => "malformed",
                CardState::NotDigits => "not-digits",
                CardState::ChannelLocked => "locked",
                CardState::Throttled => "throttled",
                CardState::NoMoreCodes => "no-more-codes",
                CardState::Failed => "error",
            }
        }
    };
    let message = move || {
        let (page, verified, locked) = (state.get(), verified(), channel_locked());
        let (card, length) = (card.get(), code_length());
        say.with(|texts| card_message(texts, page, channel, verified, locked, card, length))
    };
    let resend_label = move || {
        let seconds = wait();
        if seconds > 0 {
            say.count(Count::ResendIn, seconds)
        } else {
            say.word(Word::Resend)
        }
    };
    let recipient = move || info().map(|c| c.recipient).unwrap_or_default();
    // The channel's message, while it still matters: not once the channel is verified or the
    // session is over.
    let delivery = move || {
        let shown = !verified() && matches!(state.get(), PageState::Pending | PageState::Verified);
        info()
            .and_then(|c| c.delivery)
            .filter(|_| shown)
            .map(|d| d.status)
    };
    let delivery_text = move || {
        delivery().map(|status| {
            say.word(match status {
                DeliveryStatus::Queued => Word::DeliveryQueued,
                DeliveryStatus::Sent => Word::DeliverySent,
                DeliveryStatus::Delivered => Word::DeliveryDelivered,
                DeliveryStatus::Failed => Word::DeliveryFailed,
            })
        })
    };
    let delivery_state = move || delivery().map(DeliveryStatus::as_str).unwrap_or("none");
    // A fallback session shows a channel once its turn came, and says so on the later ones.
    let fallback = move || session.with(|s| s.fallback);
    let not_sent_yet = move || fallback() && info().is_some_and(|c| c.delivery.is_none());
    let later_step = move || {
        fallback() && session.with(|s| s.channels.first().is_some_and(|c| c.channel != channel))
    };

    view! {
        <section class="otp-card" data-channel=id data-state=data_state aria-labelledby=format!("title-{id}")
            hidden=not_sent_yet>
            {move || (later_step() && !not_sent_yet()).then(|| view! {
                <p class="otp-also-sent" role="status">{say.about(Word::AlsoSent, channel)}</p>
            })}
            <div class="otp-card-head">
                <h2 id=format!("title-{id}")>{name}</h2>
                {move || optional.get().then(|| view! { <span class="otp-optional">{say.word(Word::Optional)}</span> })}
                {move || shown_verified.get().then(|| view! {
                    <span class="otp-verified" id=format!("verified-{id}")>
                        <span class="otp-check" aria-hidden="true">"✓"</span>
                        {say.word(Word::Verified)}
                    </span>
                })}
            </div>
            <p class="otp-recipient" dir="ltr">{recipient}</p>
            <p class="otp-delivery" id=format!("delivery-{id}") data-delivery=delivery_state
                role=move || (delivery() == Some(DeliveryStatus::Failed)).then_some("alert")>
                {delivery_text}
            </p>
            {move || open.get().then(|| view! {
                <form method="post" action=form_action.clone() on:submit=on_submit>
                    <input type="hidden" name="channel" value=id/>
                    <label for=format!("code-{id}")>{say.about(Word::CodeLabel, channel)}</label>
                    <div class="otp-entry">
                        <input
                            node_ref=input
                            id=format!("code-{id}")
                            name="code"
                            type="text"
                            inputmode="numeric"
                            autocomplete="one-time-code"
                            spellcheck="false"
                            dir="ltr"
                            size=move || code_length() + 2
                            aria-describedby=format!("hint-{id} msg-{id}")
                            aria-invalid=move || (card.get() == CardState::Wrong).to_string()
                            aria-busy=move || (card.get() == CardState::Checking).to_string()
                            readonly=move || card.get() == CardState::Checking
                            on:input=on_input
                        />
                        <button type="submit" name="intent" value="verify" class="otp-verify">{say.word(Word::Verify)}</button>
                    </div>
                    <p class="otp-hint" id=format!("hint-{id}")>{move || say.count(Count::CodeHint, code_length())}</p>
                    <button
                        type="submit"
                        name="intent"
                        value="resend"
                        formnovalidate=true
                        class="otp-resend"
                        on:click=on_resend
                        disabled=cooling
                    >
                        {resend_label}
                    </button>
                </form>
            })}
            <p class="otp-message" id=format!("msg-{id}") role=move || {
                matches!(
                    card.get(),
                    CardState::Wrong | CardState::Malformed | CardState::Throttled | CardState::NoMoreCodes
                ) && !message().is_empty()
            }.then_some("alert")>
                {message}
            </p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_and_expired_pages_invite_no_attempt_on_any_card() {
        for words in crate::app::i18n::ALL {
            let texts = &words.texts();
            for page in [PageState::Locked, PageState::Expired] {
                for card in [
                    CardState::Wrong,
                    CardState::Malformed,
                    CardState::NotDigits,
                    CardState::Resent,
                    CardState::Throttled,
                    CardState::NoMoreCodes,
                    CardState::Failed,
                    CardState::Waiting,
                ] {
                    let message = card_message(texts, page, Channel::Email, false, false, card, 6);
                    assert_eq!(message, "", "{} {page:?} {card:?}", texts.tag());
                }
            }
            let pending = card_message(
                texts,
                PageState::Pending,
                Channel::Email,
                false,
                false,
                CardState::Wrong,
                6,
            );
            assert_eq!(pending, texts.word(Word::WrongCode));
        }
    }

    #[test]
    fn notices_restore_the_card_state() {
        assert_eq!(CardState::from_notice(Some("wrong")), CardState::Wrong);
        assert_eq!(CardState::from_notice(Some("resent")), CardState::Resent);
        assert_eq!(
            CardState::from_notice(Some("malformed")),
            CardState::Malformed
        );
        assert_eq!(
            CardState::from_notice(Some("throttled")),
            CardState::Throttled
        );
        assert_eq!(
            CardState::from_notice(Some("no-more-codes")),
            CardState::NoMoreCodes
        );
        assert_eq!(CardState::from_notice(Some("nonsense")), CardState::Waiting);
        assert_eq!(CardState::from_notice(None), CardState::Waiting);
    }
}
