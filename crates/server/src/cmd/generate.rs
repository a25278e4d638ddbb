//! `nickpool gen` and `nickpool check-dict`.

use super::{CliError, write_result};
use crate::{CheckDictArgs, GenArgs, SourceArgs};
use nickpool_server::generator::{
    Count, DictSource, Dictionary, Generator, LoadOptions, Seed, Selection, Spread,
};
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::Arc;

impl SourceArgs {
    /// The dictionary source these flags name.
    pub fn dict_source(&self) -> DictSource {
        DictSource {
            dict: self.dict.clone(),
            charset: self.charset,
            blocklist: self.blocklist.clone(),
            max_chars: self.max_chars.map(usize::from),
        }
    }

    pub fn seed(&self) -> Seed {
        self.seed.map_or(Seed::Os, Seed::Fixed)
    }

    /// Resolves `--style` against a loaded dictionary.
    pub fn selection(&self, dict: &Dictionary) -> Result<Selection, CliError> {
        match &self.style {
            None => Ok(Selection::Weighted),
            Some(name) => {
                let i = dict.style_index(name).ok_or_else(|| {
                    let names: Vec<_> = dict.styles().iter().map(|s| s.name()).collect();
                    CliError::Usage(format!(
                        "unknown style '{name}'; the dictionary's styles are {}",
                        names.join(", ")
                    ))
                })?;
                dict.check_style_fits(i).map_err(CliError::Usage)?;
                Ok(Selection::Only(i))
            }
        }
    }
}

pub fn run(args: GenArgs) -> Result<(), CliError> {
    let dict = args
        .source
        .dict_source()
        .load()
        .map_err(|e| CliError::Runtime(format!("{e}\nfix the dictionary, then run again")))?;
    let selection = args.source.selection(&dict)?;
    if args.stats {
        return print_stats(&dict, selection);
    }
    if args.all {
        return print_all(&dict, selection);
    }
    let mut generator =
        Generator::new(Arc::new(dict), args.source.seed(), args.stream).with_selection(selection);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut buf = [0u8; nickpool::MAX_NICKNAME_LEN + 1];
    let result = (|| {
        for _ in 0..args.count {
            let len = generator.generate_into(&mut buf);
            buf[len] = b'\n';
            out.write_all(&buf[..=len])?;
        }
        out.flush()
    })();
    write_result(result)
}

/// `gen --all`: every nickname, in unique mode's index order (styles in
/// dictionary order, ranks within each), written in large blocks.
fn print_all(dict: &Dictionary, selection: Selection) -> Result<(), CliError> {
    const BLOCK: usize = 1 << 20;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut block: Vec<u8> = Vec::with_capacity(BLOCK + nickpool::MAX_NICKNAME_LEN + 1);
    let mut result = Ok(());
    for style in 0..dict.styles().len() {
        if selection != Selection::Weighted && selection != Selection::Only(style) {
            continue;
        }
        let flow = dict.for_each_nickname(style, |_, nickname| {
            block.extend_from_slice(nickname);
            block.push(b'\n');
            if block.len() >= BLOCK {
                result = out.write_all(&block);
                block.clear();
                if result.is_err() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        if flow.is_break() {
            break;
        }
    }
    let result = result
        .and_then(|()| out.write_all(&block))
        .and_then(|()| out.flush());
    write_result(result)
}

fn print_stats(dict: &Dictionary, selection: Selection) -> Result<(), CliError> {
    let spread = Spread::of(dict, selection);
    let mut text = format!("dictionary: {}\n", dict.name());
    if let Some(max) = dict.max_chars() {
        text.push_str(&format!("only nicknames of at most {max} characters\n"));
    }
    text.push_str(&format!(
        "{:<24} {:>6} {:>7} {:>22}  {}\n",
        "style", "weight", "draws", "distinct nicknames", "template"
    ));
    let mut total = Count::Exact(0);
    for s in &spread.styles {
        let style = &dict.styles()[s.style];
        total = total + s.count;
        text.push_str(&format!(
            "{:<24} {:>6} {:>7} {:>22}  {}\n",
            style.name(),
            if dict.auto_weights() {
                "auto".to_owned()
            } else {
                style.weight().to_string()
            },
            percent(s.share),
            s.count.to_string(),
            style.template()
        ));
    }
    text.push_str(&format!(
        "{:<24} {:>6} {:>7} {:>22}\n",
        "total",
        "",
        "",
        total.to_string()
    ));
    for s in spread.styles.iter().filter(|s| !dict.style_fits(s.style)) {
        text.push_str(&format!(
            "note: style '{}' has no nickname of at most {} characters and is left out\n",
            dict.styles()[s.style].name(),
            dict.max_chars().unwrap_or(0)
        ));
    }

    // Lengths: per style (of its nicknames) and of the draws.
    let shortest = spread
        .styles
        .iter()
        .filter_map(|s| s.lengths.counts.iter().position(|&c| c > 0))
        .min()
        .unwrap_or(0);
    let longest = spread
        .styles
        .iter()
        .map(|s| s.lengths.counts.len().saturating_sub(1))
        .max()
        .unwrap_or(0)
        .max(spread.lengths.len().saturating_sub(1));
    let columns = shortest..=longest;
    text.push_str(&format!("\n{:<24}", "characters"));
    for n in columns.clone() {
        text.push_str(&format!(" {n:>6}"));
    }
    text.push('\n');
    let row = |label: &str, shares: &dyn Fn(usize) -> f64| {
        let mut line = format!("{label:<24}");
        for n in columns.clone() {
            let x = shares(n);
            line.push_str(&format!(
                " {:>6}",
                if x > 0.0 { percent(x) } else { "-".into() }
            ));
        }
        line.push('\n');
        line
    };
    for s in &spread.styles {
        let size = s.lengths.total() as f64;
        text.push_str(&row(dict.styles()[s.style].name(), &|n| {
            s.lengths.counts.get(n).map_or(0.0, |&c| c as f64 / size)
        }));
    }
    text.push_str(&row("draws", &|n| {
        spread.lengths.get(n).copied().unwrap_or(0.0)
    }));
    if dict.max_chars().is_some() {
        text.push_str("(style rows count every length; draws only those under the cap)\n");
    }

    let approx = if spread.exact {
        ""
    } else {
        " (counts are upper bounds)"
    };
    text.push_str(&format!(
        "\nexpected distinct: {} of 100000 draws, {} of 1000000 draws{approx}\n",
        percent(spread.expected_distinct(100_000)),
        percent(spread.expected_distinct(1_000_000)),
    ));
    write_result(std::io::stdout().write_all(text.as_bytes()))
}

/// A share as a percentage with one decimal, or two below 1%.
fn percent(x: f64) -> String {
    let p = 100.0 * x;
    if p > 0.0 && p < 1.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

pub fn check_dict(args: CheckDictArgs) -> Result<(), CliError> {
    let dict = Dictionary::from_file(&args.file, &LoadOptions::default()).map_err(|e| {
        CliError::Runtime(format!(
            "{} is not a valid dictionary:\n{e}",
            args.file.display()
        ))
    })?;
    for w in dict.warnings() {
        eprintln!("{}:{}: warning: {}", args.file.display(), w.line, w.message);
    }
    println!(
        "{}: ok: {} words, {} styles, {} distinct nicknames",
        args.file.display(),
        dict.word_count(),
        dict.styles().len(),
        dict.count()
    );
    Ok(())
}
