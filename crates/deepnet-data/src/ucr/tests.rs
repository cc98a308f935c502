use super::*;
use crate::testutil::TempDir;
use crate::{Dataset, SequenceDataset};

/// Two dimensions, unequal lengths (3 and 2), a missing value, a comment, CRLF line ends.
const SMALL: &str = "# a comment\r\n@problemName Small\r\n@timeStamps false\r\n@missing true\r\n\
@univariate false\r\n@dimensions 2\r\n@equalLength false\r\n@classLabel true b a\r\n@data\r\n\
1,2,3:4,?,6:a\r\n\r\n7,8:9,10:b\r\n";

/// Options with `fill_missing` and the default zero padding.
fn fill(fill_missing: f32) -> UcrOptions {
    UcrOptions {
        fill_missing,
        ..UcrOptions::default()
    }
}

fn parse(text: &str) -> Result<TsFile> {
    parse_ts(text, Path::new("d/S_TRAIN.ts"))
}

#[test]
fn parses_a_multivariate_unequal_length_file() {
    let f = parse(SMALL).unwrap();
    assert_eq!(f.header.problem_name, "Small");
    assert_eq!(f.header.class_labels, ["b", "a"]);
    assert_eq!((f.dims, f.cases.len(), f.longest()), (2, 2, 3));
    let c = &f.cases[0];
    assert_eq!((c.len, c.label, c.line), (3, 1, 10));
    // time-major: [t0d0, t0d1, t1d0, t1d1, ...], the missing value NaN
    assert_eq!(c.values[..3], [1.0, 4.0, 2.0]);
    assert!(c.values[3].is_nan());
    assert_eq!(c.values[4..], [3.0, 6.0]);
    assert_eq!(f.cases[1].values, [7.0, 9.0, 8.0, 10.0]);
    assert_eq!((f.cases[1].label, f.cases[1].line), (0, 12));

    let d = TimeSeriesDataset::from_file(&f, 4, None, &fill(-5.0)).unwrap();
    assert_eq!((d.len(), d.sample_shape(), d.dims()), (2, vec![4, 2], 2));
    assert_eq!(d.lengths(), &[3, 2]);
    assert_eq!(
        (d.num_classes(), d.class_names()),
        (Some(2), &f.header.class_labels[..])
    );
    assert_eq!(d.problem_name(), "Small");
    let b = d.get_batch_with_lengths(&[1, 0]).unwrap();
    assert_eq!(b.x.dims(), &[2, 4, 2]);
    assert_eq!(b.y.to_vec::<i64>().unwrap(), [0, 1]);
    assert_eq!(b.lengths, [2, 3]);
    assert_eq!(
        b.x.to_vec::<f32>().unwrap(),
        [7.0, 9.0, 8.0, 10.0, 0.0, 0.0, 0.0, 0.0, 1.0, 4.0, 2.0, -5.0, 3.0, 6.0, 0.0, 0.0]
    );
    // NaN padding: the padded steps, and only they, are NaN (the missing value is filled)
    let nan_pad = UcrOptions {
        pad: f32::NAN,
        ..fill(-5.0)
    };
    let d = TimeSeriesDataset::from_file(&f, 4, None, &nan_pad).unwrap();
    let x = d.data().images();
    let nan_at: Vec<usize> = (0..x.len()).filter(|&i| x[i].is_nan()).collect();
    assert_eq!(nan_at, [6, 7, 12, 13, 14, 15]);
    assert_eq!(x[3], -5.0);
    let e = TimeSeriesDataset::from_file(&f, 2, None, &fill(0.0)).unwrap_err();
    assert!(e
        .to_string()
        .contains("max_len 2 is shorter than the longest case (3 steps)"));
}

