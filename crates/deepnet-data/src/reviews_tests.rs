use super::*;
use crate::testutil::TempDir;
use crate::{Dataset, SequenceDataset};

fn csv(text: &str) -> Result<Vec<CsvRecord>> {
    parse_csv(text, Path::new("d/r.csv"))
}

fn fields(r: &[CsvRecord]) -> Vec<Vec<&str>> {
    r.iter()
        .map(|r| r.fields.iter().map(String::as_str).collect())
        .collect()
}

#[test]
fn csv_quotes_commas_escaped_quotes_and_line_breaks() {
    let text = "label,text\r\ngreat,plain\r\nother,\"a, b\"\n\ngreat,\"say \"\"hi\"\"\nnext line\"\nother,\"\"\nlast,\n";
    let r = csv(text).unwrap();
    assert_eq!(
        fields(&r),
        [
            vec!["label", "text"],
            vec!["great", "plain"],
            vec!["other", "a, b"],
            vec!["great", "say \"hi\"\nnext line"],
            vec!["other", ""],
            vec!["last", ""],
        ]
    );
    let lines: Vec<usize> = r.iter().map(|r| r.line).collect();
    assert_eq!(
        lines,
        [1, 2, 3, 5, 7, 8],
        "a quoted line break counts as a line"
    );
    // no final line break, a quoted field last
    let r = csv("a,b\n1,\"2\"").unwrap();
    assert_eq!(fields(&r)[1], ["1", "2"]);
    assert_eq!(csv("").unwrap(), []);
}

#[test]
fn damaged_csv_names_the_line_and_field() {
    let cases: &[(&str, &str)] = &[
        (
            "label,text\ngreat,\"open\nstill open",
            "d/r.csv:2: field 2: a quoted field opened on line 2 is not closed before the end of the file",
        ),
        (
            "label,text\ngreat,\"closed\"x\n",
            "d/r.csv:2: field 2: 'x' after a closing quote, expected a comma or the end of the line",
        ),
        (
            "label,text\ngreat,say \"hi\"\n",
            "d/r.csv:2: field 2: a quote inside an unquoted field",
        ),
        (
            "label,text\ngreat,\"multi\nline\"\nother,a,b\n",
            "d/r.csv:4: record: 3 fields, expected 2 as in the header (label,text)",
        ),
        ("label,text\ngreat\n", "d/r.csv:2: record: 1 fields, expected 2"),
    ];
    for (text, want) in cases {
        let e = csv(text).expect_err(want).to_string();
        assert!(e.starts_with(want), "for {text:?}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn reviews_files_check_header_and_labels() {
    let dir = TempDir::new("reviews-bad");
    let p = dir.path().join("r.csv");
    let read = |text: &str| {
        std::fs::write(&p, text).unwrap();
        read_reviews(&p)
    };
    let r = read("text,label,stars\n\"Good, very\",great,5\nmeh,other,2\n").unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].label, r[0].text.as_str(), r[1].label, r[1].line),
        (0, "Good, very", 1, 3)
    );
    let bad: &[(&str, &str)] = &[
        (
            "",
            "r.csv:1: header: empty file, expected the header label,text",
        ),
        (
            "label,body\ngreat,x\n",
            "r.csv:1: header: no column \"text\" in label,body",
        ),
        (
            "label,text\ngreat,x\nGreat,y\n",
            "r.csv:3: label: \"Great\" is not great or other",
        ),
        (
            "label,text\ngreat,\"x\n",
            "r.csv:2: field 2: a quoted field opened on line 2",
        ),
    ];
    for (text, want) in bad {
        let e = read(text).unwrap_err().to_string();
        assert!(e.contains(want), "for {text:?}\n got: {e}\nwant: {want}");
    }
    std::fs::write(&p, b"label,text\ngreat,caf\xe9\n").unwrap();
    let e = read_reviews(&p).unwrap_err().to_string();
    assert!(e.contains("r.csv:2: encoding: invalid UTF-8"), "{e}");
    let e = load_reviews(&dir.path().join("none"), &ReviewsConfig::default()).unwrap_err();
    assert!(e.to_string().contains("train.csv"), "{e}");
}

