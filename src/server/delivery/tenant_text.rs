//! A tenant's own message texts (issue 20): templates in MiniJinja's Jinja syntax, rendered in
//! a sandbox — no loader (a template cannot include, extend or import another, nor read a
//! file), no access to the environment or anything beyond the five variables, a bounded amount
//! of work (fuel), an undefined variable an error rather than an empty string, and the HTML body
//! auto-escaped. A template is checked when it is saved: it must render with sample values and
//! show the code, and an SMS text must fit in a set number of segments once otpgate has
//! appended its WebOTP line (which no template can leave out or change).

use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};

use crate::engine::sms::{SmsSize, sms_size};

/// Template instructions one rendering may run: far more than any message needs (a loop over a
/// few items), far less than a template written to keep the server busy.
const FUEL: u64 = 20_000;

/// Nesting depth of blocks and calls a template may reach.
const RECURSION_LIMIT: usize = 16;

/// The code the sample rendering shows (six digits, none of which a template's own text is
/// likely to contain in this order).
const SAMPLE_CODE: &str = "419283";

/// Which part of a message a template writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    EmailSubject,
    EmailText,
    /// Auto-escaped: a value can never become markup.
    EmailHtml,
    SmsText,
}

impl Part {
    /// The part's name, as errors and the API name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::EmailSubject => "subject",
            Part::EmailText => "text",
            Part::EmailHtml => "html",
            Part::SmsText => "text",
        }
    }

    /// The name the template is compiled under, distinct for each part: the HTML body's ends
    /// in `.html`, which is what turns auto-escaping on.
    fn template_name(self) -> &'static str {
        match self {
            Part::EmailSubject => "subject.txt",
            Part::EmailText => "text.txt",
            Part::EmailHtml => "html.html",
            Part::SmsText => "sms.txt",
        }
    }
}

/// What a template may use.
#[derive(Clone, Copy, Debug)]
pub struct Vars<'a> {
    pub code: &'a str,
    pub app_name: &'a str,
    pub expires_in_minutes: i64,
    /// The host the WebOTP line names, when the tenant has an origin.
    pub host: Option<&'a str>,
    pub locale: &'a str,
}

/// Why a template was refused: the part, the line when the problem has one, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    pub part: &'static str,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}, line {line}: {}", self.part, self.message),
            None => write!(f, "{}: {}", self.part, self.message),
        }
    }
}

/// The sandbox every template renders in.
pub fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

/// The values a template sees.
fn values(vars: &Vars<'_>) -> minijinja::Value {
    context! {
        code => vars.code,
        app_name => vars.app_name,
        expires_in_minutes => vars.expires_in_minutes,
        host => vars.host,
        locale => vars.locale,
    }
}

fn template_error(part: Part, error: &minijinja::Error) -> TemplateError {
    TemplateError {
        part: part.as_str(),
        line: error.line(),
        message: match error.detail() {
            Some(detail) => format!("{}: {detail}", error.kind()),
            None => error.kind().to_string(),
        },
    }
}

/// Renders `source` as `part` with `vars`.
pub fn render(part: Part, source: &str, vars: &Vars<'_>) -> Result<String, TemplateError> {
    sandbox()
        .render_named_str(part.template_name(), source, values(vars))
        .map_err(|error| template_error(part, &error))
}

/// The name `part` of the template set `set` is compiled under in a sandbox holding several.
pub fn compiled_name(set: &str, part: Part) -> String {
    format!("{set}/{}", part.template_name())
}

/// Adds `source` to `env` (a [`sandbox`]) as `part` of the set `set`, compiled once to be
/// rendered many times.
pub fn compile(
    env: &mut Environment<'static>,
    set: &str,
    part: Part,
    source: &str,
) -> Result<(), TemplateError> {
    env.add_template_owned(compiled_name(set, part), source.to_owned())
        .map_err(|error| template_error(part, &error))
}

/// Renders `part` of the set `set`, compiled into `env` by [`compile`].
pub fn render_compiled(
    env: &Environment<'static>,
    set: &str,
    part: Part,
    vars: &Vars<'_>,
) -> Result<String, TemplateError> {
    env.get_template(&compiled_name(set, part))
        .and_then(|template| template.render(values(vars)))
        .map_err(|error| template_error(part, &error))
}

/// The SMS otpgate sends for a rendered text: the text, then the WebOTP line when the tenant has
/// a host, so the browser can offer the code to the page served from it.
pub fn sms_with_webotp(text: &str, code: &str, host: Option<&str>) -> String {
    match host {
        Some(host) => format!("{text}\n\n@{host} #{code}"),
        None => text.to_owned(),
    }
}

