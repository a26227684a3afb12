//! Folded stacks, one line per stack, as flamegraph.pl and inferno read
//! them: `comm;user_outer;...;user_leaf;-;kernel_outer;...;kernel_leaf N`
//! (the `-` with -d where both kinds of stack are taken: there even when
//! one of them is empty, as BCC prints it).

use crate::stacks::StackRow;

pub fn line(row: &StackRow, delimiter: bool) -> String {
    let mut parts: Vec<&str> = vec![row.comm.as_str()];
    parts.extend(row.user.iter().rev().map(|f| f.name.as_str()));
    if delimiter {
        parts.push("-");
    }
    parts.extend(row.kernel.iter().rev().map(|f| f.name.as_str()));
    format!("{} {}", parts.join(";"), row.count)
}

pub fn render(rows: &[StackRow], delimiter: bool) -> String {
    rows.iter().map(|r| line(r, delimiter) + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::golden;
    use crate::render::stack_text::tests::sample_rows;

    #[test]
    fn folded_layout_matches_the_golden_files() {
        let rows = sample_rows();
        golden::check("stack_folded.txt", &render(&rows, false));
        golden::check("stack_folded_delimited.txt", &render(&rows, true));
    }
}
