//! `mes barcode parse` and `mes label`: reading codes and making labels from the command line,
//! for plant engineers setting up scanners and printers.

use anyhow::{Context, bail};
use chrono::Datelike;
use clap::{Args, Subcommand};
use edge_agent::labels::{Barcode, Label, OutputFormat, Symbology, send_zpl};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub enum BarcodeCommand {
    /// Print what a scanned code means, as one JSON object; exit with 1 when it is rejected.
    ///
    /// CODE is what the scanner sends, symbology identifier included when the scanner sends
    /// one: `]C1010950600013435217201225`, `(01)09506000134352(10)ABC123`, `9506000134352`.
    /// Write the FNC1 separator (ASCII GS) as `<GS>` or `\x1d` if the shell cannot type it.
    Parse { code: String },
}

#[derive(Args)]
pub struct LabelArgs {
    /// code128, gs1-128, ean-13, qr, gs1-qr or gs1-datamatrix.
    #[arg(long)]
    symbology: Symbology,
    /// What to encode: text (code128, qr); 12 or 13 digits (ean-13); GS1 data in the bracketed
    /// form, `(01)09506000134352(10)ABC123` (gs1-128, gs1-qr, gs1-datamatrix).
    #[arg(long)]
    data: String,
    /// Write the label here; the extension picks the format: .png, .svg or .zpl.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also send it as ZPL to this Zebra printer: HOST or HOST:PORT (port 9100 by default).
    #[arg(long)]
    printer: Option<String>,
    /// Width of the narrowest bar (or QR or DataMatrix cell) in printer dots, 8 dots per mm.
    /// Default: 3 for linear codes, 8 for QR and DataMatrix.
    #[arg(long)]
    module: Option<u32>,
}

pub fn barcode(command: BarcodeCommand) -> anyhow::Result<()> {
    match command {
        BarcodeCommand::Parse { code } => {
            let (json, rejected) = parse_to_json(&code, chrono::Local::now().year())?;
            println!("{json}");
            if rejected {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

pub async fn label(args: LabelArgs) -> anyhow::Result<()> {
    if args.out.is_none() && args.printer.is_none() {
        bail!("say where the label goes: --out FILE (.png, .svg or .zpl), --printer HOST, or both");
    }
    let format = args
        .out
        .as_deref()
        .map(OutputFormat::from_path)
        .transpose()?;
    let year = chrono::Local::now().year();
    let barcode = Barcode::new(args.symbology, &with_gs(&args.data), year)
        .with_context(|| format!("cannot make a {} code of {:?}", args.symbology, args.data))?;
    let label = Label::single(barcode, args.module);
    if let (Some(path), Some(format)) = (&args.out, format) {
        std::fs::write(path, label.render(format)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "wrote {} ({}, {}x{} dots)",
            path.display(),
            args.symbology,
            label.width,
            label.height
        );
    }
    if let Some(printer) = &args.printer {
        send_zpl(printer, &label.to_zpl(), Duration::from_secs(10)).await?;
        println!("sent to printer {printer}");
    }
    Ok(())
}

/// The one JSON object `mes barcode parse` prints, and whether the code was rejected.
fn parse_to_json(code: &str, current_year: i32) -> anyhow::Result<(String, bool)> {
    let reading = protocol::barcode::parse(&with_gs(code), current_year);
    Ok((serde_json::to_string(&reading)?, reading.is_rejected()))
}

/// `<GS>` and `\x1d` (any case) typed on a command line stand for the ASCII GS character.
fn with_gs(s: &str) -> String {
    s.replace("<GS>", "\u{1d}")
        .replace("<gs>", "\u{1d}")
        .replace("\\x1d", "\u{1d}")
        .replace("\\x1D", "\u{1d}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_prints_one_json_object() {
        assert_eq!(
            parse_to_json("]C1010950600013435217201225", 2026).unwrap(),
            (
                r#"{"kind":"gs1","symbology":"gs1-128","elements":[{"ai":"01","value":"09506000134352"},{"ai":"17","value":"201225","date":"2020-12-25"}]}"#.to_owned(),
                false
            )
        );
        assert_eq!(
            parse_to_json("]C13103001250<GS>", 2026).unwrap().0,
            r#"{"kind":"gs1","symbology":"gs1-128","elements":[{"ai":"3103","value":"001250","decimal":"1.250"}]}"#
        );
        let (json, rejected) = parse_to_json("]E09506000134353", 2026).unwrap();
        assert!(rejected);
        assert!(
            json.starts_with(
                r#"{"kind":"rejected","reason":"GTIN (01) 09506000134353 has a wrong check digit"#
            ),
            "{json}"
        );
    }

    #[test]
    fn gs_can_be_typed() {
        assert_eq!(with_gs("]C110A<GS>21B\\x1D30"), "]C110A\u{1d}21B\u{1d}30");
    }
}
