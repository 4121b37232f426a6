//! The benchmark's tables: a label column, then one right-aligned column per method, each
//! as wide as its widest cell and two spaces more, so that no figure runs into the next.

/// One cell: a median in microseconds, or `-` where nothing was measured.
fn cell(value: Option<u64>) -> String {
    value.map_or("-".to_owned(), |us| format!("{us} µs"))
}

/// The table's lines, each ending in a newline.
pub fn render(
    first: &str,
    titles: &[&str],
    lines: &[(String, Vec<Option<u64>>)],
) -> String {
    let label_width = lines
        .iter()
        .map(|(label, _)| label.chars().count())
        .chain([first.chars().count()])
        .max()
        .unwrap_or(0);
    let cells: Vec<Vec<String>> = lines
        .iter()
        .map(|(_, values)| values.iter().copied().map(cell).collect())
        .collect();
    let widths: Vec<usize> = titles
        .iter()
        .enumerate()
        .map(|(column, title)| {
            cells
                .iter()
                .filter_map(|row| row.get(column))
                .map(|c| c.chars().count())
                .chain([title.chars().count()])
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect();
    let line = |label: &str, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = format!("{label:>label_width$}");
        for (cell, width) in cells.zip(&widths) {
            text.push_str(&format!("{cell:>width$}"));
        }
        text.push('\n');
        text
    };
    let mut text = line(first, &mut titles.iter().copied());
    for ((label, _), row) in lines.iter().zip(&cells) {
        text.push_str(&line(label, &mut row.iter().map(String::as_str)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn a_figure_wider_than_its_title_never_touches_its_neighbour() {
        let lines = [
            ("0 MiB".to_owned(), vec![Some(39138), Some(1274275)]),
            ("1024 MiB".to_owned(), vec![None, Some(7)]),
        ];
        let text = render("", &["fork", "spawn"], &lines);
        assert_eq!(
            text,
            "              fork       spawn\n   0 MiB  39138 µs  1274275 µs\n1024 MiB         -        7 µs\n"
        );
        for line in text.lines().skip(1) {
            assert_eq!(line.split("  ").filter(|w| !w.trim().is_empty()).count(), 3);
        }
    }
}
