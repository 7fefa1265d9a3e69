//! Arabic (right to left).

use super::Texts;
use crate::engine::Channel;
use crate::model::arabic_count as count;

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "البريد الإلكتروني",
        Channel::Sms => "الرسائل النصية",
        Channel::Whatsapp => "واتساب",
    }
}

pub const TEXTS: Texts = Texts {
    tag: "ar",
    dir: "rtl",
    title: "تأكيد هويتك",
    intro: |tenant| {
        format!("أرسل {tenant} رمزًا إلى كل وسيلة اتصال أدناه. أدخل كل رمز لتأكيد أنها لك.")
    },
    channel_name,
    code_label: |channel| format!("رمز {}", channel_name(channel)),
    code_hint: |length| format!("{length} أرقام"),
    verify: "تحقّق",
    checking: "جارٍ التحقق…",
    verified: "تم التحقق",
    optional: "اختياري",
    wrong_code: "الرمز غير صحيح. تحقّق منه وحاول مرة أخرى.",
    digits_only: "الرمز أرقام فقط: احذف المسافات والشرطات والحروف.",
    not_a_code: |length| format!("هذا ليس رمزًا. أدخل الأرقام الـ{length} التي وصلتك."),
    channel_locked: "محاولات خاطئة كثيرة لوسيلة الاتصال هذه.",
    slow_down: "محاولات كثيرة. انتظر بضع دقائق ثم أدخل الرمز مرة أخرى.",
    no_more_codes: "لا يمكن إرسال رموز أخرى الآن. استخدم آخر رمز وصلك، أو حاول لاحقًا.",
    resend: "إعادة إرسال الرمز",
    delivery_queued: "جارٍ الإرسال…",
    delivery_sent: "أُرسل",
    delivery_delivered: "وصل",
    delivery_failed: "تعذّر إيصال الرمز — جرّب وسيلة أخرى أو أعد إرسال الرمز.",
    resend_in: |seconds| {
        format!(
            "إعادة الإرسال بعد {}",
            count(seconds, "ثانية واحدة", "ثانيتين", "ثوانٍ", "ثانية")
        )
    },
    resent: |channel| format!("رمز جديد في الطريق عبر {}.", channel_name(channel)),
    also_sent: |channel| format!("أرسلنا رمزًا عبر {} أيضًا.", channel_name(channel)),
    progress: |done, total| format!("تم التحقق من {done} من {total}"),
    expires_in: |clock| format!("تنتهي صلاحية الرموز خلال {clock}"),
    attempts_left: |n| format!("المحاولات المتبقية: {n}"),
    announce_verified: |channel| format!("تم التحقق من {}", channel_name(channel)),
    success_title: "تم التحقق بنجاح",
    success_any: "يمكنك العودة إلى التطبيق الآن. وسائل الاتصال الأخرى اختيارية.",
    success_all: "تم تأكيد جميع وسائل الاتصال. يمكنك العودة إلى التطبيق الآن.",
    expired_title: "انتهت صلاحية هذه الرموز",
    expired_body: |tenant| format!("عد إلى {tenant} واطلب رموزًا جديدة."),
    locked_title: "محاولات كثيرة جدًا",
    locked_body: |tenant| {
        format!("لحمايتك تم قفل عملية التحقق هذه. عد إلى {tenant} وابدأ من جديد.")
    },
    not_found_title: "رابط التحقق هذا غير صالح",
    not_found_body: "ربما انتهت صلاحيته أو أُلغي أو نُسخ بشكل غير كامل. عد إلى التطبيق الذي أرسلك إلى هنا وابدأ من جديد.",
    try_again: "حدث خطأ ما. يرجى المحاولة مرة أخرى.",
};
