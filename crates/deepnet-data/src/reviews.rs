//! The Amazon fine-food reviews sample (`../shared/data/fine-foods-reviews`): an RFC-4180 CSV
//! with the header `label,text`, `label` `great` (a 5-star review) or `other` (1-4 stars), read
//! into a [`ReviewsDataset`] of word-id sequences.
//!
//! - [`parse_csv`]: a small RFC-4180 reader: fields separated by `,`, records by `\n` or `\r\n`,
//!   a field in double quotes may hold commas, line breaks and `""` (one quote). Blank lines are
//!   skipped. Errors name the file, the line and the field.
//! - [`tokenize`]: lowercase, split on every character that is not alphanumeric (Unicode), an
//!   apostrophe (`'` or `’`, written `'`) kept when it has a letter or digit on both sides
//!   (`don't`, `rock'n'roll`; the quotes of `'this'` are dropped).
//! - [`WordVocab`]: built from the TRAIN split's tokens: `<pad>` = 0, `<unk>` = 1, then the
//!   words seen at least `min_freq` times, most frequent first (ties alphabetical), at most
//!   `max_size` ids in all. A word outside it maps to `<unk>`.
//! - [`ReviewsDataset`]: sample `i` is `(max_len,)` f32 word ids, the review's first `max_len`
//!   tokens then `<pad>` (0), label 0 for `great` and 1 for `other`
//!   ([`ReviewsDataset::CLASSES`], the R factor's level order); [`ReviewsDataset::lengths`]
//!   holds the true lengths (`min(tokens, max_len)`). A review with no token at all becomes the
//!   single token `<unk>` (length 1: the recurrent layers take lengths in `1..=L`). Since `<pad>`
//!   is never a real token, a row's length is also its number of non-zero ids (see
//!   [`crate::sequence`] for passing the lengths to a recurrent layer).

use crate::error::{DataError, Result};
use crate::sequence::{delegate_sequence_dataset, read_text_file, PaddedSequences};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// One record of a CSV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvRecord {
    /// The line (1-based) the record starts on.
    pub line: usize,
    /// The fields, unquoted.
    pub fields: Vec<String>,
}

/// Parses RFC-4180 CSV text (see the module docs); `path` names the file in errors. Every record
/// must have as many fields as the first (the header).
pub fn parse_csv(text: &str, path: &Path) -> Result<Vec<CsvRecord>> {
    let mut records: Vec<CsvRecord> = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        loop {
            let mut field = String::new();
            let col = fields.len() + 1;
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next() {
                        None => {
                            return Err(DataError::parse(
                                path,
                                start,
                                format!("field {col}"),
                                format!(
                                    "a quoted field opened on line {start} is not closed \
                                     before the end of the file"
                                ),
                            ))
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            field.push(c);
                        }
                    }
                }
                match chars.peek() {
                    None | Some(',') | Some('\n') | Some('\r') => {}
                    Some(&c) => {
                        return Err(DataError::parse(
                            path,
                            line,
                            format!("field {col}"),
                            format!(
                                "{c:?} after a closing quote, expected a comma or the end of \
                                 the line (a quote inside a quoted field is written \"\")"
                            ),
                        ))
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    match c {
                        ',' | '\n' | '\r' => break,
                        '"' => {
                            return Err(DataError::parse(
                                path,
                                line,
                                format!("field {col}"),
                                "a quote inside an unquoted field: quote the whole field and \
                                 write a quote as \"\"",
                            ))
                        }
                        _ => field.push(c),
                    }
                    chars.next();
                }
            }
            fields.push(field);
            // the field ended at a comma, a line break or the end of the text
            match chars.next() {
                Some(',') => continue,
                Some('\r') if chars.peek() == Some(&'\n') => {
                    chars.next();
                }
                _ => {}
            }
            line += 1;
            break;
        }
        if fields.len() == 1 && fields[0].is_empty() {
            continue; // a blank line
        }
        if let Some(first) = records.first().filter(|h| h.fields.len() != fields.len()) {
            return Err(DataError::parse(
                path,
                start,
                "record",
                format!(
                    "{} fields, expected {} as in the header ({})",
                    fields.len(),
                    first.fields.len(),
                    first.fields.join(",")
                ),
            ));
        }
        records.push(CsvRecord {
            line: start,
            fields,
        });
    }
    Ok(records)
}

/// The words of `text`: lowercase runs of alphanumeric characters, with inner apostrophes kept
/// (see the module docs).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if (c == '\'' || c == '’')
            && !cur.is_empty()
            && chars.peek().is_some_and(|n| n.is_alphanumeric())
        {
            cur.push('\'');
        } else if !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// A word vocabulary: `<pad>` = 0, `<unk>` = 1, then words by decreasing frequency.
