//! `tokenbridge-bench --ranges FILE…`: the budgets over several runs' `results.json`. CPU time
//! moves from run to run on a shared machine, so the README gives each budget's value in one run
//! and its range over several, and says in how many runs it was met; this reads them all and
//! prints exactly that, where collating them by hand was slow and easy to get wrong.

use serde_json::Value;

pub const ARG: &str = "--ranges";

/// Which way a value must lie of its budget.
#[derive(Clone, Copy)]
enum Limit {
    AtMost(f64),
    Exactly(f64),
    /// Not a budget: shown for its range alone (the floor, the store alone).
    None,
}

/// How a line's value is read from one run: `None` when the run did not measure it.
type Read = Box<dyn Fn(&Value) -> Option<f64>>;

/// One line: a name, its budget, and how to read its value from one run.
struct Row {
    name: String,
    limit: Limit,
    /// Digits after the point.
    decimals: usize,
    read: Read,
}

const LEVELS: [u64; 3] = [1, 8, 64];

/// The entry of `list` (an array of objects, one per concurrency) at `level`, then `field`.
fn at_level(run: &Value, list: &str, level: u64, field: &str) -> Option<f64> {
    run.pointer(list)?
        .as_array()?
        .iter()
        .find(|entry| entry["concurrency"].as_u64() == Some(level))?
        .pointer(field)?
        .as_f64()
}

/// Digits after the point: none for microseconds, two for milliseconds.
const US: usize = 0;
const MS: usize = 2;

fn line(name: impl Into<String>, limit: Limit, decimals: usize, read: Read) -> Row {
    Row {
        name: name.into(),
        limit,
        decimals,
        read,
    }
}

/// A line for each concurrency, of `list`'s entry at it, then `field` (microseconds).
fn per_level(
    name: &str,
    limit: Limit,
    list: &'static str,
    field: &'static str,
) -> impl Iterator<Item = Row> {
    LEVELS
        .map(move |level| {
            line(
                format!("{name} at {level}"),
                limit,
                US,
                Box::new(move |run| at_level(run, list, level, field)),
            )
        })
        .into_iter()
}

/// `list`'s entry at concurrency `level`, then `field`.
fn at(list: &'static str, level: u64, field: &'static str) -> Read {
    Box::new(move |run| at_level(run, list, level, field))
}

const SIGN_INS: &str = "/server_cpu_us_per_sign_in";
const FLOOR_SIGN_INS: &str = "/floor/server_cpu_us_per_sign_in";

fn store_alone(run: &Value) -> Option<f64> {
    run.pointer("/store_alone/cpu_us_per_sign_in")?.as_f64()
}

/// The lines, in the README's order.
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(per_level(
        "sign-in CPU µs",
        Limit::AtMost(150.0),
        SIGN_INS,
        "/login_and_callback",
    ));
    rows.extend(per_level(
        "  the floor's",
        Limit::None,
        FLOOR_SIGN_INS,
        "/cpu_us",
    ));
    rows.push(line(
        "  the store alone's",
        Limit::None,
        US,
        Box::new(store_alone),
    ));
    rows.extend(LEVELS.map(|level| {
        line(
            format!("  above the floor and the store at {level}"),
            Limit::None,
            US,
            Box::new(move |run| {
                let sign_in = at_level(run, SIGN_INS, level, "/login_and_callback")?;
                Some(sign_in - at_level(run, FLOOR_SIGN_INS, level, "/cpu_us")? - store_alone(run)?)
            }),
        )
    }));
    rows.extend(per_level(
        "token read CPU µs",
        Limit::AtMost(40.0),
        "/token_reads",
        "/server_cpu_us_per_read",
    ));
    rows.extend(per_level(
        "  the floor's",
        Limit::None,
        "/floor/server_cpu_us_per_token_read",
        "/cpu_us",
    ));
    rows.extend([
        line(
            "token read p99 ms at 64",
            Limit::AtMost(5.0),
            MS,
            at("/token_reads", 64, "/latency/p99_ms"),
        ),
        line(
            "  the floor's p99 ms",
            Limit::None,
            MS,
            at("/floor/token_read_latency", 64, "/latency/p99_ms"),
        ),
        line(
            "BFF overhead p50 ms at 1",
            Limit::AtMost(0.3),
            MS,
            at("/overhead", 1, "/overhead_p50_ms"),
        ),
        line(
            "BFF overhead p99 ms at 1",
            Limit::AtMost(1.0),
            MS,
            at("/overhead", 1, "/overhead_p99_ms"),
        ),
        line(
            "  beyond the floor's callback, p50 ms",
            Limit::None,
            MS,
            at("/overhead", 1, "/beyond_floor_callback_p50_ms"),
        ),
    ]);
    rows.extend(per_level(
        "new connections per 1,000 flows",
        Limit::Exactly(0.0),
        "/connections_per_1000_flows",
        "/accepted",
    ));
    rows.extend([
        line(
            "idle RSS MB",
            Limit::AtMost(15.0),
            1,
            Box::new(|run| Some(run.pointer("/rss_idle_kib")?.as_f64()? / 1024.0)),
        ),
        line(
            "start-up ms",
            Limit::AtMost(50.0),
            MS,
            Box::new(|run| run.pointer("/startup_ms")?.as_f64()),
        ),
        line(
            "first load KB, brotli (aim 110)",
            Limit::AtMost(125.0),
            1,
            Box::new(|run| Some(run.pointer("/page/first_load/brotli")?.as_f64()? / 1000.0)),
        ),
        // Paths none of the budgets' requests takes.
        line(
            "uncached token read µs at 1 (no budget)",
            Limit::None,
            US,
            Box::new(|run| {
                run.pointer("/token_reads_missing_the_cache/server_cpu_us_per_read")?
                    .as_f64()
            }),
        ),
        line(
            "Refresh click CPU µs at 1 (no budget)",
            Limit::None,
            US,
            Box::new(|run| {
                run.pointer("/refreshes/server_cpu_us_per_refresh")?
                    .as_f64()
            }),
        ),
    ]);
    rows
}

