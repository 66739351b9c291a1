//! The fonts documents are written in, and text turned into glyphs with them.
//!
//! Latin text is set in Liberation Sans (regular and bold, OFL, vendored under
//! `central/assets/fonts/`, 0.8 MB). Chinese needs a CJK font of several megabytes, which is
//! not built into the binary: it is read from the configured file (`[documents] cjk_font`) or
//! found once in the usual system places ([`SYSTEM_CJK_FONTS`]). Each character takes the first
//! font that has it (Latin, then CJK), so an English quotation to a Chinese customer prints the
//! customer's name; a character no font has (an emoji) prints as `?`; a Chinese character with
//! no CJK font refuses the document ([`PdfError::NoCjkFont`]) rather than print it as `?`.
//!
//! There is no shaping (no kerning, ligatures or right-to-left reordering): each character is
//! one glyph with its advance, which is what Latin and Chinese business documents need, and
//! what is measured is exactly what is drawn, so a wrapped or right-aligned text never leaves
//! its cell. Bold CJK, which has no bold face here, is drawn filled and stroked.

use super::PdfError;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::raw::TableProvider as _;
use skrifa::{FontRef, MetadataProvider, instance::LocationRef, instance::Size};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

static LATIN_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/LiberationSans-Regular.ttf");
static LATIN_BOLD: &[u8] = include_bytes!("../../../assets/fonts/LiberationSans-Bold.ttf");

/// Where a CJK font is looked for when none is configured, in this order (Debian and Ubuntu
/// package paths first: `fonts-noto-cjk`, `fonts-wqy-zenhei`, `fonts-wqy-microhei`, then
/// Fedora, Arch, macOS and Windows).
pub const SYSTEM_CJK_FONTS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/wenquanyi/wqy-zenhei/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "C:\\Windows\\Fonts\\msyh.ttc",
    "C:\\Windows\\Fonts\\simsun.ttc",
];

/// A font file larger than this is refused (the largest CJK collections are about 30 MB).
pub const MAX_FONT_BYTES: u64 = 128 * 1024 * 1024;

/// What to do when asked for a CJK font.
const INSTALL_HINT: &str = "install a CJK font (apt-get install fonts-noto-cjk or fonts-wqy-zenhei) or set [documents] cjk_font = \"PATH\" to a .ttf, .otf or .ttc with Chinese glyphs";

/// Where the CJK font comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FontSource {
    /// The first of [`SYSTEM_CJK_FONTS`] that exists and has Chinese glyphs; none found is not
    /// an error until a document needs one.
    #[default]
    System,
    /// This file (`[documents] cjk_font`): a font that cannot be read or has no Chinese glyphs
    /// is an error at once. In a collection (`.ttc`), `index` picks the face; `None` takes the
    /// Simplified Chinese face of a Noto CJK collection, else the first.
    File { path: PathBuf, index: Option<u32> },
    /// No CJK font: documents with Chinese text are refused.
    None,
}

/// The fonts documents are set in: cheap to clone, made once (central keeps one in its state).
#[derive(Clone)]
pub struct Fonts {
    inner: Arc<Inner>,
}

struct Inner {
    regular: Face,
    bold: Face,
    /// The CJK face, or why there is none (a sentence naming what to do).
    cjk: Result<Face, String>,
}

impl std::fmt::Debug for Fonts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fonts")
            .field("cjk", &self.cjk_font())
            .finish()
    }
}

/// One face of a font file, for krilla (drawing, subsetting) and skrifa (measuring).
struct Face {
    font: Font,
    bytes: Bytes,
    index: u32,
    units_per_em: f32,
    path: Option<PathBuf>,
}

#[derive(Clone)]
enum Bytes {
    Static(&'static [u8]),
    Owned(Arc<Vec<u8>>),
}

impl Bytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Static(b) => b,
            Bytes::Owned(b) => b.as_slice(),
        }
    }
}

impl Face {
    fn new(bytes: Bytes, index: u32, path: Option<PathBuf>) -> Result<Face, String> {
        let font_ref = FontRef::from_index(bytes.as_slice(), index)
            .map_err(|e| format!("not a font (face {index}): {e}"))?;
        let units_per_em = f32::from(
            font_ref
                .head()
                .map_err(|e| format!("no head table: {e}"))?
                .units_per_em(),
        );
        if !(16.0..=16384.0).contains(&units_per_em) {
            return Err(format!("units per em out of range: {units_per_em}"));
        }
        let data: krilla::Data = match &bytes {
            Bytes::Static(b) => (*b).into(),
            Bytes::Owned(b) => b.clone().into(),
        };
        let font =
            Font::new(data, index).ok_or_else(|| format!("krilla cannot read face {index}"))?;
        Ok(Face {
            font,
            bytes,
            index,
            units_per_em,
            path,
        })
    }

