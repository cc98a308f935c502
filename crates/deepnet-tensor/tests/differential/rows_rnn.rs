//! The table: the fused recurrent cells (`lstm_cell`, `gru_cell`) and whole sequences
//! (`lstm_seq`, `gru_seq`).

use super::row::*;

/// The fused cells: the CPU evaluates sigmoid and tanh through its kernel exp (f32 within 2 ulp)
/// as `1 / (1 + e^-x)` and `1 - 2 / (1 + e^2x)`, whose last division and subtraction round at the
/// scale of 1 (a tanh near 0 is off by an ulp of 1, not of its value); then a handful of
/// products and one sum per state, each rounded in the dtype. The reference rounds once.
const CELL: Tol = Tol::Close {
    rel: 16.0,
    abs: 16.0,
};

/// The whole sequences: the cells' roundings, plus the recurrent products (fma chains of up to
/// `G*H` terms) in every step, each step's error carried into the next through the state; the
/// reference runs all of it in f64 and rounds once. The weight gradient sums over all steps and
/// rows as a matmul does.
const SEQ: Tol = Tol::Close {
    rel: 16.0,
    abs: 32.0,
};

const G4: &str = "the gates of H = 1 are (1, 4): the (1, 4) case is the smallest";

pub fn recurrent() -> Vec<Row> {
    vec![
        // gates (N, 4H) i, f, g, o and c_prev (N, H) -> [h', c']
        r("lstm_cell", FLOAT, vec![X, X], CELL)
            .many(|t| {
                let (h, c) = t[0].lstm_cell(&t[1])?;
                Ok(vec![h, c])
            })
            .case(&[&[3, 8], &[3, 2]])
            .case(&[&[5, 36], &[5, 9]])
            .case(&[&[0, 8], &[0, 2]])
            .case(&[&[1, 4], &[1, 1]])
            .no_size1(G4)
            .case(&[&[2, 0], &[2, 0]])
            // more rows than one CPU task holds (2^14 cells): rows split across tasks
            .case(&[&[2050, 32], &[2050, 8]])
            .err_case(&[&[3, 8], &[3, 3]])
            .err_case(&[&[3, 8], &[2, 2]])
            .err_case(&[&[3, 7], &[3, 2]])
            .err_case(&[&[8], &[2]]),
        // only h' used downstream: the c' half of the output gradient is zero
        r("lstm_cell", FLOAT, vec![X, X], CELL)
            .one(|t| Ok(t[0].lstm_cell(&t[1])?.0))
            .note("h only")
            .case(&[&[4, 12], &[4, 3]])
            .case(&[&[0, 12], &[0, 3]])
            .case(&[&[1, 4], &[1, 1]])
            .no_size1(G4),
        // gi, gh (N, 3H) r, z, n and h_prev (N, H) -> h'
        r("gru_cell", FLOAT, vec![X, X, X], CELL)
            .one(|t| t[0].gru_cell(&t[1], &t[2]))
            .case(&[&[3, 6], &[3, 6], &[3, 2]])
            .case(&[&[5, 27], &[5, 27], &[5, 9]])
            .case(&[&[0, 6], &[0, 6], &[0, 2]])
            .case(&[&[1, 3], &[1, 3], &[1, 1]])
            .no_size1("the gates of H = 1 are (1, 3): the (1, 3) case is the smallest")
            .case(&[&[2, 0], &[2, 0], &[2, 0]])
            .case(&[&[2100, 24], &[2100, 24], &[2100, 8]])
            .err_case(&[&[3, 6], &[3, 3], &[3, 2]])
            .err_case(&[&[3, 6], &[3, 6], &[3, 3]])
            .err_case(&[&[3, 5], &[3, 5], &[3, 2]]),
        // xp (L, N, 4H), w_hh (4H, H), b_ih, b_hh (4H), h0 and c0 (N, H) -> output, h_n, c_n
        seq_cases(
            r("lstm_seq", FLOAT, vec![X; 6], SEQ).many(|t| {
                let b = (Some(&t[2]), Some(&t[3]));
                let (o, h, c) = t[0].lstm_seq(&t[1], b, &t[4], &t[5], false)?;
                Ok(vec![o, h, c])
            }),
            4,
            true,
        ),
        seq_cases(
            r("lstm_seq", FLOAT, vec![X; 6], SEQ)
                .many(|t| {
                    let b = (Some(&t[2]), Some(&t[3]));
                    let (o, h, c) = t[0].lstm_seq(&t[1], b, &t[4], &t[5], true)?;
                    Ok(vec![o, h, c])
                })
                .note("reverse"),
            4,
            true,
        ),
        // xp (L, N, 3H), w_hh (3H, H), b_ih, b_hh (3H), h0 (N, H) -> output, h_n
        seq_cases(
            r("gru_seq", FLOAT, vec![X; 5], SEQ).many(|t| {
                let (o, h) = t[0].gru_seq(&t[1], (Some(&t[2]), Some(&t[3])), &t[4], false)?;
                Ok(vec![o, h])
            }),
            3,
            false,
        ),
        seq_cases(
            r("gru_seq", FLOAT, vec![X; 5], SEQ)
                .many(|t| {
                    let (o, h) = t[0].gru_seq(&t[1], (Some(&t[2]), Some(&t[3])), &t[4], true)?;
                    Ok(vec![o, h])
                })
                .note("reverse"),
            3,
            false,
        ),
        // no biases, the output only
        r("gru_seq", FLOAT, vec![X, X, X], SEQ)
            .one(|t| Ok(t[0].gru_seq(&t[1], (None, None), &t[2], false)?.0))
            .note("no bias")
            .case(&[&[3, 2, 6], &[6, 2], &[2, 2]])
            .case(&[&[0, 2, 6], &[6, 2], &[2, 2]])
            .case(&[&[1, 1, 3], &[3, 1], &[1, 1]])
            .no_size1("the gates of H = 1 are (1, 1, 3): the (1, 1, 3) case is the smallest"),
        r("lstm_seq", FLOAT, vec![X; 4], SEQ)
            .one(|t| Ok(t[0].lstm_seq(&t[1], (None, None), &t[2], &t[3], false)?.2))
            .note("no bias, c_n")
            .case(&[&[3, 2, 8], &[8, 2], &[2, 2], &[2, 2]])
            .case(&[&[0, 2, 8], &[8, 2], &[2, 2], &[2, 2]])
            .case(&[&[1, 1, 4], &[4, 1], &[1, 1], &[1, 1]])
            .no_size1("the gates of H = 1 are (1, 1, 4): the (1, 1, 4) case is the smallest"),
    ]
}

