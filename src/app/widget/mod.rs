//! The verification page (`/verify/<token>`) and, with `?embed=1`, the iframe widget: one card
//! per channel, progress, countdown, attempts, and the verified, expired and locked states.
//! Server-rendered complete, so it works before (and without) WebAssembly; once hydrated, codes
//! go through server functions and the embedding page hears about progress by `postMessage`.

mod browser;
mod card;

use leptos::either::EitherOf4;
use leptos::prelude::*;
use leptos_meta::{Html, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::i18n::{self, Count, Say, Texts, Word};
use super::page_data::page_data;
use crate::engine::delivery::DeliveryStatus;
use crate::engine::{Channel, SessionStatus, VerificationMode};
use crate::model::{PageError, PageOptions, Preloaded, WidgetSession};
use card::ChannelCard;

/// How often the page asks about messages still on their way.
const REFRESH_EVERY_SECS: u32 = 5;

/// The page as a whole moment to moment: the session's status, with expiry taken from the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageState {
    Pending,
    Verified,
    Locked,
    Expired,
}

impl PageState {
    fn of(session: &WidgetSession, now: i64) -> PageState {
        match session.status {
            SessionStatus::Verified => PageState::Verified,
            SessionStatus::Locked => PageState::Locked,
            SessionStatus::Expired => PageState::Expired,
            SessionStatus::Pending if now >= session.expires_at => PageState::Expired,
            SessionStatus::Pending => PageState::Pending,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PageState::Pending => "pending",
            PageState::Verified => "verified",
            PageState::Locked => "locked",
            PageState::Expired => "expired",
        }
    }
}

#[component]
pub fn VerifyPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let token = params.read_untracked().get("token").unwrap_or_default();
    let options = query.with_untracked(|q| PageOptions {
        embed: q.get("embed").as_deref() == Some("1"),
        theme: q.get("theme").filter(|t| t == "dark" || t == "light"),
        origin: q.get("origin"),
        notice: q
            .get("notice")
            .zip(q.get("channel").and_then(|c| Channel::parse(&c))),
    });
    let preloaded = page_data::<Preloaded>().unwrap_or(Preloaded(Err(PageError::Unavailable)));
    // The language the server chose for this request (the session's, else the browser's),
    // also for a link that leads nowhere.
    let texts = page_data::<Texts>().unwrap_or_default();
    let (lang, dir) = (texts.tag().to_owned(), texts.dir().to_owned());
    let theme = options.theme.clone();
    let shell = view! { <Html attr:lang=lang attr:dir=dir attr:data-theme=theme/> };
    let page = match preloaded.0 {
        Ok(initial) => view! {
            <Title text=texts.word(Word::Title).to_owned()/>
            <Widget token initial options texts/>
        }
        .into_any(),
        Err(PageError::NotFound) => view! { <InvalidLink embed=options.embed texts/> }.into_any(),
        // Logged by the server where it happened; the person can only try again.
        Err(_) => view! {
            <Title text=texts.word(Word::TryAgain).to_owned()/>
            <main class="otp-widget" lang=texts.tag().to_owned() dir=texts.dir().to_owned()>
                <p role="alert">{texts.word(Word::TryAgain).to_owned()}</p>
            </main>
        }
        .into_any(),
    };
    view! { {shell} {page} }
}

#[component]
fn InvalidLink(embed: bool, texts: Texts) -> impl IntoView {
    super::mark_not_found();
    let title = texts.word(Word::NotFoundTitle).to_owned();
    view! {
        <Title text=title.clone()/>
        <main class="otp-widget" class:embed=embed data-state="invalid" lang=texts.tag().to_owned() dir=texts.dir().to_owned()>
            <h1>{title}</h1>
            <p>{texts.word(Word::NotFoundBody).to_owned()}</p>
        </main>
    }
}

/// The message the embedding page receives for a state.
fn event(kind: &str, session: &WidgetSession) -> browser::Message {
    let channels: js_sys::Array = session
        .verified_channels
        .iter()
        .map(|c| leptos::wasm_bindgen::JsValue::from_str(c.as_str()))
        .collect();
    browser::Message::new(kind)
        .with("verified_channels", channels)
        .with("session_verified", session.session_verified)
}