#[test]
fn tokenizer_lowercases_splits_and_keeps_inner_apostrophes() {
    let t = tokenize("Don't STOP!! It's 5-star, 'quoted' dogs' rock’n’roll Café <br/>x");
    assert_eq!(
        t,
        [
            "don't",
            "stop",
            "it's",
            "5",
            "star",
            "quoted",
            "dogs",
            "rock'n'roll",
            "café",
            "br",
            "x"
        ]
    );
    assert!(tokenize(" ,.!' ").is_empty());
    assert_eq!(tokenize("a'"), ["a"]);
}

#[test]
fn vocab_orders_by_frequency_and_cuts() {
    let docs: Vec<Vec<String>> = ["b a c a", "b a d e e"]
        .iter()
        .map(|s| tokenize(s))
        .collect();
    let v = WordVocab::build(docs.iter().map(Vec::as_slice), 1, 100).unwrap();
    // a: 3, b: 2, e: 2 (ties alphabetical), c: 1, d: 1
    assert_eq!(v.words(), ["<pad>", "<unk>", "a", "b", "e", "c", "d"]);
    assert_eq!(
        (v.id("e"), v.id("zzz"), v.word(3)),
        (4, WordVocab::UNK, Some("b"))
    );
    let v2 = WordVocab::build(docs.iter().map(Vec::as_slice), 2, 100).unwrap();
    assert_eq!(v2.words(), ["<pad>", "<unk>", "a", "b", "e"]);
    let v3 = WordVocab::build(docs.iter().map(Vec::as_slice), 1, 4).unwrap();
    assert_eq!(v3.words(), ["<pad>", "<unk>", "a", "b"]);
    assert_eq!(v3.encode(&tokenize("A e q")), [2, 1, 1]);
    assert_eq!(WordVocab::from_metadata(&v.to_metadata()).unwrap(), v);
    assert!(WordVocab::build(docs.iter().map(Vec::as_slice), 0, 10).is_err());
    assert!(WordVocab::build(docs.iter().map(Vec::as_slice), 1, 1).is_err());
    let e = WordVocab::from_metadata("<unk>\n<pad>\na")
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected <pad> and <unk>"), "{e}");
    assert!(WordVocab::from_metadata("<pad>\n<unk>\na\na").is_err());
    assert!(WordVocab::from_metadata("<pad>\n<unk>\na b").is_err());
    assert!(WordVocab::from_metadata("<pad>\n<unk>\n").is_err());
    assert_eq!(WordVocab::from_metadata("<pad>\n<unk>").unwrap().len(), 2);
}

#[test]
fn dataset_pads_truncates_and_keeps_lengths() {
    let docs = [tokenize("good good tea"), tokenize("bad tea")];
    let vocab = Arc::new(WordVocab::build(docs.iter().map(Vec::as_slice), 1, 10).unwrap());
    // good 2, tea 2, bad 1 -> ids good 2, tea 3, bad 4
    let reviews = [
        ("good tea, good tea, good tea", 0),
        ("bad!", 1),
        ("...", 1),
        ("unseen tea", 0),
    ]
    .iter()
    .enumerate()
    .map(|(i, &(t, l))| Review {
        line: i + 2,
        label: l,
        text: t.into(),
    })
    .collect::<Vec<_>>();
    let d = ReviewsDataset::new(&reviews, vocab, 4).unwrap();
    assert_eq!(
        (d.len(), d.sample_shape(), d.num_classes()),
        (4, vec![4], Some(2))
    );
    assert_eq!(d.lengths(), &[4, 1, 1, 2]);
    assert_eq!(d.truncated(), 1);
    assert_eq!(
        d.sequences().data().images(),
        &[2.0, 3.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0]
    );
    let b = d.get_batch_with_lengths(&[3, 1]).unwrap();
    assert_eq!(
        (b.x.dims(), b.lengths.as_slice()),
        (&[2usize, 4][..], &[2, 1][..])
    );
    assert_eq!(b.y.to_vec::<i64>().unwrap(), [0, 1]);
    assert_eq!(b.trimmed().unwrap().x.dims(), &[2, 2]);
    // the length is the number of non-pad ids of a row
    for (i, &len) in d.lengths().iter().enumerate() {
        let row = &d.sequences().data().images()[i * 4..(i + 1) * 4];
        assert_eq!(row.iter().filter(|&&v| v != 0.0).count(), len);
    }
    assert!(ReviewsDataset::new(&reviews, d.vocab().clone(), 0).is_err());
}
