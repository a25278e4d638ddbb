//! `nickpool gen` and `nickpool check-dict`.

use super::{CliError, write_result};
use crate::{CheckDictArgs, GenArgs, SourceArgs};
use nickpool_server::generator::{
    Count, DictSource, Dictionary, Generator, LoadOptions, Seed, Selection,
};
use std::io::Write;
use std::sync::Arc;

impl SourceArgs {
    /// The dictionary source these flags name.
    pub fn dict_source(&self) -> DictSource {
        DictSource {
            dict: self.dict.clone(),
            charset: self.charset,
            blocklist: self.blocklist.clone(),
        }
    }

    pub fn seed(&self) -> Seed {
        self.seed.map_or(Seed::Os, Seed::Fixed)
    }

    /// Resolves `--style` against a loaded dictionary.
    pub fn selection(&self, dict: &Dictionary) -> Result<Selection, CliError> {
        match &self.style {
            None => Ok(Selection::Weighted),
            Some(name) => dict.style_index(name).map(Selection::Only).ok_or_else(|| {
                let names: Vec<_> = dict.styles().iter().map(|s| s.name()).collect();
                CliError::Usage(format!(
                    "unknown style '{name}'; the dictionary's styles are {}",
                    names.join(", ")
                ))
            }),
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
    let mut generator =
        Generator::new(Arc::new(dict), args.source.seed(), 0).with_selection(selection);
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

fn print_stats(dict: &Dictionary, selection: Selection) -> Result<(), CliError> {
    let mut text = format!("dictionary: {}\n", dict.name());
    text.push_str(&format!(
        "{:<24} {:>6} {:>22}  {}\n",
        "style", "weight", "distinct nicknames", "template"
    ));
    let mut total = Count::Exact(0);
    for (i, style) in dict.styles().iter().enumerate() {
        if selection != Selection::Weighted && selection != Selection::Only(i) {
            continue;
        }
        let count = dict.count_style(i);
        total = total + count;
        text.push_str(&format!(
            "{:<24} {:>6} {:>22}  {}\n",
            style.name(),
            style.weight(),
            count.to_string(),
            style.template()
        ));
    }
    text.push_str(&format!(
        "{:<24} {:>6} {:>22}\n",
        "total",
        "",
        total.to_string()
    ));
    write_result(std::io::stdout().write_all(text.as_bytes()))
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
