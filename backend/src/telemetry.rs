//! Logging: to stderr, `RUST_LOG` filters (default `info`), and each line written while a
//! request is served names its method and path only — a query string can carry a code or a
//! state. Colours only on a terminal: a file, a pipe, the journal or `docker logs` get plain
//! text.

use std::{fmt, io::IsTerminal};

use axum::http::{Method, Request, Uri};
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter,
    field::{RecordFields, Visit},
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{DefaultFields, Writer},
        time::FormatTime,
    },
    registry::LookupSpan,
};

/// Logs to stderr, filtered by `RUST_LOG` or else `default` (a level such as "info").
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let coloured = colours(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(coloured)
        .fmt_fields(Fields { coloured })
        .event_format(Line { timed: true })
        .with_writer(std::io::stderr)
        .init();
}

/// The time at the head of a log line, as tracing-subscriber's own `SystemTime` timer writes it
/// (`2026-12-06T23:56:04.916070Z`: UTC, to the microsecond), its numbers written digit by digit.
/// That timer's `write!` of seven numbers took 2.4 k of a log line's 6.8 k instructions.
#[derive(Debug, Clone, Copy)]
struct Timestamp;

impl FormatTime for Timestamp {
    fn format_time(&self, writer: &mut Writer<'_>) -> fmt::Result {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|since| {
                time::OffsetDateTime::from_unix_timestamp_nanos(since.as_nanos().try_into().ok()?)
                    .ok()
            });
        match now.and_then(rfc3339) {
            Some(text) => writer.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?),
            // Before 1970 or after 9999: as tracing-subscriber writes those.
            None => tracing_subscriber::fmt::time::SystemTime.format_time(writer),
        }
    }
}

/// `at` as `YYYY-MM-DDThh:mm:ss.uuuuuuZ`, for the years 0 to 9999; `None` for the others.
fn rfc3339(at: time::OffsetDateTime) -> Option<[u8; 27]> {
    let year = u64::try_from(at.year()).ok().filter(|&year| year <= 9999)?;
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for place in text[at..at + width].iter_mut().rev() {
            *place = b'0' + u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, u64::from(u8::from(at.month())));
    put(8, 2, u64::from(at.day()));
    put(11, 2, u64::from(at.hour()));
    put(14, 2, u64::from(at.minute()));
    put(17, 2, u64::from(at.second()));
    put(20, 6, u64::from(at.microsecond()));
    Some(text)
}

/// Whether log lines are coloured: on a terminal, unless `NO_COLOR` is set to anything but
/// empty (no-color.org). Written to a file or a pipe, colour codes are bytes nobody reads (and
/// writing the fields of the request span there once was with them cost a token read 1.7–3.0 k
/// instructions more).
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// How a log line's and a span's fields are written.
///
/// On a terminal: by tracing-subscriber's own formatter, in colour. It escapes the control
/// characters that could steer a terminal in the message and in errors' texts only.
///
/// Anywhere else (a file, a pipe, the journal): as plain `name=value`, separated by spaces —
/// the text tracing-subscriber writes with colours off, without its colour machinery, which
/// wrote each field name and `=` through an (empty) ANSI style (about 1.2 k instructions a
/// token read for the two fields of the request span there once was). Here the control
/// characters (ESC, BEL, backspace, form feed, DEL and the C1 codes) are escaped as
/// tracing-subscriber escapes them (`\x1b`, `\u{9b}`) in every value, a provider's error
/// text in a field included: a log file is read on a terminal too.
#[derive(Debug, Clone, Copy)]
struct Fields {
    coloured: bool,
}

impl<'writer> FormatFields<'writer> for Fields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        if self.coloured {
            return DefaultFields::new().format_fields(writer, fields);
        }
        let mut plain = Plain {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut plain);
        plain.result
    }
}

/// Writes fields as [`Fields`] says, outside a terminal.
struct Plain<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl Plain<'_> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug) -> fmt::Result {
        let name = field.name();
        // A `log` crate record's metadata (from a dependency, through tracing-log), which the
        // line's own prefix already says; the default formatter leaves it out too.
        if name.starts_with("log.") {
            return Ok(());
        }
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name != "message" {
            self.writer
                .write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.writer.write_char('=')?;
        }
        fmt::write(&mut Escaping(&mut self.writer), format_args!("{value:?}"))
    }
}