fn number(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

/// The table for `runs` (each a parsed `results.json`): a line a budget with every run's
/// value in the order given, their range, and in how many of the runs that measured it the
/// budget was met.
pub fn table(runs: &[Value]) -> String {
    let mut out = format!(
        "{:<42} {:>7}  {:<34} {:<13} met\n",
        "budget", "limit", "runs, in the order given", "range"
    );
    for Row {
        name,
        limit,
        decimals,
        read,
    } in rows()
    {
        let number = |value: f64| number(value, decimals);
        let values: Vec<Option<f64>> = runs.iter().map(&read).collect();
        let measured: Vec<f64> = values.iter().flatten().copied().collect();
        let each = values
            .iter()
            .map(|value| value.map_or_else(|| "–".to_owned(), number))
            .collect::<Vec<_>>()
            .join(" ");
        let range = match (
            measured.iter().copied().reduce(f64::min),
            measured.iter().copied().reduce(f64::max),
        ) {
            (Some(low), Some(high)) if number(low) == number(high) => number(low),
            (Some(low), Some(high)) => format!("{}–{}", number(low), number(high)),
            _ => "–".to_owned(),
        };
        let (limit_text, met) = match limit {
            Limit::AtMost(most) => (
                format!("≤ {}", number(most)),
                Some(measured.iter().filter(|&&v| v <= most).count()),
            ),
            Limit::Exactly(wanted) => (
                format!("= {}", number(wanted)),
                Some(measured.iter().filter(|&&v| v == wanted).count()),
            ),
            Limit::None => (String::new(), None),
        };
        let met = match met {
            Some(_) if measured.is_empty() => "not measured".to_owned(),
            Some(count) => format!("{count} of {}", measured.len()),
            None => String::new(),
        };
        out.push_str(&format!(
            "{name:<42} {limit_text:>7}  {each:<34} {range:<13} {met}\n"
        ));
    }
    out
}

/// Reads each file and prints [`table`] of them.
pub fn print(files: &[String]) -> Result<(), String> {
    if files.is_empty() {
        return Err(format!(
            "{ARG} needs the results.json of one run or more (BENCH_OUT names where a run writes it)"
        ));
    }
    let runs = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("{file}: not a benchmark's results: {e}"))
        })
        .collect::<Result<Vec<Value>, String>>()?;
    println!("the budgets over {} runs: {}", runs.len(), files.join(", "));
    print!("{}", table(&runs));
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// A run's results as the benchmark writes them, with the values a test sets.
    fn run(sign_in_at_1: f64, read_at_1: f64, p99_at_64: f64, short: bool) -> serde_json::Value {
        let levels = |value: f64, field: &str| {
            json!([1, 8, 64].map(|c| {
                let mut entry = json!({ "concurrency": c });
                entry[field] = json!(if c == 1 { value } else { 100.0 });
                entry
            }))
        };
        let mut results = json!({
            "server_cpu_us_per_sign_in": levels(sign_in_at_1, "login_and_callback"),
            "floor": {
                "server_cpu_us_per_sign_in": levels(200.0, "cpu_us"),
                "server_cpu_us_per_token_read": levels(30.0, "cpu_us"),
                "token_read_latency": [{ "concurrency": 64, "latency": { "p99_ms": 2.5 } }],
            },
            "store_alone": { "cpu_us_per_sign_in": 90.0 },
            "token_reads": [
                { "concurrency": 1, "server_cpu_us_per_read": read_at_1, "latency": { "p99_ms": 0.2 } },
                { "concurrency": 64, "server_cpu_us_per_read": 20.0, "latency": { "p99_ms": p99_at_64 } },
            ],
            "overhead": [{ "concurrency": 1, "overhead_p50_ms": 0.25, "overhead_p99_ms": 0.9 }],
            "connections_per_1000_flows": ([1, 8, 64].map(|c| json!({ "concurrency": c, "accepted": 0.0 }))),
            "page": { "first_load": { "brotli": 113_711 } },
            "startup_ms": 2.2,
        });
        if !short {
            results["rss_idle_kib"] = json!(12_188);
            // Runs before the benchmark measured a Refresh click have no such value.
            results["refreshes"] = json!({ "server_cpu_us_per_refresh": 190.0 });
        }
        results
    }

    fn line<'a>(table: &'a str, name: &str) -> &'a str {
        table
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no line {name:?} in\n{table}"))
    }

    /// Each budget's line holds every run's value in order, their range and how many runs met
    /// it; a run that did not measure a value (a short run's memory) counts for neither.
    #[test]
    fn each_budget_shows_every_run_its_range_and_how_often_it_was_met() {
        let table = super::table(&[
            run(572.0, 38.0, 3.33, false),
            run(511.0, 56.0, 5.4, true),
            run(140.0, 40.0, 4.93, true),
        ]);
        let sign_in = line(&table, "sign-in CPU µs at 1 ");
        assert!(sign_in.contains("572 511 140"), "{sign_in}");
        assert!(sign_in.contains("140–572"), "{sign_in}");
        assert!(sign_in.ends_with("1 of 3"), "{sign_in}");
        let above = line(&table, "  above the floor and the store at 1 ");
        assert!(above.contains("282 221 -150"), "{above}");
        let read = line(&table, "token read CPU µs at 1 ");
        assert!(
            read.ends_with("2 of 3"),
            "a read of exactly 40 meets ≤ 40: {read}"
        );
        let p99 = line(&table, "token read p99 ms at 64");
        assert!(p99.contains("3.33 5.40 4.93"), "{p99}");
        assert!(p99.ends_with("2 of 3"), "{p99}");
        let rss = line(&table, "idle RSS MB");
        assert!(rss.contains("11.9 – –"), "{rss}");
        assert!(rss.ends_with("1 of 1"), "{rss}");
        let load = line(&table, "first load KB");
        assert!(load.contains("113.7 113.7 113.7"), "{load}");
        assert!(load.ends_with("3 of 3"), "{load}");
        let connections = line(&table, "new connections per 1,000 flows at 64");
        assert!(connections.ends_with("3 of 3"), "{connections}");
        let floor = line(&table, "  the floor's at 1 ");
        assert!(!floor.contains(" of "), "not a budget: {floor}");
        let floor_p99 = line(&table, "  the floor's p99 ms");
        assert!(floor_p99.contains("2.50 2.50 2.50"), "{floor_p99}");
        let refresh = line(&table, "Refresh click CPU µs at 1");
        assert!(refresh.contains("190 – –"), "{refresh}");
        assert!(!refresh.contains(" of "), "not a budget: {refresh}");
    }

    #[test]
    fn a_file_that_is_not_a_run_is_named_in_the_error() {
        let file = std::env::temp_dir().join(format!("ranges-{}.json", std::process::id()));
        std::fs::write(&file, "not json").unwrap();
        let name = file.display().to_string();
        let error = super::print(std::slice::from_ref(&name)).unwrap_err();
        std::fs::remove_file(&file).unwrap();
        assert!(error.starts_with(&name), "{error}");
        assert!(super::print(&[]).unwrap_err().contains("BENCH_OUT"));
    }
}