/// The shape cases of a sequence row with `g` gates (`lstm`: a `c0` operand too): small, more
/// rows than one slice holds (so that two threads split them) with a hidden size past a vector,
/// one step, empty in each of L, N and H; and operands that do not fit.
fn seq_cases(row: Row, g: usize, lstm: bool) -> Row {
    let case = |row: Row, (l, n, h): (usize, usize, usize), err: Option<usize>| {
        let (x, w, b, s) = (vec![l, n, g * h], vec![g * h, h], vec![g * h], vec![n, h]);
        let mut shapes = vec![x, w, b.clone(), b, s.clone()];
        if lstm {
            shapes.push(s);
        }
        if let Some(k) = err {
            shapes[k][0] += 1;
        }
        let refs: Vec<&[usize]> = shapes.iter().map(|v| v.as_slice()).collect();
        if err.is_some() {
            row.err_case(&refs)
        } else {
            row.case(&refs)
        }
    };
    let mut row = row;
    for sizes in [
        (3, 2, 2),
        (4, 9, 5),
        (1, 3, 3),
        (0, 2, 2),
        (2, 0, 2),
        (2, 3, 0),
        (1, 1, 1),
    ] {
        row = case(row, sizes, None);
    }
    for k in 1..if lstm { 6 } else { 5 } {
        row = case(row, (2, 2, 2), Some(k));
    }
    row.no_size1("the gates of H = 1 are (1, 1, G): the (1, 1, G) case is the smallest")
}