#[test]
fn znorm_uses_the_observed_values_of_each_dimension() {
    let f = parse(SMALL).unwrap();
    let z = ZNorm::fit(&f).unwrap();
    // dimension 0: 1 2 3 7 8 -> mean 4.2; dimension 1: 4 6 9 10 (the ? skipped) -> mean 7.25
    assert!((z.mean[0] - 4.2).abs() < 1e-12 && (z.mean[1] - 7.25).abs() < 1e-12);
    let var0 = [1.0, 2.0, 3.0, 7.0, 8.0]
        .iter()
        .map(|v: &f64| (v - 4.2).powi(2))
        .sum::<f64>()
        / 5.0;
    assert!((z.std[0] - var0.sqrt()).abs() < 1e-12);
    let d = TimeSeriesDataset::from_file(&f, 3, Some(&z), &fill(0.0)).unwrap();
    let x = d.data().images();
    assert!((x[0] as f64 - (1.0 - 4.2) / z.std[0]).abs() < 1e-6);
    assert_eq!(x[3], 0.0, "a missing value is filled after normalization");
    assert_eq!(x[10..12], [0.0, 0.0], "padding stays zero");
    // a constant dimension is only centred
    let c = parse("@classLabel true x\n@univariate true\n@data\n2,2,2:x\n2,2:x\n").unwrap();
    let z = ZNorm::fit(&c).unwrap();
    assert_eq!((z.mean[0], z.std[0]), (2.0, 1.0));
    let all_missing = parse("@classLabel true x\n@data\n?,?:x\n").unwrap();
    let e = ZNorm::fit(&all_missing).unwrap_err().to_string();
    assert!(
        e.contains("d/S_TRAIN.ts: dimension 0 has no observed value"),
        "{e}"
    );
    let bad = ZNorm {
        mean: vec![0.0],
        std: vec![1.0],
    };
    assert!(TimeSeriesDataset::from_file(&f, 3, Some(&bad), &fill(0.0)).is_err());
}

#[test]
fn damaged_ts_files_name_the_line_and_field() {
    let head = "@problemName P\n@classLabel true 1 2\n@data\n";
    let cases: &[(String, &str)] = &[
        (
            "@problemName P\n@classLabel true 1 2\n".into(),
            "d/S_TRAIN.ts:2: @data: no @data line: the file ends in its header",
        ),
        (
            "@problemName P\n@data\n1,2:1\n".into(),
            ":2: @classLabel: no @classLabel true ... line before @data",
        ),
        (
            "@classLabel false\n@data\n".into(),
            ":1: @classLabel: regression problems are not supported",
        ),
        (
            "@classLabel true\n@data\n".into(),
            ":1: @classLabel: no class names after true",
        ),
        (
            "@classLabel true a b a\n@data\n".into(),
            ":1: @classLabel: class name \"a\" is listed twice",
        ),
        (
            "@classLabel maybe a\n@data\n".into(),
            ":1: @classLabel: \"maybe\" is not true or false",
        ),
        (
            "@timeStamps true\n".into(),
            ":1: @timeStamps: timestamped series are not supported",
        ),
        (
            "@targetlabel true\n".into(),
            ":1: @targetlabel: regression problems",
        ),
        ("@colour blue\n".into(), ":1: @colour: unknown header key"),
        (
            "@seriesLength ten\n".into(),
            ":1: @seriesLength: \"ten\" is not an integer in 1..=1073741824",
        ),
        (
            "@dimensions 99999999999999999999\n".into(),
            ":1: @dimensions: \"99999999999999999999\" is not an integer",
        ),
        (
            "@seriesLength 0\n".into(),
            ":1: @seriesLength: \"0\" is not an integer",
        ),
        (
            "1,2,3:1\n".into(),
            ":1: header: \"1,2,3:1\" before @data: expected a header line starting with @",
        ),
        (
            "@univariate true\n@dimensions 3\n@classLabel true 1\n@data\n1:1\n".into(),
            ":4: @dimensions: 3 dimensions in a file marked @univariate true",
        ),
        (head.to_string(), ":3: @data: no cases after @data"),
        (
            format!("{head}1,2,3\n"),
            ":4: case: no ':' before a class label",
        ),
        (
            format!("{head}1,2:3\n"),
            ":4: class label: \"3\" is not one of the @classLabel names 1 2",
        ),
        (
            format!("{head}1,2:1\n1,1.5x:2\n"),
            ":5: value 1 of dimension 0: \"1.5x\" is not a number (a missing value is written ?)",
        ),
        (
            format!("{head}1,2:1,inf:1\n"),
            ":4: value 1 of dimension 1: \"inf\" is not a finite f32",
        ),
        (
            format!("{head}1,2:3:1\n"),
            ":4: dimension 1: 1 values, but dimension 0 has 2",
        ),
        (format!("{head}1,2::1\n"), ":4: dimension 1: no values"),
        (
            format!("{head}1,2:3,4:1\n5,6:2\n"),
            ":5: case: 1 dimensions, expected 2",
        ),
        (
            "@dimensions 2\n@classLabel true 1\n@data\n1,2:1\n".into(),
            ":4: case: 1 dimensions, expected 2",
        ),
        (
            "@missing false\n@classLabel true 1\n@data\n1,?:1\n".into(),
            ":4: value 1 of dimension 0: a missing value in a file marked @missing false",
        ),
        (
            "@equalLength true\n@seriesLength 3\n@classLabel true 1\n@data\n1,2:1\n".into(),
            ":5: case: 2 values per dimension, but @seriesLength is 3",
        ),
        (
            "@equalLength true\n@classLabel true 1\n@data\n1,2:1\n1,2,3:1\n".into(),
            ":5: case: 3 steps, but the first case has 2 and the file is marked @equalLength true",
        ),
    ];
    for (text, want) in cases {
        let e = parse(text).expect_err(want).to_string();
        assert!(e.contains(want), "for {text:?}\n got: {e}\nwant: {want}");
        assert!(e.starts_with("d/S_TRAIN.ts:"), "{e}");
    }
}

