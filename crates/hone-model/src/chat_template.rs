//! Chat templates: the Jinja template in `tokenizer_config.json` (or `chat_template.jinja`)
//! rendered as transformers renders it — minijinja with Python string methods (pycompat),
//! `trim_blocks` and `lstrip_blocks`, `raise_exception`, `strftime_now`, and a `tojson` that
//! writes what Python's `json.dumps` writes.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;

use crate::{ModelError, Result};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Instructions one render may run. A real template spends tens per message; a template that
/// loops for ever (or nearly) stops here with a clear error instead of hanging.
pub const TEMPLATE_FUEL: u64 = 5_000_000;

/// Bytes a render may write beyond twice the messages' own text: enough for any real
/// template's markup, and a hostile one cannot fill memory with output.
pub const TEMPLATE_OUTPUT_SLACK: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    pub bos_token: String,
    pub eos_token: String,
}

#[derive(Serialize)]
struct Context<'a> {
    messages: &'a [Message],
    add_generation_prompt: bool,
    bos_token: &'a str,
    eos_token: &'a str,
}

impl ChatTemplate {
    /// Compiles `source`; a syntax error is reported here, not at the first render.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> std::result::Result<Value, Error> {
                Err(Error::new(ErrorKind::InvalidOperation, message))
            },
        );
        env.add_function("strftime_now", |format: String| {
            strftime(&format, now_utc())
        });
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", source.to_owned())
            .map_err(|e| ModelError::Template(describe(&e)))?;
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
        })
    }

    /// Renders the conversation; with `add_generation_prompt` it ends where the assistant's
    /// answer begins.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| ModelError::Template(describe(&e)))?;
        let text: usize = messages
            .iter()
            .map(|m| m.content.len() + m.role.len())
            .sum();
        let mut out = Bounded {
            bytes: Vec::new(),
            limit: 2 * text + TEMPLATE_OUTPUT_SLACK,
        };
        let context = Context {
            messages,
            add_generation_prompt,
            bos_token: &self.bos_token,
            eos_token: &self.eos_token,
        };
        match template.render_captured_to(context, &mut out) {
            Ok(_) => String::from_utf8(out.bytes)
                .map_err(|_| ModelError::Template("the template wrote invalid UTF-8".into())),
            Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(ModelError::Template(format!(
                "the chat template ran more than {TEMPLATE_FUEL} steps for {} message(s) and was stopped (a loop that does not end?)",
                messages.len()
            ))),
            Err(_) if out.bytes.len() >= out.limit => Err(ModelError::Template(format!(
                "the chat template wrote more than {} bytes for {} message(s) and was stopped",
                out.limit,
                messages.len()
            ))),
            Err(e) => Err(ModelError::Template(describe(&e))),
        }
    }

    /// The prompt text and the completion text for `answer`, so that prompt + completion is
    /// exactly the conversation with the answer, end-of-turn token included. Found as the
    /// suffix the answer adds to the rendered conversation; where a template does not extend
    /// its own generation prompt that way, the answer followed by the EOS token.
    pub fn prompt_and_completion(
        &self,
        messages: &[Message],
        answer: &str,
    ) -> Result<(String, String)> {
        let prompt = self.render(messages, true)?;
        let mut with_answer = messages.to_vec();
        with_answer.push(Message::new("assistant", answer));
        let full = self.render(&with_answer, false)?;
        let completion = match full.strip_prefix(&prompt) {
            Some(rest) if rest.contains(answer) => rest.trim_end_matches('\n').to_owned(),
            _ => format!("{answer}{}", self.eos_token),
        };
        Ok((prompt, completion))
    }
}

