//! Tests of the sequence layers' errors: bad inputs, initial states, lengths and state dicts are
//! named with the layer's path and the shapes.

use super::tests::{Kind, Layer};
use super::*;
use crate::ParamStore;
use deepnet_tensor::DType;

fn cfg(input: usize, hidden: usize) -> RnnConfig {
    RnnConfig::new(input, hidden)
}

#[test]
fn errors_name_the_layer_and_the_shapes() {
    let store = ParamStore::new(0);
    let c = RnnConfig {
        num_layers: 2,
        ..cfg(3, 4)
    };
    let l = LSTM::new(&c, &store.root().push("enc").push("rnn")).unwrap();
    let err = |r: Result<(Tensor, (Tensor, Tensor))>| r.expect_err("an error").to_string();
    let z = |d: &[usize]| Tensor::zeros(d.to_vec(), DType::F32).unwrap();
    let p = "in module \"enc.rnn\": lstm: ";
    assert_eq!(
        err(l.forward_with_state(&z(&[5, 2, 7]), None, None)),
        format!("{p}expected an input (L, N, 3) or unbatched (L, 3), got shape [5, 2, 7]")
    );
    assert!(err(l.forward_with_state(&z(&[1, 5, 2, 3]), None, None)).starts_with(p));
    let (h, cc) = (z(&[1, 2, 4]), z(&[2, 2, 4]));
    assert_eq!(
        err(l.forward_with_state(&z(&[5, 2, 3]), Some((&h, &cc)), None)),
        format!(
            "{p}h0 must be (D*num_layers, N, H_out) = [2, 2, 4] for input [5, 2, 3], got [1, 2, 4]"
        )
    );
    let (h, cc) = (z(&[2, 2, 4]), z(&[2, 2, 3]));
    let e = err(l.forward_with_state(&z(&[5, 2, 3]), Some((&h, &cc)), None));
    assert!(
        e.contains("c0 must be (D*num_layers, N, hidden_size) = [2, 2, 4]"),
        "{e}"
    );
    let x = z(&[5, 2, 3]);
    assert_eq!(
        err(l.forward_with_state(&x, None, Some(&[5]))),
        format!("{p}lengths has 1 entries for a batch of 2 sequences")
    );
    assert_eq!(
        err(l.forward_with_state(&x, None, Some(&[5, 0]))),
        format!("{p}lengths[1] = 0 is not in 1..=5 (the sequence length L)")
    );
    assert!(err(l.forward_with_state(&x, None, Some(&[6, 1]))).contains("lengths[0] = 6"));
    let g = GRU::new(
        &RnnConfig {
            batch_first: true,
            ..cfg(3, 4)
        },
        &store.root().push("g"),
    )
    .unwrap();
    let e = g
        .forward_with_state(&z(&[2, 5, 4]), None, None)
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "in module \"g\": gru: expected an input (N, L, 3) or unbatched (L, 3), got shape [2, 5, 4]"
    );
    // bad configurations
    let bad = |kind: Kind, c: RnnConfig| match Layer::new(kind, &c, &store.root().push("bad")) {
        Ok(_) => panic!("{c:?} was accepted"),
        Err(e) => e.to_string(),
    };
    let proj = RnnConfig {
        proj_size: 2,
        ..cfg(3, 4)
    };
    assert_eq!(
        bad(Kind::Gru, proj.clone()),
        "in module \"bad\": gru: proj_size = 2 is only supported by LSTM"
    );
    assert!(bad(Kind::Rnn, proj).contains("rnn: proj_size"));
    let e = bad(
        Kind::Lstm,
        RnnConfig {
            proj_size: 4,
            ..cfg(3, 4)
        },
    );
    assert!(
        e.contains("proj_size = 4 must be smaller than hidden_size = 4"),
        "{e}"
    );
    let e = bad(
        Kind::Lstm,
        RnnConfig {
            dropout: 1.0,
            ..cfg(3, 4)
        },
    );
    assert!(
        e.contains("dropout: probability p = 1 must be in [0, 1)"),
        "{e}"
    );
    let e = bad(
        Kind::Rnn,
        RnnConfig {
            num_layers: 0,
            ..cfg(3, 4)
        },
    );
    assert!(e.contains("num_layers must be at least 1"), "{e}");
}