#[derive(Clone, Debug, PartialEq)]
pub struct WordVocab {
    words: Vec<String>,
    index: HashMap<String, u32>,
}

impl WordVocab {
    /// The id of `<pad>`, the padding after a review's last token.
    pub const PAD: u32 = 0;
    /// The id of `<unk>`, every word outside the vocabulary.
    pub const UNK: u32 = 1;
    const SPECIALS: [&'static str; 2] = ["<pad>", "<unk>"];
    /// The most ids a vocabulary may have (ids stay exact in the f32 samples).
    pub const MAX_SIZE: usize = 1 << 24;

    /// The vocabulary of `docs` (tokenized texts): the words seen at least `min_freq` (>= 1)
    /// times, most frequent first, ties in alphabetical order, cut to `max_size` ids in all
    /// (2..=[`WordVocab::MAX_SIZE`], the two special tokens included).
    pub fn build<'a>(
        docs: impl IntoIterator<Item = &'a [String]>,
        min_freq: usize,
        max_size: usize,
    ) -> Result<WordVocab> {
        if min_freq == 0 || !(2..=Self::MAX_SIZE).contains(&max_size) {
            return Err(DataError::invalid(
                "WordVocab::build",
                format!(
                    "min_freq {min_freq} must be at least 1 and max_size {max_size} in 2..={}",
                    Self::MAX_SIZE
                ),
            ));
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for doc in docs {
            for w in doc {
                *counts.entry(w.as_str()).or_default() += 1;
            }
        }
        let mut kept: Vec<(&str, usize)> =
            counts.into_iter().filter(|&(_, n)| n >= min_freq).collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        kept.truncate(max_size - 2);
        Self::from_words(kept.into_iter().map(|(w, _)| w.to_string()))
    }

    /// The specials then `words`; errors on a duplicate or an empty word or one with whitespace.
    fn from_words(words: impl Iterator<Item = String>) -> Result<WordVocab> {
        let words: Vec<String> = Self::SPECIALS
            .iter()
            .map(|s| s.to_string())
            .chain(words)
            .collect();
        let mut index = HashMap::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            if w.is_empty() || w.contains(char::is_whitespace) {
                return Err(DataError::invalid(
                    "WordVocab",
                    format!("word {i} ({w:?}) is empty or has whitespace"),
                ));
            }
            if index.insert(w.clone(), i as u32).is_some() {
                return Err(DataError::invalid(
                    "WordVocab",
                    format!("word {w:?} appears twice"),
                ));
            }
        }
        Ok(WordVocab { words, index })
    }

    /// The number of ids, the two specials included.
    pub fn len(&self) -> usize {
        self.words.len()
    }
    /// Whether the vocabulary is empty (never: it always holds the specials).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
    /// The words in id order (`<pad>`, `<unk>`, ...).
    pub fn words(&self) -> &[String] {
        &self.words
    }
    /// The id of `word`: its own, or [`WordVocab::UNK`].
    pub fn id(&self, word: &str) -> u32 {
        self.index.get(word).copied().unwrap_or(Self::UNK)
    }
    /// The word of `id`, if it is in `0..len`.
    pub fn word(&self, id: u32) -> Option<&str> {
        self.words.get(id as usize).map(String::as_str)
    }
    /// The ids of `tokens`.
    pub fn encode(&self, tokens: &[String]) -> Vec<u32> {
        tokens.iter().map(|t| self.id(t)).collect()
    }

    /// The words in id order, one per line: what a weights file stores as metadata.
    pub fn to_metadata(&self) -> String {
        self.words.join("\n")
    }
    /// A vocabulary from [`WordVocab::to_metadata`]'s string: `<pad>`, `<unk>`, then distinct
    /// words without whitespace.
    pub fn from_metadata(s: &str) -> Result<WordVocab> {
        let mut lines = s.split('\n');
        let head: Vec<&str> = lines.by_ref().take(2).collect();
        if head != Self::SPECIALS {
            return Err(DataError::invalid(
                "WordVocab::from_metadata",
                format!("starts with {head:?}, expected <pad> and <unk>"),
            ));
        }
        Self::from_words(lines.map(str::to_string))
    }
}

/// One review of the CSV file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    /// The line (1-based) its record starts on.
    pub line: usize,
    /// 0 for `great`, 1 for `other`.
    pub label: i64,
    /// The text.
    pub text: String,
}