impl Visit for Plain<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_ok() {
            self.result = self.write(field, value);
        }
    }

    /// As tracing-subscriber writes them: a message as it is, any other text quoted.
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    /// As tracing-subscriber writes them: the error, then the chain of its sources.
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!("{value} {}.sources={}", field.name(), Sources(source)),
            ),
            None => self.record_debug(field, &format_args!("{value}")),
        }
    }
}

/// An error and its sources, as a list: `[outer, inner]`.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(error) = next {
            list.entry(&format_args!("{error}"));
            next = error.source();
        }
        list.finish()
    }
}

/// Passes text on with the control characters that could steer a terminal escaped.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Each of them is, or starts with, a byte outside printable ASCII (the C1 codes with
        // 0xc2). Looked for without stopping at the first, a loop the compiler can run over
        // many bytes at a time: log text is almost always printable ASCII.
        if !text
            .bytes()
            .fold(false, |found, b| found | !(0x20..0x7f).contains(&b))
        {
            return self.0.write_str(text);
        }
        let mut rest = text;
        while let Some((at, control)) = rest.char_indices().find(|&(_, c)| {
            matches!(
                c,
                '\x07' | '\x08' | '\x0c' | '\x1b' | '\x7f' | '\u{80}'..='\u{9f}'
            )
        }) {
            self.0.write_str(&rest[..at])?;
            if control.is_ascii() {
                write!(self.0, "\\x{:02x}", u32::from(control))?;
            } else {
                write!(self.0, "\\u{{{:x}}}", u32::from(control))?;
            }
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// The layer that tells each request's log lines which request they were written for: the
/// request's method and URI are kept in a task-local ([`SERVING`]) while its service is
/// called and its future polled, and [`Line`] writes them as `request{method=GET
/// path=/api/session}:`, the text a tracing span named `request` with those two fields gave
/// each line. That span cost a token read 3.8 k of its 32.6 k instructions whether anything
/// was logged or not: its fields formatted into a string at every request, the span entered
/// and left at every poll, closed at the end. The task-local costs two clones of the method
/// and URI and a swap at every poll (0.9 k a read); the path is written only when a line is. A
/// task spawned from a request does not carry it, as it did not carry the span. Unlike the
/// span it is there at every level: under `RUST_LOG=warn` a warning inside a request names
/// it too. (It replaced tower-http's `TraceLayer`, which cost 1–2 k more for a response
/// classifier, two clock reads and a wrapper around every response body; of what that layer
/// logged, the line for a server error (at `error`) the guard (`routes::security::Guard`)
/// writes now.)
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestContext;

impl<S> tower::Layer<S> for RequestContext {
    type Service = InRequest<S>;

    fn layer(&self, inner: S) -> InRequest<S> {
        InRequest(inner)
    }
}

/// A service whose calls and their futures run with their request in [`SERVING`] (see
/// [`RequestContext`]).
#[derive(Clone, Debug)]
pub struct InRequest<S>(S);

impl<S, B> tower::Service<Request<B>> for InRequest<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = tokio::task::futures::TaskLocalFuture<Serving, S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let serving = Serving {
            method: request.method().clone(),
            uri: request.uri().clone(),
        };
        // The call itself may log (a refused host, a rate limit), and so may its future.
        let future = SERVING.sync_scope(serving.clone(), || self.0.call(request));
        SERVING.scope(serving, future)
    }
}

tokio::task_local! {
    /// The request the running task serves, while [`RequestContext`]' service runs it.
    static SERVING: Serving;
}

/// `future`, run with the request the running task serves (if any), for a task spawned from
/// that request: its lines name the request as the request's own lines do. (A spawned task
/// does not carry it by itself.)
pub fn carrying_the_request<F: Future>(future: F) -> impl Future<Output = F::Output> {
    let serving = SERVING.try_with(Serving::clone).ok();
    async move {
        match serving {
            Some(serving) => SERVING.scope(serving, future).await,
            None => future.await,
        }
    }
}