/// The interactive widget: an island, hydrated on its own from its serialised props.
#[island]
fn Widget(
    token: String,
    initial: WidgetSession,
    options: PageOptions,
    texts: Texts,
) -> impl IntoView {
    super::mark_hydrated();
    let (lang, dir) = (texts.tag().to_owned(), texts.dir().to_owned());
    let say = Say::new(texts);
    let session = RwSignal::new(initial.clone());
    let now = RwSignal::new(initial.server_now);
    let announcement = RwSignal::new(String::new());
    let state = Memo::new(move |_| session.with(|s| PageState::of(s, now.get())));
    let origins = initial.origins.clone();
    let named_origin = options.origin.clone();
    let embed = options.embed;

    // Browser only: the clock, and the embedder's iframe height.
    let token_for_refresh = token.clone();
    {
        let origins = origins.clone();
        let named = named_origin.clone();
        Effect::new(move |_| {
            let origins = origins.clone();
            let named = named.clone();
            let last_height = std::cell::Cell::new(0);
            let report_height = move || {
                let height = browser::document_height();
                if embed && height != last_height.replace(height) {
                    browser::post_to_parent(
                        &origins,
                        named.as_deref(),
                        browser::Message::new("otpgate:resize").with("height", height),
                    );
                }
            };
            report_height();
            // Every few seconds while a message is still on its way, the page asks how it
            // stands, so "Sending…" becomes "Delivered" (or "Could not be delivered").
            let token = token_for_refresh.clone();
            let ticks = std::cell::Cell::new(0u32);
            browser::start_clock(initial.server_now, now, move || {
                report_height();
                ticks.set(ticks.get() + 1);
                // A fallback's next channel may come too: asked for while any is not sent.
                let waiting = state.get_untracked() == PageState::Pending
                    && session.with_untracked(|s| {
                        s.channels.iter().any(|c| match c.delivery {
                            Some(d) => {
                                matches!(d.status, DeliveryStatus::Queued | DeliveryStatus::Sent)
                            }
                            None => s.fallback,
                        })
                    });
                if waiting && ticks.get().is_multiple_of(REFRESH_EVERY_SECS) {
                    let token = token.clone();
                    leptos::task::spawn_local(async move {
                        if let Ok(fresh) = crate::rpc::refresh_widget(token).await {
                            session.set(fresh);
                        }
                    });
                }
            });
        });
    }
    // Browser only: tell the embedder about progress and the end states, once each.
    Effect::new(move |previous: Option<(PageState, usize)>| {
        let current = (state.get(), session.with(|s| s.verified_channels.len()));
        if embed && previous.is_some_and(|p| p != current) {
            let kind = match current.0 {
                PageState::Verified if previous.is_some_and(|p| p.0 != PageState::Verified) => {
                    "otpgate:verified"
                }
                PageState::Locked => "otpgate:locked",
                PageState::Expired => "otpgate:expired",
                _ => "otpgate:progress",
            };
            session.with_untracked(|s| {
                browser::post_to_parent(&origins, named_origin.as_deref(), event(kind, s))
            });
        }
        current
    });

    let total = initial.channels.len();
    let tenant = initial.tenant.clone();
    let progress = move || {
        let done = session.with(|s| s.verified_channels.len()).to_string();
        say.fill(
            Word::Progress,
            &[("done", &done), ("total", &total.to_string())],
        )
    };
    let countdown = move || {
        let clock = i18n::clock(session.with(|s| s.expires_at) - now.get());
        say.fill(Word::ExpiresIn, &[("clock", &clock)])
    };
    let attempts = move || say.count(Count::AttemptsLeft, session.with(|s| s.attempts_remaining));
    let counting =
        Memo::new(move |_| matches!(state.get(), PageState::Pending | PageState::Verified));
    let theme = options.theme.clone();
    let cards = initial
        .channels
        .iter()
        .map(|c| {
            view! {
                <ChannelCard
                    token=token.clone()
                    channel=c.channel
                    session
                    state
                    now
                    announcement
                    say
                    form_action=format!("/verify/{token}{}", options.query())
                    notice=options.notice.clone().filter(|(_, ch)| *ch == c.channel).map(|(n, _)| n)
                />
            }
        })
        .collect_view();
    let tenant_for_end = tenant.clone();
    view! {
        <main
            class="otp-widget"
            class:embed=embed
            lang=lang
            dir=dir
            data-theme=theme
            data-state=move || state.get().as_str()
        >
            <h1>{say.word(Word::Title)}</h1>
            <p class="otp-intro">{say.fill(Word::Intro, &[("tenant", &tenant)])}</p>
            <div class="otp-status">
                <p id="otp-progress">{progress}</p>
                {move || counting.get().then(|| view! {
                    <p id="otp-timer" role="timer" aria-live="off">{countdown}</p>
                    <p id="otp-attempts">{attempts}</p>
                })}
            </div>
            <EndState state session say tenant=tenant_for_end/>
            <div class="otp-cards">{cards}</div>
            <div id="otp-live" class="visually-hidden" role="status" aria-live="polite">
                {move || announcement.get()}
            </div>
        </main>
    }
}

/// The banner for verified, expired and locked sessions.
#[component]
fn EndState(
    state: Memo<PageState>,
    session: RwSignal<WidgetSession>,
    say: Say,
    tenant: String,
) -> impl IntoView {
    move || {
        let mode = session.with(|s| s.mode);
        let all = session.with(|s| s.all_channels_verified);
        match state.get() {
            PageState::Pending => EitherOf4::A(()),
            PageState::Verified => EitherOf4::B(view! {
                <div class="otp-banner otp-success" id="otp-success">
                    <span class="otp-check-large" aria-hidden="true">"✓"</span>
                    <div>
                        <h2>{say.word(Word::SuccessTitle)}</h2>
                        <p>{say.word(if all || mode == VerificationMode::All { Word::SuccessAll } else { Word::SuccessAny })}</p>
                    </div>
                </div>
            }),
            PageState::Expired => EitherOf4::C(view! {
                <div class="otp-banner otp-expired" id="otp-expired" role="alert">
                    <h2>{say.word(Word::ExpiredTitle)}</h2>
                    <p>{say.fill(Word::ExpiredBody, &[("tenant", &tenant)])}</p>
                </div>
            }),
            PageState::Locked => EitherOf4::D(view! {
                <div class="otp-banner otp-locked" id="otp-locked" role="alert">
                    <h2>{say.word(Word::LockedTitle)}</h2>
                    <p>{say.fill(Word::LockedBody, &[("tenant", &tenant)])}</p>
                </div>
            }),
        }
    }
}