/// Reads a reviews CSV: a header with the columns `label` and `text` (any order, other columns
/// ignored), then one review per record.
pub fn read_reviews(path: impl AsRef<Path>) -> Result<Vec<Review>> {
    let path = path.as_ref();
    let records = parse_csv(&read_text_file(path)?, path)?;
    let Some((header, rows)) = records.split_first() else {
        return Err(DataError::parse(
            path,
            1,
            "header",
            "empty file, expected the header label,text",
        ));
    };
    let col = |name: &str| {
        header.fields.iter().position(|f| f == name).ok_or_else(|| {
            DataError::parse(
                path,
                header.line,
                "header",
                format!(
                    "no column {name:?} in {}, expected label,text",
                    header.fields.join(",")
                ),
            )
        })
    };
    let (li, ti) = (col("label")?, col("text")?);
    rows.iter()
        .map(|r| {
            let label = ReviewsDataset::CLASSES
                .iter()
                .position(|&c| c == r.fields[li])
                .ok_or_else(|| {
                    DataError::parse(
                        path,
                        r.line,
                        "label",
                        format!("{:?} is not great or other", r.fields[li]),
                    )
                })?;
            Ok(Review {
                line: r.line,
                label: label as i64,
                text: r.fields[ti].clone(),
            })
        })
        .collect()
}

/// How [`load_reviews`] builds the vocabulary and the samples.
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewsConfig {
    /// Tokens per sample; longer reviews keep their first `max_len` (200: the train split's
    /// 90th percentile is 144 tokens).
    pub max_len: usize,
    /// A word needs this many occurrences in the train split to get an id (2).
    pub min_freq: usize,
    /// The most ids, `<pad>` and `<unk>` included (20000).
    pub max_size: usize,
}

impl Default for ReviewsConfig {
    fn default() -> Self {
        ReviewsConfig {
            max_len: 200,
            min_freq: 2,
            max_size: 20_000,
        }
    }
}

/// Reviews as padded word-id sequences with their true lengths (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ReviewsDataset {
    seqs: PaddedSequences,
    vocab: Arc<WordVocab>,
    truncated: usize,
}

delegate_sequence_dataset!(ReviewsDataset, seqs);

impl ReviewsDataset {
    /// The class names: label 0 is `great`, 1 is `other`.
    pub const CLASSES: [&'static str; 2] = ["great", "other"];

    /// `reviews` tokenized, encoded with `vocab` and padded or cut to `max_len` (>= 1) tokens.
    pub fn new(reviews: &[Review], vocab: Arc<WordVocab>, max_len: usize) -> Result<Self> {
        let mut truncated = 0;
        let seqs: Vec<Vec<f32>> = reviews
            .iter()
            .map(|r| {
                let ids = vocab.encode(&tokenize(&r.text));
                truncated += usize::from(ids.len() > max_len);
                if ids.is_empty() {
                    vec![WordVocab::UNK as f32]
                } else {
                    ids.iter().map(|&i| i as f32).collect()
                }
            })
            .collect();
        let labels = reviews.iter().map(|r| r.label).collect();
        Ok(ReviewsDataset {
            seqs: PaddedSequences::new(&seqs, &[], max_len, WordVocab::PAD as f32, labels, 2)?,
            vocab,
            truncated,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Arc<WordVocab> {
        &self.vocab
    }
    /// The true length of every review, in `1..=max_len`.
    pub fn lengths(&self) -> &[usize] {
        self.seqs.lengths()
    }
    /// How many reviews were cut to `max_len` tokens.
    pub fn truncated(&self) -> usize {
        self.truncated
    }
    /// The padded sequences with their lengths.
    pub fn sequences(&self) -> &PaddedSequences {
        &self.seqs
    }
}

/// Loads `<dir>/train.csv` and `<dir>/test.csv` as `(train, test)`, the vocabulary built from
/// the train split (shared by both, [`ReviewsDataset::vocab`]).
pub fn load_reviews(dir: &Path, cfg: &ReviewsConfig) -> Result<(ReviewsDataset, ReviewsDataset)> {
    let train = read_reviews(dir.join("train.csv"))?;
    let test = read_reviews(dir.join("test.csv"))?;
    let tokens: Vec<Vec<String>> = train.iter().map(|r| tokenize(&r.text)).collect();
    let vocab = Arc::new(WordVocab::build(
        tokens.iter().map(Vec::as_slice),
        cfg.min_freq,
        cfg.max_size,
    )?);
    Ok((
        ReviewsDataset::new(&train, vocab.clone(), cfg.max_len)?,
        ReviewsDataset::new(&test, vocab, cfg.max_len)?,
    ))
}

#[cfg(test)]
#[path = "reviews_tests.rs"]
mod tests;
