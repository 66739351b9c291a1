//! Laying documents out on pages, then writing the pages with krilla.
//!
//! Layout is a pass of its own that yields pages of drawing operations ([`Op`]) in points,
//! from the top-left corner: so the page count is known before the footers ("1/2") are
//! written, and tests can check where everything went without reading a PDF. Text is wrapped
//! to its width with the same measure it is drawn with; a table row that does not fit moves
//! to the next page under a repeated header row.

use super::PdfError;
use super::fonts::{FaceKind, Fonts, Shaped, is_cjk, is_invisible};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::{Document, metadata::Metadata};

/// Millimetres to points.
pub(super) fn mm(v: f32) -> f32 {
    v * 72.0 / 25.4
}

pub(super) const A4: (f32, f32) = (595.276, 841.89);

/// Line height as a multiple of the font size.
const LEADING: f32 = 1.3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Right,
    Center,
}

/// How a text is set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    pub size: f32,
    pub bold: bool,
    pub align: Align,
}

impl Style {
    pub fn new(size: f32, bold: bool, align: Align) -> Style {
        Style { size, bold, align }
    }
}

/// One thing drawn on a page.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// One line of text; `y` is its baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        shaped: Shaped,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
    },
    /// A filled rectangle, `gray` 0 (black) to 1 (white).
    Fill {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        gray: f32,
    },
}

#[derive(Debug, Clone, Default)]
pub(super) struct Page {
    pub ops: Vec<Op>,
}

/// A column of a table.
#[derive(Debug, Clone)]
pub(super) struct Column {
    pub title: String,
    pub width: f32,
    pub align: Align,
}

/// A table's columns and type size; the columns' widths add up to the table's.
#[derive(Debug, Clone)]
pub(super) struct Table {
    pub columns: Vec<Column>,
    pub size: f32,
}

const CELL_PAD: f32 = 3.0;
/// The running head's line, rule and space under them.
const RUNNING_HEAD_HEIGHT: f32 = 8.0 * LEADING + 8.0;

/// A document being laid out: the pages so far and where the next thing goes.
pub(super) struct Sheet<'f> {
    pub fonts: &'f Fonts,
    pub width: f32,
    pub height: f32,
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
    pub pages: Vec<Page>,
    /// Where the next thing goes, from the top of the page.
    pub y: f32,
    /// Drawn at the top of every page after the first.
    pub running_head: Option<String>,
}

