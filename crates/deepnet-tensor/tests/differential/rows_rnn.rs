//! The table: the fused recurrent cells (`lstm_cell`, `gru_cell`).

use super::row::*;

/// The fused cells: the CPU evaluates sigmoid and tanh through its kernel exp (f32 within 2 ulp)
/// as `1 / (1 + e^-x)` and `1 - 2 / (1 + e^2x)`, whose last division and subtraction round at the
/// scale of 1 (a tanh near 0 is off by an ulp of 1, not of its value); then a handful of
/// products and one sum per state, each rounded in the dtype. The reference rounds once.
const CELL: Tol = Tol::Close {
    rel: 16.0,
    abs: 16.0,
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
    ]
}
