//! What each error code means to a person, and what they can do next, and what
//! the page calls each provider, in both languages.

use tokenbridge_shared::{ErrorCode, ProviderKind, ProviderView};

use crate::i18n::Lang;

/// The provider's name in the middle of a sentence (Russian: the nominative).
pub fn provider_name(provider: ProviderKind, lang: Lang) -> &'static str {
    match (provider, lang) {
        (ProviderKind::Yandex, Lang::En) => "Yandex",
        (ProviderKind::Custom, Lang::En) => "the provider",
        (ProviderKind::Oidc, Lang::En) => "the OpenID provider",
        (ProviderKind::Sandbox, Lang::En) => "the sandbox",
        (ProviderKind::Yandex, Lang::Ru) => "Яндекс",
        (ProviderKind::Custom, Lang::Ru) => "провайдер",
        (ProviderKind::Oidc, Lang::Ru) => "OpenID-провайдер",
        (ProviderKind::Sandbox, Lang::Ru) => "песочница",
    }
}

/// The provider as a place: "at Yandex" / "на стороне Яндекса".
fn at_provider(provider: ProviderKind, lang: Lang) -> &'static str {
    match (provider, lang) {
        (ProviderKind::Yandex, Lang::En) => "at Yandex",
        (ProviderKind::Custom, Lang::En) => "at the provider",
        (ProviderKind::Oidc, Lang::En) => "at the OpenID provider",
        (ProviderKind::Sandbox, Lang::En) => "at the sandbox",
        (ProviderKind::Yandex, Lang::Ru) => "на стороне Яндекса",
        (ProviderKind::Custom, Lang::Ru) => "на стороне провайдера",
        (ProviderKind::Oidc, Lang::Ru) => "на стороне OpenID-провайдера",
        (ProviderKind::Sandbox, Lang::Ru) => "в песочнице",
    }
}

pub fn provider_display_name(provider: ProviderKind, lang: Lang) -> &'static str {
    match (provider, lang) {
        (_, Lang::En) => provider.display_name(),
        (ProviderKind::Yandex, Lang::Ru) => "Яндекс OAuth",
        (ProviderKind::Custom, Lang::Ru) => "Сервер OAuth 2.0",
        (ProviderKind::Oidc, Lang::Ru) => "Провайдер OpenID Connect",
        (ProviderKind::Sandbox, Lang::Ru) => "Песочница (имитация Яндекс OAuth)",
    }
}

/// What the page calls a configured provider: its configured name, or, when the
/// configuration gave none (the server then sends the kind's English name, or
/// nothing at all), the kind's name in the page's language.
pub fn provider_label(kind: ProviderKind, name: &str, lang: Lang) -> String {
    if name.is_empty() || name == kind.display_name() {
        provider_display_name(kind, lang).to_owned()
    } else {
        name.to_owned()
    }
}