impl<'f> Sheet<'f> {
    pub fn new(fonts: &'f Fonts, (width, height): (f32, f32), margin: f32) -> Sheet<'f> {
        Sheet {
            fonts,
            width,
            height,
            left: margin,
            right: width - margin,
            top: margin,
            // Room for the footer.
            bottom: height - margin - 14.0,
            pages: vec![Page::default()],
            y: margin,
            running_head: None,
        }
    }

    pub fn content_width(&self) -> f32 {
        self.right - self.left
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Page::default());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last].ops
    }

    pub fn new_page(&mut self) -> Result<(), PdfError> {
        self.pages.push(Page::default());
        self.y = self.top;
        if let Some(head) = self.running_head.clone() {
            let lines = self.wrap(&head, 8.0, false, self.content_width())?;
            if let Some(line) = lines.into_iter().next() {
                let x = self.left;
                let y = self.y;
                self.text_line(x, y, 8.0, line);
            }
            self.y += 8.0 * LEADING + 2.0;
            let y = self.y;
            self.rule(y, 0.5);
            self.y = self.top + RUNNING_HEAD_HEIGHT;
        }
        Ok(())
    }

    /// Starts a new page unless `h` more points fit on this one.
    pub fn ensure(&mut self, h: f32) -> Result<(), PdfError> {
        if self.y + h > self.bottom && self.y > self.top + 30.0 {
            self.new_page()?;
        }
        Ok(())
    }

    pub fn line_height(size: f32) -> f32 {
        size * LEADING
    }

    /// Draws one shaped line with its top at `top`.
    fn text_line(&mut self, x: f32, top: f32, size: f32, shaped: Shaped) {
        if shaped.is_empty() {
            return;
        }
        let y = top + size * 0.95;
        self.ops().push(Op::Text { x, y, size, shaped });
    }

    pub fn rule(&mut self, y: f32, width: f32) {
        let (x1, x2) = (self.left, self.right);
        self.ops().push(Op::Line {
            x1,
            y1: y,
            x2,
            y2: y,
            width,
        });
    }

    pub fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, width: f32) {
        self.ops().push(Op::Line {
            x1,
            y1,
            x2,
            y2,
            width,
        });
    }

    pub fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, gray: f32) {
        self.ops().push(Op::Fill { x, y, w, h, gray });
    }

    /// `text` broken into lines no wider than `width`: at its newlines, after spaces, between
    /// Chinese characters, and inside a word too long for a line.
    pub fn wrap(
        &self,
        text: &str,
        size: f32,
        bold: bool,
        width: f32,
    ) -> Result<Vec<Shaped>, PdfError> {
        let max_em = (width / size).max(0.0);
        let mut out = Vec::new();
        for paragraph in text.split('\n') {
            let paragraph: String = paragraph
                .chars()
                .map(|c| if c == '\t' { ' ' } else { c })
                .filter(|c| !is_invisible(*c))
                .collect();
            // Widths add up (no kerning), so a line's width is the sum of its tokens'.
            let mut line = String::new();
            let mut line_em = 0.0;
            for token in tokens(&paragraph) {
                let token_em = self.fonts.shape(token, bold)?.width_em;
                if line_em + token_em <= max_em {
                    line.push_str(token);
                    line_em += token_em;
                    continue;
                }
                // The token does not fit after what the line has.
                if !line.trim().is_empty() {
                    out.push(self.fonts.shape(line.trim_end(), bold)?);
                }
                line.clear();
                line_em = 0.0;
                if token.trim().is_empty() {
                    continue;
                }
                if token_em <= max_em {
                    line.push_str(token);
                    line_em = token_em;
                    continue;
                }
                // A word longer than a line: broken between characters.
                let mut buf = [0u8; 4];
                for c in token.chars() {
                    let c_em = self.fonts.shape(c.encode_utf8(&mut buf), bold)?.width_em;
                    if !line.is_empty() && line_em + c_em > max_em {
                        out.push(self.fonts.shape(&line, bold)?);
                        line.clear();
                        line_em = 0.0;
                    }
                    line.push(c);
                    line_em += c_em;
                }
            }
            out.push(self.fonts.shape(line.trim_end(), bold)?);
        }
        // No trailing empty lines.
        while out.len() > 1 && out.last().is_some_and(Shaped::is_empty) {
            out.pop();
        }
        Ok(out)
    }

    /// Draws `lines` in a box `width` wide whose top is at `top`; returns the height used.
    pub fn put_lines(
        &mut self,
        x: f32,
        top: f32,
        width: f32,
        size: f32,
        align: Align,
        lines: Vec<Shaped>,
    ) -> f32 {
        let lh = Self::line_height(size);
        let n = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            let w = line.width(size);
            let lx = match align {
                Align::Left => x,
                Align::Right => x + width - w,
                Align::Center => x + (width - w) / 2.0,
            };
            self.text_line(lx, top + i as f32 * lh, size, line);
        }
        n as f32 * lh
    }

    /// Wrapped text at `x`, `width` wide, at the current position, without moving it; returns
    /// the height used. For blocks that are known to fit (headers).
    pub fn text_at(
        &mut self,
        x: f32,
        top: f32,
        width: f32,
        text: &str,
        style: Style,
    ) -> Result<f32, PdfError> {
        let lines = self.wrap(text, style.size, style.bold, width)?;
        Ok(self.put_lines(x, top, width, style.size, style.align, lines))
    }

    /// A wrapped paragraph across the content width that flows onto further pages.
    pub fn paragraph(&mut self, text: &str, size: f32, bold: bool) -> Result<(), PdfError> {
        let lines = self.wrap(text, size, bold, self.content_width())?;
        let lh = Self::line_height(size);
        for line in lines {
            self.ensure(lh)?;
            let (x, y, w) = (self.left, self.y, self.content_width());
            self.put_lines(x, y, w, size, Align::Left, vec![line]);
            self.y += lh;
        }
        Ok(())
    }

    /// The table's header row at the current position.
    pub fn table_header(&mut self, table: &Table) -> Result<(), PdfError> {
        let cells = self.header_cells(table)?;
        let h = row_height(&cells, table.size);
        self.ensure(h + Self::line_height(table.size) + 2.0 * CELL_PAD)?;
        let (x, y, w) = (self.left, self.y, self.content_width());
        self.fill(x, y, w, h, 0.88);
        self.draw_row(table, cells);
        Ok(())
    }

    fn header_cells(&self, table: &Table) -> Result<Vec<Vec<Shaped>>, PdfError> {
        table
            .columns
            .iter()
            .map(|c| self.wrap(&c.title, table.size, true, c.width - 2.0 * CELL_PAD))
            .collect()
    }

    /// One row of a table: each cell wrapped to its column; on the next page (under the header
    /// again) when it does not fit on this one. A row taller than a whole page is cut to one
    /// page's worth, its last line ending in `…`.
    pub fn table_row(
        &mut self,
        table: &Table,
        cells: &[String],
        bold: bool,
    ) -> Result<(), PdfError> {
        let mut wrapped: Vec<Vec<Shaped>> = Vec::with_capacity(table.columns.len());
        for (column, text) in table.columns.iter().zip(cells) {
            wrapped.push(self.wrap(text, table.size, bold, column.width - 2.0 * CELL_PAD)?);
        }
        // What a fresh page holds under the running head and the header row.
        let lh = Self::line_height(table.size);
        let head = if self.running_head.is_some() {
            RUNNING_HEAD_HEIGHT
        } else {
            0.0
        };
        let header = row_height(&self.header_cells(table)?, table.size);
        let fresh = self.bottom - self.top - head - header - 2.0 * CELL_PAD;
        let max_lines = ((fresh / lh).floor() as usize).max(1);
        for (column, lines) in table.columns.iter().zip(wrapped.iter_mut()) {
            if lines.len() > max_lines {
                lines.truncate(max_lines);
                let width = column.width - 2.0 * CELL_PAD;
                if let Some(last) = lines.pop() {
                    lines.push(self.ellipsize(&last, table.size, width)?);
                }
            }
        }
        let h = row_height(&wrapped, table.size);
        if self.y + h > self.bottom {
            self.new_page()?;
            self.table_header(table)?;
        }
        self.draw_row(table, wrapped);
        Ok(())
    }

    fn draw_row(&mut self, table: &Table, cells: Vec<Vec<Shaped>>) {
        let h = row_height(&cells, table.size);
        let top = self.y;
        let mut x = self.left;
        for (column, lines) in table.columns.iter().zip(cells) {
            let w = column.width - 2.0 * CELL_PAD;
            self.put_lines(
                x + CELL_PAD,
                top + CELL_PAD,
                w,
                table.size,
                column.align,
                lines,
            );
            x += column.width;
        }
        self.y += h;
        let y = self.y;
        let (left, right) = (self.left, self.right);
        self.line(left, y, right, y, 0.3);
    }

    /// `line` with `…` at its end, shortened to fit `width`.
    fn ellipsize(&self, line: &Shaped, size: f32, width: f32) -> Result<Shaped, PdfError> {
        let mut text: String = line.runs.iter().map(|r| r.text.as_str()).collect();
        loop {
            let candidate = self.fonts.shape(&format!("{text}…"), line.bold)?;
            if candidate.width(size) <= width || text.is_empty() {
                return Ok(candidate);
            }
            text.pop();
        }
    }
}