/// The render's output, refused past `limit` bytes.
struct Bounded {
    bytes: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.bytes
                .extend_from_slice(&buf[..self.limit - self.bytes.len()]);
            return Err(std::io::Error::other("the rendered prompt is too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn describe(e: &Error) -> String {
    let mut text = e.to_string();
    if let Some(detail) = e.detail() {
        if !text.contains(detail) {
            text = format!("{text}: {detail}");
        }
    }
    if let Some(line) = e.line() {
        text = format!("line {line}: {text}");
    }
    text
}

/// `tojson` as transformers defines it: `json.dumps(x, ensure_ascii=False, indent=…)`, so
/// `", "` and `": "` separators without an indent.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
    let mut out = String::new();
    python_json(&json, indent, sort_keys.unwrap_or(false), 0, &mut out);
    Ok(Value::from_safe_string(out))
}

fn python_json(
    v: &serde_json::Value,
    indent: Option<usize>,
    sort: bool,
    depth: usize,
    out: &mut String,
) {
    use serde_json::Value as J;
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v {
        J::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                python_json(item, indent, sort, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        J::Object(map) if !map.is_empty() => {
            out.push('{');
            let mut entries: Vec<_> = map.iter().collect();
            if sort {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                out.push_str(&serde_json::to_string(k).expect("string"));
                out.push_str(": ");
                python_json(item, indent, sort, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).expect("JSON value")),
    }
}

/// Civil UTC date-time now: (year, month 1–12, day, hour, minute, second, weekday 0=Monday, day of year 1–366).
fn now_utc() -> [i64; 8] {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    civil(secs)
}

fn civil(secs: i64) -> [i64; 8] {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_mar = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_mar + 2) / 153;
    let day = doy_mar - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cumulative[(month - 1) as usize] + day + i64::from(leap && month > 2);
    let weekday = (days + 3).rem_euclid(7); // 1970-01-01 was a Thursday
    [
        year,
        month,
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        weekday,
        yday,
    ]
}

/// Python's `strftime` for the directives chat templates use.
fn strftime(format: &str, t: [i64; 8]) -> std::result::Result<String, Error> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let [year, month, day, hour, minute, second, weekday, yday] = t;
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('-') if chars.clone().next() == Some('d') => {
                chars.next();
                out.push_str(&day.to_string())
            }
            Some('B') => out.push_str(MONTHS[(month - 1) as usize]),
            Some('b') => out.push_str(&MONTHS[(month - 1) as usize][..3]),
            Some('A') => out.push_str(DAYS[weekday as usize]),
            Some('a') => out.push_str(&DAYS[weekday as usize][..3]),
            Some('H') => out.push_str(&format!("{hour:02}")),
            Some('M') => out.push_str(&format!("{minute:02}")),
            Some('S') => out.push_str(&format!("{second:02}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('%') => out.push('%'),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "strftime_now: unsupported directive %{}",
                        other.unwrap_or(' ')
                    ),
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOP: &str = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}";

    #[test]
    fn a_template_that_runs_for_ever_is_stopped_with_a_clear_error() {
        let endless =
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        let t = ChatTemplate::new(endless, "", "").unwrap();
        let err = t.render(&[Message::new("user", "hi")], true).unwrap_err();
        assert!(err.to_string().contains("steps"), "{err}");
    }

    #[test]
    fn a_template_that_writes_without_end_is_stopped_at_its_output_bound() {
        let flood = "{% for i in range(100000) %}{{ 'x' * 10000 }}{% endfor %}";
        let t = ChatTemplate::new(flood, "", "").unwrap();
        let err = t.render(&[Message::new("user", "hi")], true).unwrap_err();
        assert!(err.to_string().contains("wrote more than"), "{err}");
    }

    #[test]
    fn long_conversations_and_long_messages_stay_within_the_bounds() {
        let t = ChatTemplate::new(LOOP, "", "").unwrap();
        let many: Vec<Message> = (0..5_000)
            .map(|i| {
                Message::new(
                    if i % 2 == 0 { "user" } else { "assistant" },
                    format!("turn {i}"),
                )
            })
            .collect();
        let text = t.render(&many, false).unwrap();
        assert_eq!(text.lines().count(), 5_000);
        let long = vec![Message::new("user", "y".repeat(40 * 1024 * 1024))];
        assert_eq!(
            t.render(&long, false).unwrap().len(),
            40 * 1024 * 1024 + "<|user|>\n".len()
        );
    }

    #[test]
    fn civil_dates_match_known_days() {
        // 2000-02-29 12:34:56 UTC is 951827696; a Tuesday, day 60 of a leap year.
        assert_eq!(civil(951_827_696), [2000, 2, 29, 12, 34, 56, 1, 60]);
        assert_eq!(civil(0), [1970, 1, 1, 0, 0, 0, 3, 1]);
        assert_eq!(
            strftime("%d %b %Y, %A %H:%M", civil(951_827_696)).unwrap(),
            "29 Feb 2000, Tuesday 12:34"
        );
    }

    #[test]
    fn tojson_writes_what_python_json_dumps_writes() {
        let env = {
            let mut env = Environment::new();
            env.add_filter("tojson", tojson);
            env
        };
        let ctx = minijinja::context! { x => serde_json::json!({"b": [1, "é"], "a": null}) };
        let compact = env.render_str("{{ x | tojson }}", &ctx).unwrap();
        assert_eq!(
            compact, r#"{"b": [1, "é"], "a": null}"#,
            "Python separators, no ASCII escaping, key order kept"
        );
        let indented = env.render_str("{{ x | tojson(indent=2) }}", &ctx).unwrap();
        assert_eq!(
            indented,
            "{\n  \"b\": [\n    1,\n    \"é\"\n  ],\n  \"a\": null\n}"
        );
    }
}