    fn font_ref(&self) -> Option<FontRef<'_>> {
        FontRef::from_index(self.bytes.as_slice(), self.index).ok()
    }
}

/// Which face a run of glyphs is drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FaceKind {
    Regular,
    Bold,
    Cjk,
}

/// A run of characters in one face, ready to draw.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub face: FaceKind,
    /// The characters the glyphs stand for (what text extraction gives back).
    pub text: String,
    pub glyphs: Vec<KrillaGlyph>,
    /// Sum of advances, in ems.
    pub width_em: f32,
}

/// One line of text turned into glyphs.
#[derive(Debug, Clone, Default)]
pub(super) struct Shaped {
    pub runs: Vec<Run>,
    pub width_em: f32,
    pub bold: bool,
}

impl Shaped {
    pub fn width(&self, size: f32) -> f32 {
        self.width_em * size
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// Characters that are dropped before anything is drawn: controls, bidirectional marks and
/// overrides, zero-width characters, variation selectors, the byte-order mark. They have no
/// glyph of their own, and without bidi reordering an override would only confuse.
pub(super) fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}')
}

/// Whether `c` is Chinese (or Japanese, Korean) writing, which only a CJK font can show.
pub(super) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{11FF}'
        | '\u{2E80}'..='\u{2FDF}'
        | '\u{3000}'..='\u{33FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{A960}'..='\u{A97F}'
        | '\u{AC00}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF00}'..='\u{FFEF}'
        | '\u{20000}'..='\u{3FFFF}')
}

/// A face's character map and advances, looked up once per text.
struct Lookup<'a> {
    kind: FaceKind,
    charmap: skrifa::charmap::Charmap<'a>,
    metrics: skrifa::metrics::GlyphMetrics<'a>,
    units_per_em: f32,
}

impl<'a> Lookup<'a> {
    fn new(kind: FaceKind, face: &'a Face) -> Option<Lookup<'a>> {
        let font_ref = face.font_ref()?;
        Some(Lookup {
            kind,
            charmap: font_ref.charmap(),
            metrics: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            units_per_em: face.units_per_em,
        })
    }

    /// The glyph and its advance in ems, if the face has `c`.
    fn glyph(&self, c: char) -> Option<(GlyphId, f32)> {
        let gid = self.charmap.map(c)?;
        if gid.to_u32() == 0 {
            return None;
        }
        let advance = self.metrics.advance_width(gid).unwrap_or(0.0) / self.units_per_em;
        let advance = if advance.is_finite() {
            advance.clamp(0.0, 4.0)
        } else {
            0.0
        };
        Some((GlyphId::new(gid.to_u32()), advance))
    }
}

impl Fonts {
    /// The vendored Latin fonts and a CJK font from `source`.
    pub fn load(source: &FontSource) -> Result<Fonts, PdfError> {
        let cjk = match source {
            FontSource::System => system_cjk(),
            FontSource::File { path, index } => {
                Ok(load_cjk(path, *index).map_err(|reason| PdfError::FontFile {
                    path: path.clone(),
                    reason,
                })?)
            }
            FontSource::None => Err(format!("no CJK font is configured: {INSTALL_HINT}")),
        };
        Ok(Fonts::with_cjk(cjk))
    }

    /// The fonts with the system's CJK font, looked for once per process and then shared.
    pub fn system() -> Fonts {
        static SYSTEM: OnceLock<Fonts> = OnceLock::new();
        SYSTEM.get_or_init(|| Fonts::with_cjk(system_cjk())).clone()
    }

    /// Only the vendored Latin fonts: documents with Chinese text are refused.
    pub fn latin_only() -> Fonts {
        Fonts::with_cjk(Err(format!("no CJK font is configured: {INSTALL_HINT}")))
    }

    fn with_cjk(cjk: Result<Face, String>) -> Fonts {
        // The vendored fonts are checked by a test; failing here is a broken build.
        let regular = Face::new(Bytes::Static(LATIN_REGULAR), 0, None)
            .unwrap_or_else(|e| unreachable!("vendored Liberation Sans Regular: {e}"));
        let bold = Face::new(Bytes::Static(LATIN_BOLD), 0, None)
            .unwrap_or_else(|e| unreachable!("vendored Liberation Sans Bold: {e}"));
        Fonts {
            inner: Arc::new(Inner { regular, bold, cjk }),
        }
    }

    /// Whether documents with Chinese text can be made.
    pub fn has_cjk(&self) -> bool {
        self.inner.cjk.is_ok()
    }

    /// The CJK font file and face in use, or why there is none.
    pub fn cjk_font(&self) -> Result<(Option<&Path>, u32), &str> {
        match &self.inner.cjk {
            Ok(face) => Ok((face.path.as_deref(), face.index)),
            Err(why) => Err(why),
        }
    }