#[test]
fn tsv_files_cut_trailing_nan_and_sort_numeric_classes() {
    let p = Path::new("d/T_TRAIN.tsv");
    let f = parse_ucr_tsv("10\t1\t2\tNaN\n2\t3\tNaN\t4\tNaN\tNaN\n\n-1\t5\n", p, None).unwrap();
    assert_eq!(f.header.class_labels, ["-1", "2", "10"]);
    assert_eq!(f.header.problem_name, "T");
    let lens: Vec<usize> = f.cases.iter().map(|c| c.len).collect();
    assert_eq!(lens, [2, 3, 1]);
    assert!(
        f.cases[1].values[1].is_nan(),
        "an inner NaN is a missing value"
    );
    let labels: Vec<usize> = f.cases.iter().map(|c| c.label).collect();
    assert_eq!(labels, [2, 1, 0]);
    assert_eq!(f.cases[2].line, 4);
    // labels that are not all numbers sort as text
    let f = parse_ucr_tsv("b\t1\na\t2\n", p, None).unwrap();
    assert_eq!(f.header.class_labels, ["a", "b"]);
    let classes = vec!["1".to_string(), "2".to_string()];
    let bad: &[(&str, &str)] = &[
        (
            "1\t1\n3\t2\n",
            "d/T_TRAIN.tsv:2: label: \"3\" is not one of the classes 1 2",
        ),
        ("1\t1\n\t2\n", ":2: label: empty class label"),
        ("1\tNaN\tNaN\n", ":1: case: no values after the label"),
        ("2\t1\t0x3\n", ":1: value 1: \"0x3\" is not a number"),
        ("\n\n", ":1: case: no cases in the file"),
    ];
    for (text, want) in bad {
        let e = parse_ucr_tsv(text, p, Some(&classes))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "for {text:?}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn loads_a_pair_from_a_directory() {
    let dir = TempDir::new("ucr-pair");
    let d = dir.path().join("Toy");
    std::fs::create_dir_all(&d).unwrap();
    let e = load_ucr(dir.path(), "Toy").unwrap_err().to_string();
    assert!(
        e.contains("Toy: missing UCR/UEA train file: looked for Toy_TRAIN.ts"),
        "{e}"
    );
    let head = "@problemName Toy\n@univariate true\n@classLabel true x y\n@data\n";
    std::fs::write(d.join("Toy_TRAIN.ts"), format!("{head}0,2:x\n4:y\n")).unwrap();
    let e = load_ucr(dir.path(), "Toy").unwrap_err().to_string();
    assert!(
        e.contains("missing UCR/UEA test file: looked for Toy_TEST.ts"),
        "{e}"
    );
    std::fs::write(d.join("Toy_TEST.ts"), format!("{head}1,2,3:y\n")).unwrap();
    let (train, test) = load_ucr(dir.path(), "Toy").unwrap();
    // both splits are padded to the longest series of the two files
    assert_eq!(
        (train.sample_shape(), test.sample_shape()),
        (vec![3, 1], vec![3, 1])
    );
    assert_eq!((train.lengths(), test.lengths()), (&[2, 1][..], &[3][..]));
    assert_eq!(train.data().labels(), &[0, 1]);
    assert_eq!(test.data().images(), &[1.0, 2.0, 3.0]);
    // z-normalization with the TRAIN statistics (mean 2, std sqrt(8/3)) for both splits
    let opts = UcrOptions {
        znormalize: true,
        ..UcrOptions::default()
    };
    let (train, test) = load_ucr_with(dir.path(), "Toy", &opts).unwrap();
    let s = (8.0f64 / 3.0).sqrt();
    assert_eq!(train.znorm(), test.znorm());
    assert_eq!(train.znorm().unwrap().mean, [2.0]);
    let want = [(1.0 - 2.0) / s, 0.0, (3.0 - 2.0) / s];
    for (g, w) in test.data().images().iter().zip(want) {
        assert!((*g as f64 - w).abs() < 1e-6, "{g} vs {w}");
    }
    // a test file with other classes, or other dimensions, is an error naming it
    let other = "@problemName Toy\n@univariate true\n@classLabel true y x\n@data\n1:y\n";
    std::fs::write(d.join("Toy_TEST.ts"), other).unwrap();
    let e = load_ucr(dir.path(), "Toy").unwrap_err().to_string();
    assert!(
        e.contains("Toy_TEST.ts:5: @classLabel: classes y x differ from the train file's x y"),
        "{e}"
    );
    let two = "@problemName Toy\n@classLabel true x y\n@data\n1:2:y\n";
    std::fs::write(d.join("Toy_TEST.ts"), two).unwrap();
    let e = load_ucr(dir.path(), "Toy").unwrap_err().to_string();
    assert!(
        e.contains("Toy_TEST.ts:4: case: 2 dimensions, but the train file has 1"),
        "{e}"
    );
    // a file that is not UTF-8
    std::fs::write(d.join("Toy_TEST.ts"), b"@problemName Toy\n\xc3\x28\n").unwrap();
    let e = load_ucr(dir.path(), "Toy").unwrap_err().to_string();
    assert!(e.contains("Toy_TEST.ts:2: encoding: invalid UTF-8"), "{e}");

    // the .tsv pair: classes from the train file, a test label outside them named
    std::fs::write(d.join("Toy_TRAIN.tsv"), "2\t1\t2\n1\t3\tNaN\n").unwrap();
    std::fs::write(d.join("Toy_TEST.tsv"), "1\t5\t6\t7\n").unwrap();
    let (train, test) = load_ucr_tsv(dir.path(), "Toy", &UcrOptions::default()).unwrap();
    assert_eq!(train.class_names(), ["1", "2"]);
    assert_eq!(
        (train.data().labels(), test.data().labels()),
        (&[1i64, 0][..], &[0i64][..])
    );
    assert_eq!((train.lengths(), train.max_len()), (&[2, 1][..], 3));
    std::fs::write(d.join("Toy_TEST.tsv"), "3\t5\n").unwrap();
    let e = load_ucr_tsv(dir.path(), "Toy", &UcrOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("Toy_TEST.tsv:1: label: \"3\" is not one of the classes 1 2"),
        "{e}"
    );
}