fn row_height(cells: &[Vec<Shaped>], size: f32) -> f32 {
    let n = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
    n as f32 * Sheet::line_height(size) + 2.0 * CELL_PAD
}

/// Punctuation a line does not start with: it stays with the character before it.
const NO_LINE_START: &str = "，。、；：！？）」』》〉】〕…,.;:!?)]}%";

/// Where a line may break: a run of spaces, a Chinese character (each its own token), or a
/// word (anything else up to the next space or Chinese character); closing punctuation
/// stays with what it follows.
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut kind = 0u8; // 0: none yet, 1: word, 2: spaces, 3: a Chinese character
    for (i, c) in text.char_indices() {
        if kind != 2 && NO_LINE_START.contains(c) {
            continue;
        }
        let k = if c == ' ' {
            2
        } else if is_cjk(c) {
            3
        } else {
            1
        };
        if i > start && kind != 0 && (k != kind || k == 3) {
            out.push(&text[start..i]);
            start = i;
        }
        kind = k;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Adds the footers (left: what the document is; right: the page number) and writes the PDF.
pub(super) fn render(
    sheet: Sheet<'_>,
    title: &str,
    lang: &str,
    footer_left: &str,
    page_label: impl Fn(usize, usize) -> String,
) -> Result<Vec<u8>, PdfError> {
    let fonts = sheet.fonts;
    let (width, height) = (sheet.width, sheet.height);
    let n = sheet.pages.len();
    let footer_y = height - sheet.top * 0.6;
    let left_footer = fonts.shape(footer_left, false)?;
    let mut pages = sheet.pages;
    for (i, page) in pages.iter_mut().enumerate() {
        let label = fonts.shape(&page_label(i + 1, n), false)?;
        let size = 8.0;
        page.ops.push(Op::Text {
            x: sheet.right - label.width(size),
            y: footer_y,
            size,
            shaped: label,
        });
        if !left_footer.is_empty() {
            page.ops.push(Op::Text {
                x: sheet.left,
                y: footer_y,
                size,
                shaped: left_footer.clone(),
            });
        }
    }
    write_pdf(fonts, &pages, (width, height), title, lang)
}

/// The pages as a PDF.
pub(super) fn write_pdf(
    fonts: &Fonts,
    pages: &[Page],
    (width, height): (f32, f32),
    title: &str,
    lang: &str,
) -> Result<Vec<u8>, PdfError> {
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(title.to_owned())
            .language(lang.to_owned())
            .creator("MES central".to_owned()),
    );
    let settings = PageSettings::from_wh(width, height)
        .ok_or_else(|| PdfError::Render(format!("bad page size {width}x{height}")))?;
    for page in pages {
        let mut pdf_page = document.start_page_with(settings.clone());
        let mut surface = pdf_page.surface();
        for op in &page.ops {
            match op {
                Op::Text { x, y, size, shaped } => {
                    let mut x = *x;
                    for run in &shaped.runs {
                        let Some(font) = fonts.font(run.face) else {
                            continue;
                        };
                        surface.set_fill(Some(Fill::default()));
                        // CJK has no bold face: filled and stroked instead.
                        let fake_bold = shaped.bold && run.face == FaceKind::Cjk;
                        surface.set_stroke(fake_bold.then(|| Stroke {
                            width: size * 0.035,
                            ..Stroke::default()
                        }));
                        surface.draw_glyphs(
                            Point::from_xy(x, *y),
                            run.glyphs.as_slice(),
                            font.clone(),
                            &run.text,
                            *size,
                            false,
                        );
                        x += run.width_em * size;
                    }
                    surface.set_stroke(None);
                }
                Op::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    width,
                } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(path) = pb.finish() {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke {
                            width: *width,
                            ..Stroke::default()
                        }));
                        surface.draw_path(&path);
                        surface.set_stroke(None);
                    }
                }
                Op::Fill { x, y, w, h, gray } => {
                    let mut pb = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(rect);
                    }
                    if let Some(path) = pb.finish() {
                        let g = (gray.clamp(0.0, 1.0) * 255.0).round() as u8;
                        surface.set_stroke(None);
                        surface.set_fill(Some(Fill {
                            paint: rgb::Color::new(g, g, g).into(),
                            opacity: NormalizedF32::ONE,
                            ..Fill::default()
                        }));
                        surface.draw_path(&path);
                    }
                }
            }
        }
        surface.finish();
        pdf_page.finish();
    }
    document
        .finish()
        .map_err(|e| PdfError::Render(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::tokens;

    #[test]
    fn tokens_break_at_spaces_and_between_chinese_characters() {
        assert_eq!(tokens("ab  cd"), vec!["ab", "  ", "cd"]);
        assert_eq!(tokens("报价单A1"), vec!["报", "价", "单", "A1"]);
        assert_eq!(tokens("报价，单。"), vec!["报", "价，", "单。"]);
        assert_eq!(tokens("a, b"), vec!["a,", " ", "b"]);
        assert_eq!(tokens("，a"), vec!["，a"]);
        assert_eq!(tokens(""), Vec::<&str>::new());
    }
}