    pub(super) fn font(&self, kind: FaceKind) -> Option<&Font> {
        match kind {
            FaceKind::Regular => Some(&self.inner.regular.font),
            FaceKind::Bold => Some(&self.inner.bold.font),
            FaceKind::Cjk => self.inner.cjk.as_ref().ok().map(|f| &f.font),
        }
    }

    /// Refuses with [`PdfError::NoCjkFont`] when there is no CJK font.
    pub(super) fn require_cjk(&self) -> Result<(), PdfError> {
        match &self.inner.cjk {
            Ok(_) => Ok(()),
            Err(why) => Err(PdfError::NoCjkFont(why.clone())),
        }
    }

    /// `text` (one line: newlines and other controls are dropped) as glyph runs.
    pub(super) fn shape(&self, text: &str, bold: bool) -> Result<Shaped, PdfError> {
        let latin_face = if bold {
            (&self.inner.bold, FaceKind::Bold)
        } else {
            (&self.inner.regular, FaceKind::Regular)
        };
        let latin = Lookup::new(latin_face.1, latin_face.0);
        let cjk = self
            .inner
            .cjk
            .as_ref()
            .ok()
            .and_then(|f| Lookup::new(FaceKind::Cjk, f));
        let mut shaped = Shaped {
            bold,
            ..Shaped::default()
        };
        for c in text.chars() {
            if is_invisible(c) {
                continue;
            }
            let found = latin
                .as_ref()
                .and_then(|l| l.glyph(c).map(|g| (l.kind, c, g)))
                .or_else(|| {
                    cjk.as_ref()
                        .and_then(|l| l.glyph(c).map(|g| (l.kind, c, g)))
                });
            let (kind, c, (gid, advance)) = match found {
                Some(found) => found,
                None if is_cjk(c) && cjk.is_none() => {
                    self.require_cjk()?;
                    continue;
                }
                // Neither font has it (an emoji, a rare script): a question mark instead.
                None => match latin.as_ref().and_then(|l| l.glyph('?')) {
                    Some(g) => (latin_face.1, '?', g),
                    None => continue,
                },
            };
            if shaped.runs.last().is_none_or(|r| r.face != kind) {
                shaped.runs.push(Run {
                    face: kind,
                    text: String::new(),
                    glyphs: Vec::new(),
                    width_em: 0.0,
                });
            }
            let Some(run) = shaped.runs.last_mut() else {
                continue;
            };
            let start = run.text.len();
            run.text.push(c);
            run.glyphs.push(KrillaGlyph {
                glyph_id: gid,
                text_range: start..run.text.len(),
                x_advance: advance,
                x_offset: 0.0,
                y_offset: 0.0,
                y_advance: 0.0,
                location: None,
            });
            run.width_em += advance;
            shaped.width_em += advance;
        }
        Ok(shaped)
    }
}

fn system_cjk() -> Result<Face, String> {
    for path in SYSTEM_CJK_FONTS {
        let path = Path::new(path);
        if path.is_file()
            && let Ok(face) = load_cjk(path, None)
        {
            return Ok(face);
        }
    }
    Err(format!(
        "no CJK font found (looked for {}): {INSTALL_HINT}",
        SYSTEM_CJK_FONTS.join(", ")
    ))
}

/// Reads a CJK font: it must be a font, have Chinese glyphs and be of a sane size.
fn load_cjk(path: &Path, index: Option<u32>) -> Result<Face, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_FONT_BYTES {
        return Err(format!(
            "{len} bytes, more than the {MAX_FONT_BYTES} a font may have"
        ));
    }
    let bytes = Arc::new(std::fs::read(path).map_err(|e| e.to_string())?);
    let index = match index {
        Some(index) => index,
        None => simplified_chinese_face(&bytes),
    };
    let face = Face::new(Bytes::Owned(bytes), index, Some(path.to_owned()))?;
    let has_chinese = face.font_ref().is_some_and(|f| {
        "报价单"
            .chars()
            .all(|c| f.charmap().map(c).is_some_and(|g| g.to_u32() != 0))
    });
    if !has_chinese {
        return Err(format!("face {index} has no Chinese glyphs"));
    }
    Ok(face)
}

/// In a collection, the face whose family names Simplified Chinese (Noto CJK's `… CJK SC`);
/// otherwise the first.
fn simplified_chinese_face(bytes: &[u8]) -> u32 {
    (0..64u32)
        .map_while(|i| FontRef::from_index(bytes, i).ok().map(|f| (i, f)))
        .find(|(_, f)| {
            f.localized_strings(skrifa::string::StringId::FAMILY_NAME)
                .english_or_first()
                .is_some_and(|name| name.to_string().ends_with(" SC"))
        })
        .map_or(0, |(i, _)| i)
}