/// The name of the configured provider `provider_id` (a connection's), or of its kind
/// when no configured provider has that id (an old server, or one since removed).
pub fn provider_label_by_id(
    providers: &[ProviderView],
    provider_id: &str,
    kind: ProviderKind,
    lang: Lang,
) -> String {
    providers.iter().find(|p| p.id == provider_id).map_or_else(
        || provider_display_name(kind, lang).to_owned(),
        |p| provider_label(p.kind, &p.name, lang),
    )
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A short title for the error.
pub fn title(code: ErrorCode, provider: ProviderKind, lang: Lang) -> String {
    let the = capitalized(provider_name(provider, lang));
    let at = at_provider(provider, lang);
    use ErrorCode::*;
    match lang {
        Lang::En => match code {
            AccessDenied => format!("You declined access {at}"),
            AuthorizationFailed => format!("{the} could not complete the sign-in"),
            StateMissing | StateMismatch => "This sign-in does not belong to this browser".into(),
            StateExpired => "This sign-in expired".into(),
            StateReplayed => "This sign-in link was already used".into(),
            InvalidCallback => format!("{the} sent the browser back without a code"),
            CodeRejected => format!("{the} refused the sign-in code"),
            ClientRejected => format!("{the} refused this application"),
            TokenRequestRejected => format!("{the} refused to issue a token"),
            ProviderUnavailable => format!("{the} is having trouble"),
            ProviderHtml => format!("{the} answered with a web page"),
            ProviderMalformed => format!("{the} sent an incomplete answer"),
            ProviderRedirect => format!("{the} answered with a redirect"),
            ProviderTimeout => format!("{the} did not answer in time"),
            ProviderUnreachable => format!("{the} could not be reached"),
            BadRequest => "The request was malformed".into(),
            CsrfRejected => "The request was refused".into(),
            NotFound => "Not found".into(),
            MethodNotAllowed => "Method not allowed".into(),
            PayloadTooLarge => "The request was too large".into(),
            UserInfoFailed => format!("{the} would not say whose token this is"),
            ForeignToken => "This token belongs to another application".into(),
            ConnectionNotFound => "No such connection".into(),
            // Which provider sent it is not known here, so these name none.
            IdTokenInvalid => "The ID token did not pass verification".into(),
            IssuerMismatch => "The answer came from another provider".into(),
            AmbiguousLogin => "This login is connected at more than one provider".into(),
            UnknownProvider => "No such provider".into(),
            RateLimited => "Too many attempts".into(),
            ProviderTooLarge => "The provider's answer was too large".into(),
            StoreUnavailable => "The database is not reachable".into(),
            ConnectionUnreadable => "This connection cannot be read".into(),
            NeedsReconnect => "This connection needs a new sign-in".into(),
            NoRefreshToken => "This connection cannot be refreshed".into(),
            ApiDisabled => "The scripts API is off".into(),
            Unauthorized => "The API key is missing or wrong".into(),
            Internal => "Something went wrong in tokenbridge".into(),
        },
        Lang::Ru => match code {
            AccessDenied => format!("Вы отклонили доступ {at}"),
            AuthorizationFailed => format!("{the}: вход не удалось завершить"),
            StateMissing | StateMismatch => "Этот вход начат не в этом браузере".into(),
            StateExpired => "Время на вход истекло".into(),
            StateReplayed => "Эта ссылка для входа уже использована".into(),
            InvalidCallback => format!("{the}: браузер вернулся без кода"),
            CodeRejected => format!("{the}: код входа отклонён"),
            ClientRejected => format!("{the}: приложение не принято"),
            TokenRequestRejected => format!("{the}: в выдаче токена отказано"),
            ProviderUnavailable => format!("{the}: сбой на стороне сервера"),
            ProviderHtml => format!("{the}: вместо токена пришла веб-страница"),
            ProviderMalformed => format!("{the}: ответ неполный или испорчен"),
            ProviderRedirect => format!("{the}: вместо токена пришло перенаправление"),
            ProviderTimeout => format!("{the}: нет ответа вовремя"),
            ProviderUnreachable => format!("{the}: нет связи"),
            BadRequest => "Неверный запрос".into(),
            CsrfRejected => "Запрос отклонён".into(),
            NotFound => "Не найдено".into(),
            MethodNotAllowed => "Метод не поддерживается".into(),
            PayloadTooLarge => "Слишком большой запрос".into(),
            UserInfoFailed => format!("{the}: не удалось узнать, чей это токен"),
            ForeignToken => "Этот токен выдан другому приложению".into(),
            ConnectionNotFound => "Подключение не найдено".into(),
            IdTokenInvalid => "ID-токен не прошёл проверку".into(),
            IssuerMismatch => "Ответ пришёл от другого провайдера".into(),
            AmbiguousLogin => "Этот логин подключён у нескольких провайдеров".into(),
            UnknownProvider => "Такого провайдера нет".into(),
            RateLimited => "Слишком много попыток".into(),
            ProviderTooLarge => "Слишком большой ответ провайдера".into(),
            StoreUnavailable => "База данных недоступна".into(),
            ConnectionUnreadable => "Подключение не читается".into(),
            NeedsReconnect => "Нужно войти заново".into(),
            NoRefreshToken => "Это подключение нельзя обновить".into(),
            ApiDisabled => "API для скриптов выключен".into(),
            Unauthorized => "Нет API-ключа или он неверный".into(),
            Internal => "Внутренняя ошибка tokenbridge".into(),
        },
    }
}

/// What happened and what to do, in a sentence or two.
pub fn advice(code: ErrorCode, provider: ProviderKind, lang: Lang) -> String {
    let name = provider_name(provider, lang);
    use ErrorCode::*;
    match lang {
        Lang::En => match code {
            AccessDenied => "Nothing was shared. Connect again whenever you like, and click Allow.".into(),
            AuthorizationFailed => "Check the details below and start again.".into(),
            StateMissing => "This sign-in expired or was started in another browser — start again.".into(),
            StateMismatch => "The answer that came back belongs to a different sign-in (perhaps from another tab) — start again.".into(),
            StateExpired => "More than ten minutes passed between Connect and Allow — start again.".into(),
            StateReplayed => "Each sign-in works once. Your earlier token, if any, is unchanged; start a new sign-in for a fresh one.".into(),
            InvalidCallback => "Start again; if it repeats, check the app's Callback URI.".into(),
            CodeRejected => format!("The code from {name} expired or was already used — start again."),
            ClientRejected => "The client id or secret configured on the server is wrong. Check TOKENBRIDGE_CLIENT_ID and TOKENBRIDGE_CLIENT_SECRET, then start again.".into(),
            TokenRequestRejected => "Check the details below and start again.".into(),
            ProviderUnavailable => "A server error at the provider. Wait a minute and start again.".into(),
            ProviderMalformed => "The answer broke off or was garbled. Wait a minute and start again.".into(),
            ProviderTimeout => "Wait a minute and start again.".into(),
            ProviderHtml => "The token URL configured on the server may be wrong (a web page came back). Check TOKENBRIDGE_TOKEN_URL, then start again.".into(),
            ProviderRedirect => "The token URL configured on the server may be wrong (a redirect came back). Check TOKENBRIDGE_TOKEN_URL, then start again.".into(),
            ProviderUnreachable => "Check the server's network and TOKENBRIDGE_TOKEN_URL, then start again.".into(),
            IdTokenInvalid => "Its signature, issuer, audience, expiry or nonce was wrong, so tokenbridge did not trust it and saved nothing. Start again; if it repeats, check the provider's issuer and client id in the server's configuration.".into(),
            IssuerMismatch => "The answer named another issuer than the provider this sign-in went to (a possible mix-up), so tokenbridge refused it. Start again from this page.".into(),
            AmbiguousLogin => "Say which provider you mean with ?provider=ID (or --provider ID).".into(),
            UnknownProvider => "No provider with that id is configured here. Use one of the Connect buttons on this page.".into(),
            RateLimited => "Too many sign-ins were started from your address in a short time. Wait a minute and start again.".into(),
            ProviderTooLarge => "The provider answered with far more than any token response holds, so tokenbridge stopped reading and saved nothing. Try again; if it persists, tell whoever runs the provider.".into(),
            StoreUnavailable => "tokenbridge cannot reach its database right now. Nothing was lost; try again in a few seconds.".into(),
            ConnectionUnreadable => "Its tokens cannot be opened with the server's store key (was it changed?). Connect the account again, or ask whoever runs tokenbridge to restore the key.".into(),
            other => other.message().to_owned(),
        },
        Lang::Ru => match code {
            AccessDenied => "Никакие данные не переданы. Подключитесь снова, когда захотите, и нажмите «Разрешить».".into(),
            AuthorizationFailed => "Посмотрите подробности ниже и начните заново.".into(),
            StateMissing => "Время на вход истекло, или вход начат в другом браузере — начните заново.".into(),
            StateMismatch => "Пришёл ответ на другой вход (возможно, из другой вкладки) — начните заново.".into(),
            StateExpired => "Между «Подключить» и «Разрешить» прошло больше десяти минут — начните заново.".into(),
            StateReplayed => "Каждый вход срабатывает один раз. Прежний токен не изменился; для нового начните вход заново.".into(),
            InvalidCallback => "Начните заново; если повторится, проверьте Callback URI приложения.".into(),
            CodeRejected => format!("Код от сервиса «{name}» истёк или уже использован — начните заново."),
            ClientRejected => "На сервере указаны неверные ClientID или Client secret. Проверьте TOKENBRIDGE_CLIENT_ID и TOKENBRIDGE_CLIENT_SECRET и начните заново.".into(),
            TokenRequestRejected => "Посмотрите подробности ниже и начните заново.".into(),
            ProviderUnavailable => "Ошибка на сервере провайдера. Подождите минуту и начните заново.".into(),
            ProviderMalformed => "Ответ оборвался или испорчен. Подождите минуту и начните заново.".into(),
            ProviderTimeout => "Подождите минуту и начните заново.".into(),
            ProviderHtml => "Похоже, на сервере указан неверный адрес выдачи токена (пришла веб-страница). Проверьте TOKENBRIDGE_TOKEN_URL и начните заново.".into(),
            ProviderRedirect => "Похоже, на сервере указан неверный адрес выдачи токена (пришло перенаправление). Проверьте TOKENBRIDGE_TOKEN_URL и начните заново.".into(),
            ProviderUnreachable => "Проверьте сеть сервера и TOKENBRIDGE_TOKEN_URL и начните заново.".into(),
            BadRequest => "Запрос составлен неверно.".into(),
            CsrfRejected => "Запрос пришёл не со страницы tokenbridge и отклонён.".into(),
            NotFound => "Здесь ничего нет.".into(),
            MethodNotAllowed => "Этот адрес не принимает такой метод.".into(),
            PayloadTooLarge => "Запрос слишком большой.".into(),
            UserInfoFailed => "Провайдер не сообщил, чей это токен, поэтому он не сохранён. Попробуйте через минуту.".into(),
            ForeignToken => "Токен выдан другому приложению, поэтому tokenbridge его отклонил. Войдите через этот tokenbridge.".into(),
            ConnectionNotFound => "Такого подключения здесь нет.".into(),
            IdTokenInvalid => "Неверна подпись, издатель, получатель, срок или nonce, поэтому tokenbridge ему не поверил и ничего не сохранил. Начните заново; если повторится, проверьте издателя (issuer) и ClientID провайдера в настройках сервера.".into(),
            IssuerMismatch => "В ответе указан не тот издатель, к которому ушёл этот вход (возможна подмена), поэтому tokenbridge его отклонил. Начните заново с этой страницы.".into(),
            AmbiguousLogin => "Укажите, какой провайдер имеется в виду: ?provider=ID (или --provider ID).".into(),
            UnknownProvider => "Провайдер с таким id здесь не настроен. Воспользуйтесь одной из кнопок «Подключить» на этой странице.".into(),
            RateLimited => "С вашего адреса за короткое время начато слишком много входов. Подождите минуту и начните снова.".into(),
            ProviderTooLarge => "Провайдер прислал ответ намного больше любого ответа с токеном, поэтому tokenbridge перестал его читать и ничего не сохранил. Попробуйте ещё раз; если повторится — сообщите тем, кто обслуживает провайдера.".into(),
            StoreUnavailable => "tokenbridge сейчас не может связаться со своей базой данных. Ничего не потеряно; попробуйте через несколько секунд.".into(),
            ConnectionUnreadable => "Токены этого подключения не открываются ключом хранилища сервера (ключ меняли?). Подключите аккаунт заново или попросите администратора вернуть ключ.".into(),
            NeedsReconnect => "Провайдер больше не принимает refresh-токен этого подключения. Подключите аккаунт заново.".into(),
            NoRefreshToken => "Провайдер не выдал refresh-токен, поэтому обновить нельзя. Подключитесь заново, когда токен истечёт.".into(),
            ApiDisabled => "API для скриптов выключен: задайте TOKENBRIDGE_API_KEY на сервере.".into(),
            Unauthorized => "Передайте ключ как Authorization: Bearer <TOKENBRIDGE_API_KEY>.".into(),
            Internal => "Внутренняя ошибка tokenbridge. Попробуйте ещё раз; подробности в журнале сервера.".into(),
        },
    }
}