/// Checks a template before it is saved: it renders with sample values and shows the code, and
/// an SMS text (with the WebOTP line for `host`) fits in `max_segments`. The sample rendering
/// comes back, with an SMS text's size.
pub fn check(
    part: Part,
    source: &str,
    app_name: &str,
    host: Option<&str>,
    max_segments: usize,
) -> Result<(String, Option<SmsSize>), TemplateError> {
    let refused = |message: String| TemplateError {
        part: part.as_str(),
        line: None,
        message,
    };
    let vars = Vars {
        code: SAMPLE_CODE,
        app_name,
        expires_in_minutes: 10,
        host,
        locale: "en",
    };
    let rendered = render(part, source, &vars)?;
    if part != Part::EmailSubject && !rendered.contains(SAMPLE_CODE) {
        return Err(refused(
            "does not show the code: write {{ code }} in it".into(),
        ));
    }
    if part == Part::EmailHtml
        && let Some(problem) = super::html_check::check_html(&rendered)
    {
        return Err(TemplateError {
            part: part.as_str(),
            line: Some(problem.line),
            message: problem.message,
        });
    }
    if part != Part::SmsText {
        return Ok((rendered, None));
    }
    let sent = sms_with_webotp(&rendered, SAMPLE_CODE, host);
    let size = sms_size(&sent);
    if size.segments > max_segments {
        return Err(refused(format!(
            "is {} SMS segments ({} {} units with the WebOTP line); at most {max_segments} are \
             allowed",
            size.segments,
            size.units,
            size.encoding.as_str()
        )));
    }
    Ok((sent, Some(size)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sms::SmsEncoding;

    fn vars() -> Vars<'static> {
        Vars {
            code: "123456",
            app_name: "Acme",
            expires_in_minutes: 10,
            host: Some("app.example.com"),
            locale: "en",
        }
    }

    #[test]
    fn every_variable_renders_in_every_part() {
        let source = "{{ app_name }} {{ code }} {{ expires_in_minutes }} {{ host }} {{ locale }}";
        for part in [
            Part::EmailSubject,
            Part::EmailText,
            Part::EmailHtml,
            Part::SmsText,
        ] {
            assert_eq!(
                render(part, source, &vars()).unwrap(),
                "Acme 123456 10 app.example.com en"
            );
        }
    }

    #[test]
    fn the_html_body_escapes_every_value_and_the_others_do_not() {
        let hostile = Vars {
            app_name: "<script>alert(1)</script>",
            ..vars()
        };
        let source = "<p title=\"{{ code }}\">{{ app_name }}</p>";
        assert_eq!(
            render(Part::EmailHtml, source, &hostile).unwrap(),
            "<p title=\"123456\">&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</p>"
        );
        let quote = Vars {
            app_name: "\" onmouseover=\"x",
            ..vars()
        };
        let in_attribute = render(Part::EmailHtml, "<a title=\"{{ app_name }}\">", &quote).unwrap();
        assert!(!in_attribute.contains("\" onmouseover"), "{in_attribute}");
        assert_eq!(
            render(Part::EmailText, "{{ app_name }}", &hostile).unwrap(),
            "<script>alert(1)</script>"
        );
    }

    #[test]
    fn a_template_cannot_reach_beyond_its_variables() {
        for source in [
            "{{ env }}",
            "{{ config }}",
            "{% include 'other.txt' %}{{ code }}",
            "{% extends 'base.txt' %}",
            "{% import 'macros.txt' as m %}{{ code }}",
            "{{ code.__class__ }}",
        ] {
            let error = render(Part::SmsText, source, &vars()).expect_err(source);
            assert_eq!(error.part, "text", "{source}");
        }
    }

    #[test]
    fn unbounded_work_is_stopped() {
        let source = "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}\
                      {% endfor %}{{ code }}";
        let error = render(Part::EmailText, source, &vars()).expect_err("out of fuel");
        assert!(error.message.contains("fuel"), "{error}");
    }

    #[test]
    fn refusals_name_the_part_and_the_line() {
        let error = check(
            Part::EmailText,
            "Hello\n{{ app_name }\n{{ code }}",
            "Acme",
            None,
            3,
        )
        .expect_err("syntax");
        assert_eq!((error.part, error.line), ("text", Some(2)), "{error}");
        let error = check(Part::EmailHtml, "<p>\n{{ nobody }}</p>", "Acme", None, 3)
            .expect_err("undefined");
        assert_eq!((error.part, error.line), ("html", Some(2)), "{error}");
        let error =
            check(Part::SmsText, "Your {{ app_name }} code", "Acme", None, 3).expect_err("code");
        assert!(error.message.contains("{{ code }}"), "{error}");
        // A subject need not show the code.
        assert!(
            check(
                Part::EmailSubject,
                "Your {{ app_name }} code",
                "Acme",
                None,
                3
            )
            .is_ok()
        );
    }

    #[test]
    fn an_sms_text_is_counted_with_its_webotp_line_and_refused_past_the_segments_allowed() {
        let (sent, size) = check(
            Part::SmsText,
            "{{ code }} is your {{ app_name }} code",
            "Acme",
            Some("app.example.com"),
            1,
        )
        .unwrap();
        assert_eq!(sent, "419283 is your Acme code\n\n@app.example.com #419283");
        assert_eq!(
            size.map(|s| (s.encoding, s.segments)),
            Some((SmsEncoding::Gsm7, 1))
        );
        // 140 characters of text fit alone, not with the WebOTP line.
        let long = format!("{{{{ code }}}} {}", "a".repeat(133));
        assert!(check(Part::SmsText, &long, "Acme", None, 1).is_ok());
        let error = check(Part::SmsText, &long, "Acme", Some("app.example.com"), 1)
            .expect_err("two segments");
        assert!(error.message.contains("2 SMS segments"), "{error}");
        // Arabic goes as UCS-2: 70 units in one segment.
        let (_, size) = check(
            Part::SmsText,
            "رمز {{ app_name }}: {{ code }}",
            "أكمي",
            None,
            1,
        )
        .unwrap();
        assert_eq!(size.map(|s| s.encoding), Some(SmsEncoding::Ucs2));
    }
}