/// The request a log line is written for. (Its URI carries the query, which may hold a code
/// or a state: only the path is ever written, here and in its `Debug`.)
#[derive(Clone)]
pub struct Serving {
    method: Method,
    uri: Uri,
}

impl fmt::Debug for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving")
            .field("method", &self.method)
            .field("path", &short_path(self.uri.path()))
            .finish()
    }
}

/// A call to a provider the running task is making (see [`calling`]).
struct Call {
    name: &'static str,
    provider: String,
}

tokio::task_local! {
    /// The provider call the running task is making, inside [`calling`].
    static CALLING: Call;
}

/// Runs `call`, a call to `provider` named `name` (`token_exchange`, `user_info`,
/// `token_refresh`, `revoke`): the lines it writes say so after their request, as
/// `token_exchange{provider=yandex}:`, the text the span `#[instrument]` gave each such call
/// once wrote. A sign-in's two such spans cost 6.5 k instructions, this 2.0 k.
///
/// Give it the call pinned where it was made (`std::pin::pin!`), not the call itself: a
/// future not yet started is as large as its largest state, and each move copies all of it.
/// Handed over by value, the token exchange and the user info cost a sign-in 7–9 k more
/// instructions than the spans did. (So a call cancelled midway is dropped outside this
/// context, where the span was entered to drop it: only a dependency's `debug` or `trace`
/// lines could be written then.)
pub async fn calling<F: Future>(name: &'static str, provider: &str, call: F) -> F::Output {
    let provider = provider.to_owned();
    CALLING.scope(Call { name, provider }, call).await
}

