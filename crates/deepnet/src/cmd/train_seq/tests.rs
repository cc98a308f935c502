use super::*;

#[test]
fn specs_round_trip_and_damaged_ones_are_named() {
    let file = Path::new("w.safetensors");
    for spec in [
        SeqModel::Series(SeriesRnnConfig {
            bidirectional: true,
            pooling: Pooling::Last,
            ..SeriesRnnConfig::new(RecurrentKind::Lstm, 12, 9)
        }),
        SeqModel::Fcn(FcnConfig::new(6, 4)),
        SeqModel::Review(ReviewClassifierConfig::new(500)),
    ] {
        let back = SeqModel::from_json(&spec.to_json(), file).unwrap();
        assert_eq!(back, spec);
        assert!(back.build(&ParamStore::new(0)).is_ok());
    }
    let mut j = SeqModel::Fcn(FcnConfig::new(1, 2)).to_json();
    j["kernels"] = json!([8, 5]);
    let e = SeqModel::from_json(&j, file).unwrap_err();
    assert_eq!(
        e,
        "w.safetensors: deepnet.sequence_task: model.kernels must be a list of 3 sizes"
    );
    let e = SeqModel::from_json(&json!({"name": "tcn"}), file).unwrap_err();
    assert!(
        e.contains("model.name must be lstm, gru, rnn, fcn or bigru"),
        "{e}"
    );
}

#[test]
fn datasets_parse_and_unknown_ones_are_named() {
    assert!(is_sequence_dataset("ucr:GunPoint") && is_sequence_dataset("reviews"));
    assert!(!is_sequence_dataset("mnist") && !is_sequence_dataset("reviewsx"));
    let e = parse_source("ucr:").unwrap_err();
    assert!(e.contains("expected ucr:NAME or ucr:PATH/NAME"), "{e}");
    let e = parse_source("ucr:/no/such/Set").unwrap_err();
    assert!(e.contains("/no/such/Set is not a folder"), "{e}");
    let e = parse_source("ucr:NoSuchProblem").unwrap_err();
    assert!(e.contains("ucr:NoSuchProblem: not found; looked in"), "{e}");
    let e = parse_source("reviews:/no/such/dir").unwrap_err();
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn recipes_fit_the_training_set() {
    let series = SeqModel::Series(SeriesRnnConfig::new(RecurrentKind::Gru, 1, 2));
    let r = recipe(&series, 36);
    assert_eq!((r.batch_size, r.passes), (9, 28));
    let r = recipe(&series, 270);
    assert_eq!((r.batch_size, r.passes, r.clip_norm), (16, 4, 1.0));
    let fcn = recipe(&SeqModel::Fcn(FcnConfig::new(1, 2)), 50);
    assert_eq!((fcn.batch_size, fcn.clip_norm), (5, 0.0));
}
