//! Labels: barcodes and label layouts, rendered as PNG, SVG or ZPL, and ZPL sent to Zebra
//! printers.
//!
//! - [`Barcode`]: data encoded in one of the symbologies we print ([`Symbology`]): Code 128,
//!   GS1-128 (FNC1 in first position and as separator), EAN-13, QR, GS1 QR (FNC1 mode) and
//!   GS1 DataMatrix (ECC 200, FNC1 first; made with the `datamatrix` crate).
//!   GS1 data is checked by `protocol::barcode` before it is encoded, so we never print a code
//!   our own scanners would refuse; this system's label codes ([`LabelCode`]) are encoded from
//!   their format in `protocol::barcode::label_code`.
//! - [`Label`]: what goes where, in printer dots (8 per mm). [`Label::single`] is one barcode
//!   with its human-readable line; [`finished_lot_label`] the label printed when a lot or
//!   container is completed.
//! - Output: [`Label::render`] to PNG, SVG or ZPL ([`OutputFormat`]); [`send_zpl`] to a
//!   printer on TCP port 9100.
//!
//! Understanding scans is not this module's job (`protocol::barcode` does it); the test
//! `tests/it/labels.rs` closes the loop: every kind of label we print decodes back to the same
//! data with zbarimg (dmtxread for DataMatrix, which zbar does not read) and reads back through
//! `protocol::barcode::parse`.

mod barcode;
mod code128;
mod layout;
mod printer;
mod render;
mod zpl;

pub use barcode::{Barcode, GS1_128_MAX_CHARS, Modules, Symbology};
pub use layout::{
    DOTS_PER_MM, FINISHED_LOT_HEIGHT, FINISHED_LOT_WIDTH, FinishedLot, Item, Label, MAX_MODULE,
    finished_lot_label,
};
pub use printer::{PrintError, ZEBRA_RAW_PORT, send_zpl};
pub use protocol::barcode::LabelCode;
pub use render::{Raster, raster};

use std::path::Path;

/// Why a barcode or label could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The data does not fit the symbology (wrong characters, wrong digit count…).
    #[error("{0}")]
    Data(String),
    /// GS1 data that does not follow the GS1 rules.
    #[error(transparent)]
    Gs1(#[from] protocol::barcode::Gs1Error),
    /// A label code field that a GS1 barcode cannot carry.
    #[error(transparent)]
    LabelCode(#[from] protocol::barcode::LabelCodeError),
    /// More data than the symbol or the label holds.
    #[error("too long: {0}")]
    TooLong(String),
    #[error("cannot render the label: {0}")]
    Render(String),
}

/// The file formats a label is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Svg,
    Zpl,
}

impl OutputFormat {
    /// The format a file name's extension asks for (`label.png`, `label.SVG`, `job.zpl`).
    pub fn from_path(path: &Path) -> Result<OutputFormat, LabelError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(OutputFormat::Png),
            Some("svg") => Ok(OutputFormat::Svg),
            Some("zpl") => Ok(OutputFormat::Zpl),
            _ => Err(LabelError::Data(format!(
                "cannot tell the label format from {}: name it .png, .svg or .zpl",
                path.display()
            ))),
        }
    }
}

impl Label {
    /// The label in `format`, as the bytes of a file.
    pub fn render(&self, format: OutputFormat) -> Result<Vec<u8>, LabelError> {
        match format {
            OutputFormat::Png => render::png(self),
            OutputFormat::Svg => Ok(render::svg(self).into_bytes()),
            OutputFormat::Zpl => Ok(self.to_zpl().into_bytes()),
        }
    }

    pub fn to_png(&self) -> Result<Vec<u8>, LabelError> {
        render::png(self)
    }

    pub fn to_svg(&self) -> String {
        render::svg(self)
    }

    pub fn to_zpl(&self) -> String {
        zpl::zpl(self)
    }
}

#[cfg(test)]
mod tests;