/// Writes `name{field=value …}:` as tracing-subscriber wrote a span: on a terminal the name
/// and braces bold, each field's name in italics, each `=` and the `:` dimmed. Each value is
/// written with the control characters that could steer a terminal escaped.
fn context(writer: &mut Writer<'_>, name: &str, fields: &[(&str, &str)]) -> fmt::Result {
    use fmt::Write as _;
    let (bold, italic, dimmed, end) = if writer.has_ansi_escapes() {
        ("\x1b[1m", "\x1b[3m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    write!(writer, "{bold}{name}{end}{bold}{{{end}")?;
    for (at, (field, value)) in fields.iter().enumerate() {
        let space = if at == 0 { "" } else { " " };
        write!(writer, "{space}{italic}{field}{end}{dimmed}={end}")?;
        Escaping(&mut *writer).write_str(value)?;
    }
    write!(writer, "{bold}}}{end}{dimmed}:{end}")
}

/// How a log line is written: as tracing-subscriber's full format writes it without the
/// target (the time, the level, the spans, the fields), with the request being served (from
/// [`SERVING`]) and the provider call being made ([`CALLING`]) first among the spans, where
/// the spans they replace were. On a terminal, in the same colours: the time and each `:`
/// dimmed, the level coloured, span names bold.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// Whether the line begins with its time ([`Timestamp`]); the tests leave it out.
    timed: bool,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ansi = writer.has_ansi_escapes();
        let (dimmed, bold, end) = if ansi {
            ("\x1b[2m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        if self.timed {
            writer.write_str(dimmed)?;
            if Timestamp.format_time(&mut writer).is_err() {
                writer.write_str("<unknown time>")?;
            }
            write!(writer, "{end} ")?;
        }
        let (colour, level) = match *event.metadata().level() {
            Level::TRACE => ("\x1b[35m", "TRACE"),
            Level::DEBUG => ("\x1b[34m", "DEBUG"),
            Level::INFO => ("\x1b[32m", " INFO"),
            Level::WARN => ("\x1b[33m", " WARN"),
            Level::ERROR => ("\x1b[31m", "ERROR"),
        };
        if ansi {
            write!(writer, "{colour}{level}{end} ")?;
        } else {
            write!(writer, "{level} ")?;
        }
        let mut spans = false;
        // Outside a request (start-up, a background task) there is none. Only the path is
        // written, cut short: never the query.
        if let Ok(written) = SERVING.try_with(|serving| {
            let path = short_path(serving.uri.path());
            let fields = [("method", serving.method.as_str()), ("path", &path)];
            context(&mut writer, "request", &fields)
        }) {
            written?;
            spans = true;
        }
        if let Ok(written) = CALLING
            .try_with(|call| context(&mut writer, call.name, &[("provider", &call.provider)]))
        {
            written?;
            spans = true;
        }
        // Spans of tracing's own (a dependency's).
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{bold}{}{end}", span.metadata().name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{bold}{{{end}{fields}{bold}}}{end}")?;
                }
                write!(writer, "{dimmed}:{end}")?;
                spans = true;
            }
        }
        if spans {
            writer.write_char(' ')?;
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Paths are logged cut to this many characters: a 64 KB path is one line, not 64 KB.
const MAX_LOGGED_PATH: usize = 200;

fn short_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.char_indices().nth(MAX_LOGGED_PATH) {
        Some((cut, _)) => format!("{}… ({} bytes)", &path[..cut], path.len()).into(),
        None => path.into(),
    }
}

#[cfg(test)]
mod tests {
    /// Every log line's time is the UTC date and time to the microsecond, each number padded
    /// to its width, across leap days, the ends of months, years and centuries, and 9999;
    /// after 9999 it is left to tracing-subscriber.
    #[test]
    fn log_lines_are_stamped_with_the_utc_time_to_the_microsecond() {
        let at = |seconds: i64, micros: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(seconds) * 1_000_000_000 + i128::from(micros) * 1000,
            )
            .unwrap()
        };
        let text = |seconds, micros| {
            String::from_utf8(super::rfc3339(at(seconds, micros)).unwrap().to_vec()).unwrap()
        };
        assert_eq!(text(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(951_782_399, 7), "2000-02-28T23:59:59.000007Z");
        assert_eq!(text(951_782_400, 0), "2000-02-29T00:00:00.000000Z");
        assert_eq!(text(4_107_542_400, 999_999), "2100-03-01T00:00:00.999999Z");
        assert_eq!(text(1_798_761_599, 916_070), "2026-12-31T23:59:59.916070Z");
        assert_eq!(text(1_798_761_600, 10), "2027-01-01T00:00:00.000010Z");
        assert_eq!(text(1_781_106_305, 123_456), "2026-06-10T15:45:05.123456Z");
        assert_eq!(text(253_402_300_799, 0), "9999-12-31T23:59:59.000000Z");
        // Beyond 9999 (the `time` crate's large dates are off by default) and before the
        // year 0 nothing is written here.
        assert_eq!(super::rfc3339(at(-62_167_219_201, 0)), None);
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        use super::colours;
        assert!(colours(true, None));
        assert!(colours(true, Some("".into())), "an empty NO_COLOR is unset");
        assert!(!colours(true, Some("1".into())));
        assert!(!colours(false, None));
    }

    /// The lines a test's subscriber writes, kept to be read.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// What `init` writes outside a terminal, for `work` run under it.
    fn plain_log(work: impl FnOnce()) -> String {
        log_with(super::Fields { coloured: false }, work)
    }

    /// What a subscriber set up as `init`'s, its fields written by `fields`, writes for `work`.
    fn log_with<F>(fields: F, work: impl FnOnce()) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(fields)
            .with_target(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, work);
        lines.text()
    }

    #[test]
    fn plain_fields_read_as_the_default_ones_without_colour() {
        #[derive(Debug, thiserror::Error)]
        #[error("the provider could not be reached")]
        struct Outer(#[source] std::io::Error);
        let work = || {
            let span = tracing::info_span!("request", method = %"GET", path = %"/api/session");
            let _entered = span.enter();
            tracing::info!(provider = %"sandbox", code = "state_expired", count = 3, ok = true, "sign-in failed: {}", "late");
            // As a dependency's `log` record arrives through tracing-log.
            tracing::warn!(
                log.target = "reqwest::proxy",
                log.line = 125,
                "a proxy is ignored"
            );
            let error = Outer(std::io::Error::other("connection refused"));
            tracing::warn!(
                error = &error as &(dyn std::error::Error + 'static),
                late = 1.5,
                "control \u{9b} in a message"
            );
        };
        let plain = plain_log(work);
        assert_eq!(
            plain,
            log_with(tracing_subscriber::fmt::format::DefaultFields::new(), work)
        );
        assert!(
            plain.ends_with(
                "WARN request{method=GET path=/api/session}: control \\u{9b} in a message error=the provider could not be reached error.sources=[connection refused] late=1.5\n"
            ),
            "{plain}"
        );
        assert!(
            plain.contains(
                "INFO request{method=GET path=/api/session}: sign-in failed: late provider=sandbox code=\"state_expired\" count=3 ok=true\n"
            ),
            "{plain}"
        );
        assert!(
            plain.contains("WARN request{method=GET path=/api/session}: a proxy is ignored\n"),
            "{plain}"
        );
    }

    #[test]
    fn control_characters_are_escaped_in_the_message_and_in_every_field() {
        let log = plain_log(|| {
            let hostile = "red\x1b[31m bell\x07 c1\u{9b}2J done";
            tracing::warn!(detail = %hostile, quoted = hostile, c1 = %"only\u{85}", "provider said {hostile}");
        });
        assert!(
            !log.contains(['\x1b', '\x07', '\u{9b}']),
            "a control character reached the log: {log:?}"
        );
        assert_eq!(
            log.matches("red\\x1b[31m bell\\x07 c1\\u{9b}2J done")
                .count(),
            2,
            "{log}"
        );
        assert!(
            log.contains("quoted=\"red\\u{1b}[31m"),
            "a quoted value keeps Debug's escapes: {log}"
        );
        assert!(log.contains("c1=only\\u{85}"), "{log}");
    }

    /// What a subscriber writes for `work`: with `ours`, or else with tracing-subscriber's own
    /// full format without time or target; its fields written as `init` sets them.
    fn written(coloured: bool, ours: Option<super::Line>, work: impl FnOnce()) -> String {
        let lines = Lines::default();
        let writer = lines.clone();
        let builder = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(coloured)
            .fmt_fields(super::Fields { coloured })
            .with_target(false)
            .without_time()
            .with_writer(move || writer.clone());
        if let Some(line) = ours {
            let subscriber = builder.event_format(line).finish();
            tracing::subscriber::with_default(subscriber, work);
        } else {
            tracing::subscriber::with_default(builder.finish(), work);
        }
        lines.text()
    }

    /// The lines a request writes while it is served, through [`super::RequestContext`] and
    /// [`super::calling`] (`ours`), or inside the tracing spans the server once gave each
    /// request (`request` with the method and path) and each call to a provider (with the
    /// provider's id); a line outside any request, and lines in spans of tracing's own.
    fn a_request_logs(ours: bool, uri: &str) {
        use axum::http::Request;
        use tower::{Layer, ServiceExt};
        let handler = tower::service_fn(move |_: Request<()>| {
            tracing::warn!(host = %"evil.example", "refused before the handler ran");
            async move {
                tracing::info!(provider = %"sandbox", count = 3, "sign-in started");
                // A call to the provider: through `calling`, or in the span `#[instrument]`
                // gave it.
                let call = async {
                    tracing::warn!(status = 503, "the provider is busy");
                    let connecting = tracing::info_span!("connect", host = %"127.0.0.1");
                    let _entered = connecting.enter();
                    tracing::info!("connected");
                };
                if ours {
                    super::calling("token_exchange", "sandbox", call).await;
                } else {
                    use tracing::Instrument;
                    call.instrument(tracing::info_span!("token_exchange", provider = %"sandbox"))
                        .await;
                }
                tracing::debug!("a debug line");
                tracing::trace!("a trace line");
                // As a dependency's `log` record arrives through tracing-log.
                tracing::warn!(
                    log.target = "reqwest::proxy",
                    log.line = 125,
                    "a proxy is ignored"
                );
                let inner = tracing::info_span!("exchange", attempt = 2);
                let _entered = inner.enter();
                tracing::error!("the provider failed");
                Ok::<_, std::convert::Infallible>(())
            }
        });
        let request = Request::get(uri).body(()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::info!("listening");
        if ours {
            let service = super::RequestContext.layer(handler);
            runtime.block_on(service.oneshot(request)).unwrap();
        } else {
            let path = super::short_path(request.uri().path()).into_owned();
            let span = tracing::info_span!("request", method = %"GET", path = %path);
            let _entered = span.enter();
            runtime.block_on(handler.oneshot(request)).unwrap();
        }
        tracing::info!("stopped");
    }

    #[test]
    fn lines_name_the_request_they_were_written_for_as_its_span_did() {
        let ours = Some(super::Line { timed: false });
        let callback = "/auth/callback?code=secret&state=x";
        let plain = written(false, ours, || a_request_logs(true, callback));
        assert_eq!(
            plain,
            written(false, None, || a_request_logs(false, callback))
        );
        assert_eq!(
            plain,
            " INFO listening\n \
             WARN request{method=GET path=/auth/callback}: refused before the handler ran host=evil.example\n \
             INFO request{method=GET path=/auth/callback}: sign-in started provider=sandbox count=3\n \
             WARN request{method=GET path=/auth/callback}:token_exchange{provider=sandbox}: the provider is busy status=503\n \
             INFO request{method=GET path=/auth/callback}:token_exchange{provider=sandbox}:connect{host=127.0.0.1}: connected\n\
             DEBUG request{method=GET path=/auth/callback}: a debug line\n\
             TRACE request{method=GET path=/auth/callback}: a trace line\n \
             WARN request{method=GET path=/auth/callback}: a proxy is ignored\n\
             ERROR request{method=GET path=/auth/callback}:exchange{attempt=2}: the provider failed\n \
             INFO stopped\n"
        );
        let coloured = written(true, ours, || a_request_logs(true, callback));
        assert_eq!(
            coloured,
            written(true, None, || a_request_logs(false, callback))
        );
        for colour in [
            "\x1b[35mTRACE",
            "\x1b[34mDEBUG",
            "\x1b[32m INFO",
            "\x1b[33m WARN",
            "\x1b[31mERROR",
        ] {
            assert!(coloured.contains(colour), "{colour:?} in {coloured:?}");
        }
        // A long path is cut short, as the span's field was.
        let long = format!("/{}?code=secret", "a".repeat(300));
        let plain = written(false, ours, || a_request_logs(true, &long));
        assert_eq!(plain, written(false, None, || a_request_logs(false, &long)));
        assert!(plain.contains("… (301 bytes)}: sign-in started"), "{plain}");
        assert!(!plain.contains("secret"), "{plain}");
        assert!(
            coloured.contains("\x1b[32m INFO\x1b[0m \x1b[1mrequest\x1b[0m\x1b[1m{\x1b[0m\x1b[3mmethod\x1b[0m\x1b[2m=\x1b[0mGET"),
            "{coloured:?}"
        );
    }

    #[test]
    fn lines_begin_with_their_utc_time_dimmed_on_a_terminal() {
        for coloured in [false, true] {
            // The line's time is cut to the microsecond.
            let before = time::OffsetDateTime::now_utc() - time::Duration::microseconds(1);
            let line = written(coloured, Some(super::Line { timed: true }), || {
                tracing::info!("listening")
            });
            let after = time::OffsetDateTime::now_utc();
            let (start, end) = if coloured {
                ("\x1b[2m", "\x1b[0m \x1b[32m INFO\x1b[0m listening\n")
            } else {
                ("", "  INFO listening\n")
            };
            let stamp = line
                .strip_prefix(start)
                .and_then(|rest| rest.strip_suffix(end))
                .unwrap_or_else(|| panic!("{line:?}"));
            let at =
                time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|e| panic!("{stamp}: {e}"));
            assert!(before <= at && at <= after, "{stamp}");
            assert_eq!(stamp.len(), 27, "{stamp}");
        }
    }

    #[test]
    fn a_long_path_is_logged_cut_short() {
        let long = "/".to_owned() + &"é".repeat(5000);
        let logged = super::short_path(&long);
        assert!(logged.chars().count() < 230, "{logged}");
        assert!(logged.ends_with("(10001 bytes)"));
        assert_eq!(super::short_path("/api/session"), "/api/session");
    }
}
