//! Spreadsheets in and out: departments keep their lists in Excel.
//!
//! * [`read_table`] reads an uploaded `.xlsx` (first visible worksheet) or CSV file into a
//!   [`Table`] of text cells: a header row and the data rows, each with the row number the user
//!   sees in Excel, so an import can report "row 17: invalid subject code".
//! * [`column_index`] finds a column by any of its accepted header names.
//! * [`write_xlsx`] and [`write_csv`] produce downloads (exports, import templates, error
//!   reports); [`write_report`] produces report workbooks for people (typed cells, title
//!   block, totals row).
//!
//! Reading and [`write_xlsx`] are all text: cells are read as the text Excel shows (no numbers,
//! no dates as floats) and written as text cells, so an 18-character code is never turned into a
//! number. [`write_report`] types its cells (numbers, percentages, dates) and keeps code-like
//! values as text.
//! `docs/pii-and-spreadsheets.md` describes the accepted formats for users and operators.

use std::borrow::Cow;

use calamine::{Data, Reader, SheetType, SheetVisible, Xlsx};

/// Largest upload (bytes), before anything is unpacked.
pub const MAX_UPLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Most data rows (after the header, blank rows not counted) a file may have.
pub const MAX_ROWS: usize = 200_000;
/// Most data rows of a streamed import ([`RowStream`]), which holds no table.
pub const MAX_STREAMED_ROWS: usize = 1_000_000;
/// Most columns a file may have (trailing empty columns not counted).
pub const MAX_COLUMNS: usize = 100;

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// Compound File Binary: legacy `.xls` (Excel 97–2003), also what WPS writes as "xls".
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Uploads read at once ([`crate::config::Settings::upload_max_concurrent`]): a semaphore taken
/// before the body is read and held until the import is done, so that memory for uploads is
/// bounded by the number of slots times the budget of one. When every slot is taken the request
/// is answered at once with 503 `too_many_uploads` and `Retry-After`, never queued.
#[derive(Clone)]
pub struct UploadGate {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    size: usize,
}

/// One upload slot, released when dropped.
pub struct UploadSlot(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// Seconds a client is asked to wait when every upload slot is taken.
pub const UPLOAD_RETRY_AFTER_SECS: u64 = 5;

impl UploadGate {
    pub fn new(slots: usize) -> Self {
        UploadGate {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            size: slots.max(1),
        }
    }

    /// Slots taken now (uploads being read or imported), for `/metrics`.
    pub fn in_use(&self) -> usize {
        self.size - self.slots.available_permits()
    }

    /// How many slots there are.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A free slot, or 503 `too_many_uploads`.
    pub fn enter(&self) -> Result<UploadSlot, crate::error::ApiError> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map(UploadSlot)
            .map_err(|_| crate::error::ApiError::Busy {
                code: "too_many_uploads",
                detail: "other uploads are being read; retry shortly".into(),
                retry_after_secs: UPLOAD_RETRY_AFTER_SECS,
            })
    }
}

/// A sheet read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The first non-blank row, trimmed. As long as every row.
    pub headers: Vec<String>,
    /// Non-blank rows after the header, in file order. May be empty.
    pub rows: Vec<TableRow>,
}

/// One data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// 1-based row number as the user sees it in Excel (the header is normally row 1). Blank
    /// rows are skipped but still counted: after a blank row 3 comes row 4. In a CSV file a
    /// quoted value spanning several lines is one row, as Excel shows it.
    pub number: usize,
    /// Trimmed cell texts, exactly `headers.len()` of them (short rows are padded with "").
    pub cells: Vec<String>,
}

impl TableRow {
    /// The cell in column `index`, or "" when there is no such column.
    pub fn cell(&self, index: usize) -> &str {
        self.cells.get(index).map(String::as_str).unwrap_or("")
    }
}

/// The two accepted upload formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xlsx,
    Csv,
}

impl Format {
    /// Decides how to read an upload. The content wins over what the client claims: a zip
    /// file (`PK\x03\x04`) is read as xlsx, and so is a legacy `.xls` file (so that reading it
    /// fails with a message saying to save it as `.xlsx`). Otherwise the file name's extension
    /// (`.xlsx`, `.xlsm` → xlsx), then the content type (`…spreadsheetml…`, `…ms-excel…` →
    /// xlsx), decide; anything else is read as CSV.
    pub fn detect(filename: Option<&str>, content_type: Option<&str>, bytes: &[u8]) -> Format {
        if bytes.starts_with(ZIP_MAGIC) || bytes.starts_with(OLE_MAGIC) {
            return Format::Xlsx;
        }
        if let Some(name) = filename {
            let lower = name.trim().to_ascii_lowercase();
            if lower.ends_with(".xlsx") || lower.ends_with(".xlsm") || lower.ends_with(".xls") {
                return Format::Xlsx;
            }
            if lower.ends_with(".csv") || lower.ends_with(".txt") {
                return Format::Csv;
            }
        }
        if let Some(ct) = content_type {
            let ct = ct.to_ascii_lowercase();
            if ct.contains("spreadsheetml") || ct.contains("ms-excel") {
                return Format::Xlsx;
            }
        }
        Format::Csv
    }
}

/// Why a file could not be read or written. Messages are for end users (English, no file
/// content except row numbers); [`TabularError::code`] is stable for API problem codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TabularError {
    /// Not a readable xlsx or CSV file.
    #[error("the file cannot be read: {0}")]
    Unreadable(String),
    /// No non-blank row at all (not even a header).
    #[error("the file is empty: it has no header row")]
    Empty,
    #[error("the file has more than {limit} data rows; split it into smaller files")]
    TooManyRows { limit: usize },
    #[error("row {row} has a value in column {column}; at most {limit} columns are accepted")]
    TooManyColumns {
        row: usize,
        column: usize,
        limit: usize,
    },
    /// A CSV file that is neither UTF-8 nor GB18030.
    #[error(
        "the CSV file is not in a known text encoding: save it as UTF-8 (\"CSV UTF-8\" in Excel) \
         or GB18030/GBK"
    )]
    BadEncoding,
    /// Writing a spreadsheet failed (e.g. a cell longer than Excel's 32,767 characters).
    #[error("cannot write the spreadsheet: {0}")]
    Write(String),
    /// The xlsx file's parts unpack to more than [`Limits::max_unpacked_bytes`].
    #[error("the file unpacks to more than {limit} bytes; split it into smaller files")]
    UnpackedTooLarge { limit: u64 },
    /// One part held in memory unpacks to more than [`Limits::max_part_bytes`].
    #[error("the part {part} of the file unpacks to more than {limit} bytes")]
    PartTooLarge { part: String, limit: u64 },
    /// More zip entries than [`Limits::max_zip_entries`].
    #[error("the file has more than {limit} parts; it is not a spreadsheet this service reads")]
    TooManyParts { limit: usize },
    /// An XML tag or text node longer than [`Limits::max_xml_token_bytes`].
    #[error("the part {part} has an XML tag or text of more than {limit} bytes")]
    TokenTooLong { part: String, limit: usize },
    /// More shared strings than [`Limits::max_shared_strings`].
    #[error("the file has more than {limit} shared strings")]
    TooManySharedStrings { limit: usize },
    /// A cell longer than [`Limits::max_cell_chars`].
    #[error("row {row}, column {column}: the cell has more than {limit} characters")]
    CellTooLong {
        row: usize,
        column: usize,
        limit: usize,
    },
    /// A row of more than [`Limits::max_row_bytes`] bytes (in a CSV file, often a quote that is
    /// never closed).
    #[error("row {row}: the row has more than {limit} bytes")]
    RowTooLarge { row: usize, limit: usize },
    /// More text than [`Limits::max_text_bytes`] in all cells together.
    #[error("the cells hold more than {limit} bytes of text; split the file")]
    TooMuchText { limit: usize },
    /// More cells than [`Limits::max_cells`] (data rows times columns).
    #[error(
        "the table has {rows} rows of {columns} columns, more than {limit} cells; split the file"
    )]
    TooManyCells {
        rows: usize,
        columns: usize,
        limit: usize,
    },
}

impl TabularError {
    /// Stable machine-readable code: `unreadable_file`, `empty_file`, `too_many_rows`,
    /// `too_many_columns`, `bad_encoding`, `write_failed`, or one of the budget codes
    /// `unpacked_too_large`, `part_too_large`, `too_many_parts`, `xml_token_too_long`,
    /// `too_many_shared_strings`, `cell_too_long`, `row_too_large`, `too_much_text`,
    /// `too_many_cells`.
    pub fn code(&self) -> &'static str {
        match self {
            TabularError::Unreadable(_) => "unreadable_file",
            TabularError::Empty => "empty_file",
            TabularError::TooManyRows { .. } => "too_many_rows",
            TabularError::TooManyColumns { .. } => "too_many_columns",
            TabularError::BadEncoding => "bad_encoding",
            TabularError::Write(_) => "write_failed",
            TabularError::UnpackedTooLarge { .. } => "unpacked_too_large",
            TabularError::PartTooLarge { .. } => "part_too_large",
            TabularError::TooManyParts { .. } => "too_many_parts",
            TabularError::TokenTooLong { .. } => "xml_token_too_long",
            TabularError::TooManySharedStrings { .. } => "too_many_shared_strings",
            TabularError::CellTooLong { .. } => "cell_too_long",
            TabularError::RowTooLarge { .. } => "row_too_large",
            TabularError::TooMuchText { .. } => "too_much_text",
            TabularError::TooManyCells { .. } => "too_many_cells",
        }
    }

    /// The limit a file went over, for errors that have one.
    pub fn limit(&self) -> Option<u64> {
        match self {
            TabularError::TooManyRows { limit }
            | TabularError::TooManyColumns { limit, .. }
            | TabularError::TooManyParts { limit }
            | TabularError::TokenTooLong { limit, .. }
            | TabularError::TooManySharedStrings { limit }
            | TabularError::CellTooLong { limit, .. }
            | TabularError::RowTooLarge { limit, .. }
            | TabularError::TooMuchText { limit }
            | TabularError::TooManyCells { limit, .. } => Some(*limit as u64),
            TabularError::UnpackedTooLarge { limit } | TabularError::PartTooLarge { limit, .. } => {
                Some(*limit)
            }
            TabularError::Unreadable(_)
            | TabularError::Empty
            | TabularError::BadEncoding
            | TabularError::Write(_) => None,
        }
    }

    /// True when the file is over a size budget once unpacked (answered with 413, like an
    /// upload over the byte limit); the other errors are about what the file says.
    pub fn too_large(&self) -> bool {
        matches!(
            self,
            TabularError::UnpackedTooLarge { .. }
                | TabularError::PartTooLarge { .. }
                | TabularError::TooManyParts { .. }
                | TabularError::TokenTooLong { .. }
                | TabularError::TooManySharedStrings { .. }
                | TabularError::TooMuchText { .. }
        )
    }
}

/// The budget one upload is read within (`docs/security.md`, "Uploads"). Every limit is
/// checked before the memory it guards is spent: a spreadsheet's parts are measured while they
/// are unpacked (a declared size can lie), its cells are read one at a time and kept sparse, and
/// the table is only made dense once its size is known to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Data rows (blank rows not counted).
    pub max_rows: usize,
    /// Columns up to the last non-empty one.
    pub max_columns: usize,
    /// Cells of the finished table: data rows times columns.
    pub max_cells: usize,
    /// Characters in one cell (Excel's own limit is 32,767).
    pub max_cell_chars: usize,
    /// Bytes of one row's text (a CSV row is read whole before it is split).
    pub max_row_bytes: usize,
    /// Bytes of text in all cells together (tables held in memory).
    pub max_text_bytes: usize,
    /// Bytes of all of an xlsx file's parts together, unpacked.
    pub max_unpacked_bytes: u64,
    /// Bytes of one part that is held in memory while reading (the shared strings, styles,
    /// workbook); worksheets are streamed and only count towards `max_unpacked_bytes`.
    pub max_part_bytes: u64,
    /// Entries in an xlsx file's zip directory.
    pub max_zip_entries: usize,
    /// Bytes of one XML tag or text node (the XML reader holds one at a time).
    pub max_xml_token_bytes: usize,
    /// Strings in the shared-strings part.
    pub max_shared_strings: usize,
}

/// Most cells of a table ([`Limits::max_cells`]).
pub const MAX_CELLS: usize = 2_000_000;
/// Most characters in one cell: Excel's own limit.
pub const MAX_CELL_CHARS: usize = 32_767;
/// Most bytes of one row.
pub const MAX_ROW_BYTES: usize = 1 << 20;
/// Most bytes of text in a table held in memory.
pub const MAX_TEXT_BYTES: usize = 48 << 20;
/// Most bytes of an xlsx file's parts together, unpacked.
pub const MAX_UNPACKED_BYTES: u64 = 256 << 20;
/// Most bytes of one xlsx part held in memory.
pub const MAX_PART_BYTES: u64 = 32 << 20;
/// Most entries in an xlsx file's zip directory.
pub const MAX_ZIP_ENTRIES: usize = 10_000;
/// Most bytes of one XML tag or text node.
pub const MAX_XML_TOKEN_BYTES: usize = 1 << 20;
/// Most shared strings.
pub const MAX_SHARED_STRINGS: usize = 1_000_000;

impl Default for Limits {
    /// The `MAX_*` constants of this module.
    fn default() -> Self {
        Limits {
            max_rows: MAX_ROWS,
            max_columns: MAX_COLUMNS,
            max_cells: MAX_CELLS,
            max_cell_chars: MAX_CELL_CHARS,
            max_row_bytes: MAX_ROW_BYTES,
            max_text_bytes: MAX_TEXT_BYTES,
            max_unpacked_bytes: MAX_UNPACKED_BYTES,
            max_part_bytes: MAX_PART_BYTES,
            max_zip_entries: MAX_ZIP_ENTRIES,
            max_xml_token_bytes: MAX_XML_TOKEN_BYTES,
            max_shared_strings: MAX_SHARED_STRINGS,
        }
    }
}

/// Reads a whole upload with the default [`Limits`].
///
/// The header is the first non-blank row; later blank rows (every cell empty after trimming)
/// are skipped. Cells and headers are trimmed; trailing empty columns are dropped and short
/// rows padded, so every row has `headers.len()` cells.
///
/// The table is held in memory: its size is bounded by the text and cell budgets. Large
/// imports read a [`RowStream`] instead.
pub fn read_table(bytes: &[u8], format: Format) -> Result<Table, TabularError> {
    read_table_with_limits(bytes, format, Limits::default())
}

/// [`read_table`] with other limits.
pub fn read_table_with_limits(
    bytes: &[u8],
    format: Format,
    limits: Limits,
) -> Result<Table, TabularError> {
    if bytes.is_empty() {
        return Err(TabularError::Empty);
    }
    let mut builder = Builder::new(limits);
    scan(
        std::io::Cursor::new(bytes),
        format,
        &limits,
        &mut |number, cells| {
            builder.push(number, cells)?;
            Ok(true)
        },
    )?;
    builder.finish()
}

/// What [`scan`] hands on: a row's number and its trimmed cells (trailing empty ones dropped;
/// blank rows come as no cells). Answering `Ok(false)` stops the reading.
type RowSink<'a> = &'a mut dyn FnMut(usize, Vec<String>) -> Result<bool, TabularError>;

/// Reads a file's rows one at a time, in file order, within the per-row budgets (`max_columns`,
/// `max_cell_chars`, `max_row_bytes`, and for xlsx the part budgets). What is kept is up to
/// the sink.
fn scan<R: std::io::Read + std::io::Seek>(
    source: R,
    format: Format,
    limits: &Limits,
    sink: RowSink<'_>,
) -> Result<(), TabularError> {
    match format {
        Format::Xlsx => scan_xlsx(source, limits, sink),
        Format::Csv => scan_csv(source, limits, sink),
    }
}

/// Tells the header from the data rows and applies the per-row budgets.
struct RowGate {
    limits: Limits,
    header_seen: bool,
    rows: usize,
}

/// A row through the [`RowGate`].
enum Admitted {
    Blank,
    Header(Vec<String>),
    Row(TableRow),
}

impl RowGate {
    fn new(limits: Limits) -> Self {
        RowGate {
            limits,
            header_seen: false,
            rows: 0,
        }
    }

    /// `cells` are already trimmed and at most one past the last non-empty cell long.
    fn admit(&mut self, number: usize, mut cells: Vec<String>) -> Result<Admitted, TabularError> {
        let Some(last) = cells.iter().rposition(|c| !c.is_empty()) else {
            return Ok(Admitted::Blank);
        };
        if last >= self.limits.max_columns {
            return Err(TabularError::TooManyColumns {
                row: number,
                column: last + 1,
                limit: self.limits.max_columns,
            });
        }
        cells.truncate(last + 1);
        for (i, cell) in cells.iter().enumerate() {
            if cell.len() > self.limits.max_cell_chars
                && cell.chars().count() > self.limits.max_cell_chars
            {
                return Err(TabularError::CellTooLong {
                    row: number,
                    column: i + 1,
                    limit: self.limits.max_cell_chars,
                });
            }
        }
        if !self.header_seen {
            self.header_seen = true;
            return Ok(Admitted::Header(cells));
        }
        if self.rows >= self.limits.max_rows {
            return Err(TabularError::TooManyRows {
                limit: self.limits.max_rows,
            });
        }
        self.rows += 1;
        Ok(Admitted::Row(TableRow { number, cells }))
    }
}

/// Collects rows into a [`Table`], within the text and cell budgets of a table held in memory.
struct Builder {
    gate: RowGate,
    headers: Option<Vec<String>>,
    rows: Vec<TableRow>,
    width: usize,
    text_bytes: usize,
}

impl Builder {
    fn new(limits: Limits) -> Self {
        Builder {
            gate: RowGate::new(limits),
            headers: None,
            rows: Vec::new(),
            width: 0,
            text_bytes: 0,
        }
    }

    fn push(&mut self, number: usize, cells: Vec<String>) -> Result<(), TabularError> {
        let cells = match self.gate.admit(number, cells)? {
            Admitted::Blank => return Ok(()),
            Admitted::Header(cells) => {
                self.account(&cells)?;
                self.headers = Some(cells);
                return Ok(());
            }
            Admitted::Row(row) => row,
        };
        self.account(&cells.cells)?;
        self.rows.push(cells);
        Ok(())
    }

    fn account(&mut self, cells: &[String]) -> Result<(), TabularError> {
        self.text_bytes += cells.iter().map(String::len).sum::<usize>();
        if self.text_bytes > self.gate.limits.max_text_bytes {
            return Err(TabularError::TooMuchText {
                limit: self.gate.limits.max_text_bytes,
            });
        }
        self.width = self.width.max(cells.len());
        Ok(())
    }

    fn finish(self) -> Result<Table, TabularError> {
        let mut headers = self.headers.ok_or(TabularError::Empty)?;
        let width = self.width;
        // Padding every row to the widest one is where a table's size is decided.
        if self.rows.len().saturating_mul(width) > self.gate.limits.max_cells {
            return Err(TabularError::TooManyCells {
                rows: self.rows.len(),
                columns: width,
                limit: self.gate.limits.max_cells,
            });
        }
        headers.resize(width, String::new());
        let mut rows = self.rows;
        for row in &mut rows {
            row.cells.resize(width, String::new());
        }
        Ok(Table { headers, rows })
    }
}

/// A file read row by row on a thread of its own while the caller works through the rows:
/// memory holds the rows in flight (a bounded queue), never the file. The header is read when
/// the stream is opened; the data rows come in file order, each trimmed (cells past the last
/// non-empty one dropped: [`TableRow::cell`] answers "" for them). The per-row budgets and
/// `max_rows` apply; the text and cell budgets of [`read_table`] do not, as nothing
/// accumulates. Dropping the stream stops the reading.
pub struct RowStream {
    headers: Vec<String>,
    rows: std::sync::mpsc::Receiver<Result<TableRow, TabularError>>,
}

/// Rows read ahead of the caller.
const ROWS_IN_FLIGHT: usize = 1024;

impl RowStream {
    /// Starts reading `source` and waits for its header row (call it where blocking is fine).
    pub fn open<R>(source: R, format: Format, limits: Limits) -> Result<RowStream, TabularError>
    where
        R: std::io::Read + std::io::Seek + Send + 'static,
    {
        let (header_tx, header_rx) = std::sync::mpsc::sync_channel(1);
        let (tx, rows) = std::sync::mpsc::sync_channel(ROWS_IN_FLIGHT);
        std::thread::Builder::new()
            .name("spreadsheet-reader".into())
            .spawn(move || {
                let mut gate = RowGate::new(limits);
                let mut header_tx = Some(header_tx);
                let outcome = scan(source, format, &limits, &mut |number, cells| match gate
                    .admit(number, cells)?
                {
                    Admitted::Blank => Ok(true),
                    Admitted::Header(h) => {
                        Ok(header_tx.take().is_some_and(|t| t.send(Ok(h)).is_ok()))
                    }
                    Admitted::Row(row) => Ok(tx.send(Ok(row)).is_ok()),
                });
                let failure = match outcome {
                    Err(e) => Some(e),
                    Ok(()) if !gate.header_seen => Some(TabularError::Empty),
                    Ok(()) => None,
                };
                if let Some(e) = failure {
                    match header_tx.take() {
                        Some(t) => {
                            let _ = t.send(Err(e));
                        }
                        None => {
                            let _ = tx.send(Err(e));
                        }
                    }
                }
            })
            .map_err(|e| TabularError::Unreadable(format!("cannot start reading ({e})")))?;
        let headers = header_rx
            .recv()
            .unwrap_or_else(|_| Err(TabularError::Unreadable("the reading stopped".into())))?;
        Ok(RowStream { headers, rows })
    }

    /// The header row, trimmed.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }
}

impl Iterator for RowStream {
    type Item = Result<TableRow, TabularError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.recv().ok()
    }
}

fn scan_xlsx<R: std::io::Read + std::io::Seek>(
    mut source: R,
    limits: &Limits,
    sink: RowSink<'_>,
) -> Result<(), TabularError> {
    let mut magic = [0u8; 8];
    let n = read_up_to(&mut source, &mut magic)?;
    if n == 0 {
        return Err(TabularError::Empty);
    }
    if magic[..n].starts_with(OLE_MAGIC) {
        return Err(TabularError::Unreadable(
            "this is a legacy .xls (Excel 97-2003) file; open it in Excel or WPS and save it as \
             .xlsx"
                .into(),
        ));
    }
    rewind(&mut source)?;
    check_xlsx_parts(&mut source, limits)?;
    rewind(&mut source)?;
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::BufReader::new(source))
        .map_err(|e| TabularError::Unreadable(format!("not a valid .xlsx file ({e})")))?;
    let sheets = workbook.sheets_metadata().to_vec();
    let name = sheets
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
        .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet))
        .map(|s| s.name.clone())
        .ok_or(TabularError::Empty)?;
    let unreadable = |e: calamine::XlsxError| {
        TabularError::Unreadable(format!("cannot read the worksheet ({e})"))
    };
    // Cells one at a time, gathered into the row they belong to, kept sparse (the row's
    // non-empty cells): a row is as big as what it holds, never as big as the distance between
    // its first and last cell addresses. Worksheets list their rows in ascending order (ECMA-376
    // §18.3.1.73); a row that comes back after a later one is refused, not reordered.
    let mut cells = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
    let mut current: Option<u32> = None;
    let mut row_cells: Vec<(u32, String)> = Vec::new();
    let mut row_bytes = 0usize;
    let emit = |row: u32, row_cells: &mut Vec<(u32, String)>, sink: RowSink<'_>| {
        let width = row_cells
            .iter()
            .map(|(c, _)| *c as usize + 1)
            .max()
            .unwrap_or(0);
        let mut dense = vec![String::new(); width];
        for (column, text) in row_cells.drain(..) {
            dense[column as usize] = text; // a repeated address: the last one wins
        }
        sink(row as usize + 1, dense)
    };
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (row, column) = cell.get_position();
        let text = cell_text(&Data::from(cell.get_value().clone()));
        if text.is_empty() {
            continue;
        }
        let (row_number, column_number) = (row as usize + 1, column as usize + 1);
        if column as usize >= limits.max_columns {
            return Err(TabularError::TooManyColumns {
                row: row_number,
                column: column_number,
                limit: limits.max_columns,
            });
        }
        if text.len() > limits.max_cell_chars && text.chars().count() > limits.max_cell_chars {
            return Err(TabularError::CellTooLong {
                row: row_number,
                column: column_number,
                limit: limits.max_cell_chars,
            });
        }
        match current {
            Some(r) if r == row => {}
            Some(r) if row < r => {
                return Err(TabularError::Unreadable(format!(
                    "row {row_number} comes after row {}; open the file in Excel or WPS and \
                     save it again",
                    r + 1
                )))
            }
            _ => {
                if let Some(r) = current {
                    if !emit(r, &mut row_cells, sink)? {
                        return Ok(());
                    }
                }
                current = Some(row);
                row_bytes = 0;
            }
        }
        row_bytes += text.len();
        if row_bytes > limits.max_row_bytes {
            return Err(TabularError::RowTooLarge {
                row: row_number,
                limit: limits.max_row_bytes,
            });
        }
        row_cells.push((column, text));
    }
    if let Some(r) = current {
        emit(r, &mut row_cells, sink)?;
    }
    Ok(())
}

fn io_error(e: std::io::Error) -> TabularError {
    TabularError::Unreadable(format!("the upload cannot be read ({e})"))
}

fn rewind<R: std::io::Seek>(source: &mut R) -> Result<(), TabularError> {
    source
        .seek(std::io::SeekFrom::Start(0))
        .map(|_| ())
        .map_err(io_error)
}

/// Fills `buf` as far as the source goes; the bytes read.
fn read_up_to<R: std::io::Read>(source: &mut R, buf: &mut [u8]) -> Result<usize, TabularError> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    Ok(filled)
}

/// Zip directory entries (`PK\x01\x02` signatures) in the whole file, counted while streaming
/// through it in chunks.
fn count_zip_entries<R: std::io::Read>(source: &mut R) -> Result<usize, TabularError> {
    const SIGNATURE: &[u8] = b"PK\x01\x02";
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0usize; // bytes kept from the end of the previous chunk
    let mut count = 0usize;
    loop {
        let n = read_up_to(source, &mut buf[carry..])?;
        let end = carry + n;
        count += buf[..end].windows(4).filter(|w| *w == SIGNATURE).count();
        if n == 0 {
            return Ok(count);
        }
        // Keep the last three bytes: a signature may straddle two chunks (but was not counted).
        let keep = end.min(3);
        buf.copy_within(end - keep..end, 0);
        carry = keep;
    }
}

/// Unpacks every part of an xlsx file once, into a small buffer that is thrown away, before
/// calamine reads it: the parts' real sizes (not what the zip directory declares), the longest
/// XML tag or text and the number of shared strings are measured against `limits`, so that the
/// reading that follows cannot spend more memory than the budget allows. Legacy and odd XML
/// (a DOCTYPE) is refused; xlsx files have none.
fn check_xlsx_parts<R: std::io::Read + std::io::Seek>(
    source: &mut R,
    limits: &Limits,
) -> Result<(), TabularError> {
    use std::io::Read;
    // The zip reader keeps a record per directory entry: count the entries' signatures first.
    let entries = count_zip_entries(source)?;
    rewind(source)?;
    if entries > limits.max_zip_entries {
        return Err(TabularError::TooManyParts {
            limit: limits.max_zip_entries,
        });
    }
    let mut archive = zip::ZipArchive::new(&mut *source)
        .map_err(|e| TabularError::Unreadable(format!("not a valid .xlsx file ({e})")))?;
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for i in 0..archive.len() {
        let mut part = archive
            .by_index(i)
            .map_err(|e| TabularError::Unreadable(format!("not a valid .xlsx file ({e})")))?;
        let name = part
            .name()
            .map(|n| n.into_owned())
            .map_err(|e| TabularError::Unreadable(format!("not a valid .xlsx file ({e})")))?;
        let lower = name.to_ascii_lowercase();
        // Worksheets are streamed cell by cell; every other part calamine reads is held whole.
        let streamed = lower.starts_with("xl/worksheets/");
        let over_part = || {
            if streamed {
                TabularError::UnpackedTooLarge {
                    limit: limits.max_unpacked_bytes,
                }
            } else {
                TabularError::PartTooLarge {
                    part: name.clone(),
                    limit: limits.max_part_bytes,
                }
            }
        };
        let part_limit = if streamed {
            limits.max_unpacked_bytes
        } else {
            limits.max_part_bytes
        };
        if part.size() > part_limit {
            return Err(over_part());
        }
        let mut scan = (lower.ends_with(".xml") || lower.ends_with(".rels"))
            .then(|| XmlScan::new(limits.max_xml_token_bytes));
        let mut size = 0u64;
        loop {
            let n = part.read(&mut buf).map_err(|e| {
                TabularError::Unreadable(format!("the part {name} cannot be unpacked ({e})"))
            })?;
            if n == 0 {
                break;
            }
            size += n as u64;
            total += n as u64;
            if size > part_limit {
                return Err(over_part());
            }
            if total > limits.max_unpacked_bytes {
                return Err(TabularError::UnpackedTooLarge {
                    limit: limits.max_unpacked_bytes,
                });
            }
            if let Some(scan) = scan.as_mut() {
                scan.feed(&buf[..n]).map_err(|e| match e {
                    ScanError::TokenTooLong => TabularError::TokenTooLong {
                        part: name.clone(),
                        limit: limits.max_xml_token_bytes,
                    },
                    ScanError::Doctype => TabularError::Unreadable(format!(
                        "the part {name} has a DOCTYPE declaration, which .xlsx files never have"
                    )),
                })?;
            }
        }
        if scan.is_some_and(|s| s.shared_strings > limits.max_shared_strings) {
            return Err(TabularError::TooManySharedStrings {
                limit: limits.max_shared_strings,
            });
        }
    }
    Ok(())
}

#[derive(Debug)]
enum ScanError {
    TokenTooLong,
    Doctype,
}

/// Where [`XmlScan`] is in the XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScanState {
    Text,
    /// Just after `<`.
    Open,
    /// Just after `<!`.
    Bang,
    /// Inside a start or end tag; the open quote of an attribute value, if any.
    Tag {
        quote: u8,
    },
    Comment,
    Cdata,
    Instruction,
}

/// Measures XML as it streams by, the way an XML reader will read it: each tag (quoted `>`
/// included), text node, comment, CDATA section or processing instruction is one token, and no
/// token may be longer than the limit. Counts `si` elements (shared strings) on the way.
struct XmlScan {
    state: ScanState,
    len: usize,
    limit: usize,
    last: [u8; 2],
    name: [u8; 16],
    name_len: usize,
    name_done: bool,
    shared_strings: usize,
}

impl XmlScan {
    fn new(limit: usize) -> Self {
        XmlScan {
            state: ScanState::Text,
            len: 0,
            limit,
            last: [0; 2],
            name: [0; 16],
            name_len: 0,
            name_done: false,
            shared_strings: 0,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), ScanError> {
        for &b in chunk {
            self.len += 1;
            match self.state {
                ScanState::Text => {
                    if b == b'<' {
                        self.state = ScanState::Open;
                        self.len = 1;
                    }
                }
                ScanState::Open => match b {
                    b'!' => self.state = ScanState::Bang,
                    b'?' => self.state = ScanState::Instruction,
                    _ => {
                        self.state = ScanState::Tag { quote: 0 };
                        self.name_len = 0;
                        self.name_done = false;
                        self.tag_byte(b);
                    }
                },
                ScanState::Bang => match b {
                    b'-' => self.state = ScanState::Comment,
                    b'[' => self.state = ScanState::Cdata,
                    _ => return Err(ScanError::Doctype),
                },
                ScanState::Tag { quote } => self.tag_byte_in(b, quote),
                ScanState::Comment => {
                    if b == b'>' && self.last == *b"--" {
                        self.end_token();
                    }
                }
                ScanState::Cdata => {
                    if b == b'>' && self.last == *b"]]" {
                        self.end_token();
                    }
                }
                ScanState::Instruction => {
                    if b == b'>' && self.last[1] == b'?' {
                        self.end_token();
                    }
                }
            }
            self.last = [self.last[1], b];
            if self.len > self.limit {
                return Err(ScanError::TokenTooLong);
            }
        }
        Ok(())
    }

    fn end_token(&mut self) {
        self.state = ScanState::Text;
        self.len = 0;
    }

    fn tag_byte_in(&mut self, b: u8, quote: u8) {
        if quote != 0 {
            if b == quote {
                self.state = ScanState::Tag { quote: 0 };
            }
            return;
        }
        match b {
            b'"' | b'\'' => self.state = ScanState::Tag { quote: b },
            b'>' => {
                self.finish_name();
                self.end_token();
            }
            _ => self.tag_byte(b),
        }
    }

    /// Collects the element's name (up to the first space, `/` after it, or `>`).
    fn tag_byte(&mut self, b: u8) {
        if self.name_done {
            return;
        }
        if b.is_ascii_whitespace() || (b == b'/' && self.name_len > 0) {
            self.finish_name();
        } else if self.name_len < self.name.len() {
            self.name[self.name_len] = b;
            self.name_len += 1;
        } else {
            self.name_len = self.name.len() + 1; // too long to be `si`
            self.name_done = true;
        }
    }

    fn finish_name(&mut self) {
        if self.name_done {
            return;
        }
        self.name_done = true;
        let Some(name) = self.name.get(..self.name_len) else {
            return;
        };
        let local = name.rsplit(|&c| c == b':').next().unwrap_or(name);
        if local == b"si" {
            self.shared_strings += 1;
        }
    }
}

/// A cell as the text a user would type: strings as-is, whole numbers without `.0`, other
/// numbers in their shortest exact form, booleans `true`/`false`, dates `YYYY-MM-DD`,
/// date-times `YYYY-MM-DD HH:MM:SS`, times `HH:MM:SS`, errors as Excel shows them (`#N/A`).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) if dt.is_duration() => {
            let secs = (dt.as_f64() * 86_400.0).round() as i64;
            let sign = if secs < 0 { "-" } else { "" };
            let secs = secs.abs();
            format!(
                "{sign}{}:{:02}:{:02}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )
        }
        Data::DateTime(dt) => {
            let (y, mo, day, h, mi, s, _ms) = dt.to_ymd_hms_milli();
            let serial = dt.as_f64();
            if (0.0..1.0).contains(&serial) {
                format!("{h:02}:{mi:02}:{s:02}")
            } else if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{day:02}")
            } else {
                format!("{y:04}-{mo:02}-{day:02} {h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTimeIso(s) => iso_datetime_text(s.trim()),
        Data::DurationIso(s) => s.trim().to_string(),
        Data::Error(e) => e.to_string(),
    }
}

/// Rust's `Display` for `f64` is the shortest text that reads back to the same number, without
/// an exponent; whole numbers have no `.0`.
fn float_text(f: f64) -> String {
    if f == 0.0 {
        "0".into() // not "-0"
    } else {
        f.to_string()
    }
}

/// `2019-12-31T00:00:00` → `2019-12-31`; `2019-12-31T08:30:00.250` → `2019-12-31 08:30:00`.
fn iso_datetime_text(s: &str) -> String {
    let s = s.replacen('T', " ", 1);
    let s = match s.find('.') {
        Some(dot) if s[..dot].contains(':') => s[..dot].to_string(),
        _ => s,
    };
    match s.strip_suffix(" 00:00:00") {
        Some(date) => date.to_string(),
        None => s,
    }
}

/// How much of a CSV file's start decides its encoding.
const ENCODING_SNIFF_BYTES: usize = 64 * 1024;

/// A CSV file read as it streams by. The encoding is decided from its first 64 KiB: UTF-8 (with
/// or without a BOM) when they are valid UTF-8, otherwise GB18030 (a superset of GBK and
/// GB2312, what Excel on a Chinese Windows writes for "CSV"); a later byte that does not fit the
/// encoding is `bad_encoding`. Row numbers are the ones Excel shows.
fn scan_csv<R: std::io::Read>(
    mut source: R,
    limits: &Limits,
    sink: RowSink<'_>,
) -> Result<(), TabularError> {
    use std::io::Read;
    let mut head = vec![0u8; ENCODING_SNIFF_BYTES];
    let n = read_up_to(&mut source, &mut head)?;
    head.truncate(n);
    if head.is_empty() {
        return Err(TabularError::Empty);
    }
    let bom = head.starts_with(UTF8_BOM);
    let body = if bom { &head[3..] } else { &head[..] };
    let utf8 = match std::str::from_utf8(body) {
        Ok(_) => true,
        // Cut in the middle of a character by the sniffing window, not by the file.
        Err(e) => e.error_len().is_none() && n == ENCODING_SNIFF_BYTES,
    };
    let skip = if bom { 3 } else { 0 };
    let stream = std::io::Cursor::new(head).chain(source);
    let boundary = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let decoded: Box<dyn std::io::Read> = if utf8 {
        let mut s = stream;
        let mut bom_bytes = [0u8; 3];
        s.read_exact(&mut bom_bytes[..skip]).map_err(io_error)?;
        Box::new(s)
    } else {
        Box::new(Gb18030Reader::new(stream))
    };
    let tracked = LineTracker::new(decoded, boundary.clone(), limits.max_row_bytes);
    let breaks = tracked.breaks.clone();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(tracked);
    let mut record = csv::StringRecord::new();
    // Row numbers as Excel shows them: line breaks before the record's first character, minus
    // those inside quoted values of earlier records (Excel shows such a record as one row).
    // The csv crate's own line numbers do not count the empty lines it skips.
    let mut counted_to = 0u64;
    let mut line_breaks = 0usize;
    let mut embedded_newlines = 0usize;
    let mut last_number = 0usize;
    loop {
        let more = match reader.read_record(&mut record) {
            Ok(more) => more,
            Err(e) => return Err(csv_error(e, last_number + 1)),
        };
        if !more {
            break;
        }
        let start = record
            .position()
            .map(|p| p.byte())
            .unwrap_or(counted_to)
            .max(counted_to);
        let (newlines, start) = breaks.borrow_mut().count_before(start);
        line_breaks += newlines;
        counted_to = start;
        boundary.set(reader.position().byte());
        let number = (line_breaks + 1).saturating_sub(embedded_newlines).max(1);
        last_number = number;
        embedded_newlines += record
            .iter()
            .map(|f| f.matches('\n').count())
            .sum::<usize>();
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        let end = fields
            .iter()
            .rposition(|f| !f.is_empty())
            .map(|p| p + 1)
            .unwrap_or(0);
        let cells = fields[..end].iter().map(|f| f.to_string()).collect();
        if !sink(number, cells)? {
            return Ok(());
        }
    }
    Ok(())
}

/// The reading error behind a CSV error: our own (bad encoding, binary data, a row too large)
/// or the csv crate's.
fn csv_error(e: csv::Error, row: usize) -> TabularError {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => return TabularError::BadEncoding,
        csv::ErrorKind::Io(_) => {}
        _ => return TabularError::Unreadable(format!("invalid CSV ({e})")),
    }
    let csv::ErrorKind::Io(io) = e.into_kind() else {
        return TabularError::Unreadable("invalid CSV".into());
    };
    let text = io.to_string();
    match io
        .into_inner()
        .map(|inner| inner.downcast::<TabularError>())
    {
        Some(Ok(ours)) => match *ours {
            TabularError::RowTooLarge { limit, .. } => TabularError::RowTooLarge { row, limit },
            other => other,
        },
        _ => TabularError::Unreadable(format!("the upload cannot be read ({text})")),
    }
}

/// The offsets of the line-break bytes (`\r`, `\n`) the CSV reader has been given and has not yet
/// passed, to number rows as Excel does without keeping the text.
#[derive(Default)]
struct LineBreaks {
    /// Offset of each break byte; `true` for `\n`.
    pending: std::collections::VecDeque<(u64, bool)>,
}

impl LineBreaks {
    /// Counts the `\n` before `start`, then steps `start` over the break bytes right at it (a
    /// record's position may fall on the end of the previous line); the count and where the
    /// record's text begins.
    fn count_before(&mut self, mut start: u64) -> (usize, u64) {
        let mut newlines = 0;
        while let Some(&(offset, newline)) = self.pending.front() {
            if offset < start {
                newlines += usize::from(newline);
            } else if offset == start {
                newlines += usize::from(newline);
                start += 1;
            } else {
                break;
            }
            self.pending.pop_front();
        }
        (newlines, start)
    }
}

/// Passes decoded CSV text to the CSV reader, noting where the line breaks are, refusing binary
/// data (neither UTF-8 nor GB18030 text has NUL bytes; binaries and UTF-16 do), and refusing a
/// row that goes on for more than the row budget before it ends (an unclosed quote must not
/// make the reader hold the rest of the file).
struct LineTracker<R> {
    inner: R,
    offset: u64,
    boundary: std::rc::Rc<std::cell::Cell<u64>>,
    max_row_bytes: usize,
    breaks: std::rc::Rc<std::cell::RefCell<LineBreaks>>,
}

impl<R> LineTracker<R> {
    fn new(inner: R, boundary: std::rc::Rc<std::cell::Cell<u64>>, max_row_bytes: usize) -> Self {
        LineTracker {
            inner,
            offset: 0,
            boundary,
            max_row_bytes,
            breaks: Default::default(),
        }
    }
}

/// The CSV reader's own buffer: how far it reads ahead of the record it returns.
const CSV_READ_AHEAD: u64 = 64 * 1024;

impl<R: std::io::Read> std::io::Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let ahead = self.offset.saturating_sub(self.boundary.get());
        if ahead > self.max_row_bytes as u64 + CSV_READ_AHEAD {
            return Err(std::io::Error::other(TabularError::RowTooLarge {
                row: 0,
                limit: self.max_row_bytes,
            }));
        }
        let n = self.inner.read(buf)?;
        let mut breaks = self.breaks.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            match b {
                b'\n' | b'\r' => breaks
                    .pending
                    .push_back((self.offset + i as u64, b == b'\n')),
                0 => {
                    return Err(std::io::Error::other(TabularError::Unreadable(
                        "it contains binary data, not CSV text (UTF-16 \"Unicode text\" files \
                         are not accepted either: save as CSV UTF-8 or .xlsx)"
                            .into(),
                    )))
                }
                _ => {}
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// GB18030 bytes in, UTF-8 out, as they stream by; a byte sequence that is not GB18030 is
/// `bad_encoding`.
struct Gb18030Reader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    finished: bool,
    malformed: bool,
}

impl<R> Gb18030Reader<R> {
    fn new(inner: R) -> Self {
        Gb18030Reader {
            inner,
            decoder: encoding_rs::GB18030.new_decoder_without_bom_handling(),
            input: vec![0u8; 16 * 1024],
            start: 0,
            end: 0,
            eof: false,
            finished: false,
            malformed: false,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Gb18030Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.malformed {
            return Err(std::io::Error::other(TabularError::BadEncoding));
        }
        if self.finished || out.is_empty() {
            return Ok(0);
        }
        // Room for the longest character, so that the decoder always makes progress.
        if out.len() < 4 {
            let mut small = [0u8; 4];
            let n = self.read(&mut small)?;
            let take = n.min(out.len());
            out[..take].copy_from_slice(&small[..take]);
            if take < n {
                return Err(std::io::Error::other(TabularError::Unreadable(
                    "read buffer too small".into(),
                )));
            }
            return Ok(take);
        }
        loop {
            if self.start == self.end && !self.eof {
                let n = self.inner.read(&mut self.input)?;
                self.start = 0;
                self.end = n;
                self.eof = n == 0;
            }
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.start..self.end],
                out,
                self.eof,
            );
            self.start += read;
            if let encoding_rs::DecoderResult::Malformed(_, _) = result {
                // What came before the bad bytes is read first (it may hold a NUL that says
                // more about the file than its encoding does).
                self.malformed = true;
                if written > 0 {
                    return Ok(written);
                }
            }
            if self.malformed {
                return Err(std::io::Error::other(TabularError::BadEncoding));
            }
            if self.eof && self.start == self.end {
                self.finished = true;
                return Ok(written);
            }
            if written > 0 {
                return Ok(written);
            }
        }
    }
}

/// Finds a column by any of its accepted header names, tried in order (put the Chinese header
/// of the template first, e.g. `&["主体代码", "统一社会信用代码/身份证号", "subject_code"]`).
///
/// Comparison ignores whitespace, a required-column marker `*` (or `＊`) at either end,
/// full-width versus half-width parentheses (`（）` / `()`), and ASCII case.
pub fn column_index(headers: &[String], names: &[&str]) -> Option<usize> {
    let normalised: Vec<String> = headers.iter().map(|h| normalise_header(h)).collect();
    names
        .iter()
        .map(|n| normalise_header(n))
        .filter(|n| !n.is_empty())
        .find_map(|n| normalised.iter().position(|h| *h == n))
}

fn normalise_header(h: &str) -> String {
    let squeezed: String = h
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '＊' => '*',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    squeezed.trim_matches('*').to_string()
}

/// An `.xlsx` workbook with one worksheet: a bold, frozen header row and every cell a text cell
/// (columns are formatted as text too, so values typed in later stay text). Column widths fit
/// the content, counting CJK characters double, between 8 and 60 characters.
///
/// `sheet_name` is made acceptable to Excel (characters `[]:*?/\` removed, at most 31
/// characters; empty → `Sheet1`). Rows may be shorter or longer than `headers`.
pub fn write_xlsx(
    sheet_name: &str,
    headers: &[&str],
    rows: &[Vec<String>],
) -> Result<Vec<u8>, TabularError> {
    write_xlsx_sheets(&[(sheet_name, headers, rows)])
}

/// One sheet of a workbook: name, headers, rows.
pub type SheetData<'a> = (&'a str, &'a [&'a str], &'a [Vec<String>]);

/// A workbook with several sheets, each written like [`write_xlsx`] (text cells, bold frozen
/// header row, widths fitted to Chinese text).
pub fn write_xlsx_sheets(sheets: &[SheetData<'_>]) -> Result<Vec<u8>, TabularError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| TabularError::Write(e.to_string());
    let col_num = |c: usize| {
        u16::try_from(c).map_err(|_| TabularError::Write(format!("too many columns ({c})")))
    };
    let row_num = |r: usize| {
        u32::try_from(r).map_err(|_| TabularError::Write(format!("too many rows ({r})")))
    };

    let mut workbook = Workbook::new();
    let text = CellFormat::new().set_num_format("@");
    let bold = CellFormat::new().set_bold().set_num_format("@");
    for (sheet_name, headers, rows) in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(excel_sheet_name(sheet_name)).map_err(err)?;

        let columns = rows
            .iter()
            .map(Vec::len)
            .chain([headers.len()])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for (c, h) in headers.iter().enumerate() {
            sheet
                .write_string_with_format(0, col_num(c)?, *h, &bold)
                .map_err(err)?;
            widths[c] = display_width(h);
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, value) in row.iter().enumerate() {
                if value.is_empty() {
                    continue;
                }
                sheet
                    .write_string_with_format(row_num(r + 1)?, col_num(c)?, value, &text)
                    .map_err(err)?;
                widths[c] = widths[c].max(display_width(value));
            }
        }
        for (c, w) in widths.iter().enumerate() {
            let c = col_num(c)?;
            sheet.set_column_format(c, &text).map_err(err)?;
            sheet
                .set_column_width(c, ((*w).clamp(6, 58) + 2) as f64)
                .map_err(err)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(err)?;
    }
    workbook.save_to_buffer().map_err(err)
}

fn excel_sheet_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\') && !c.is_control())
        .take(31)
        .collect();
    let cleaned = cleaned.trim().trim_matches('\'').trim().to_string();
    if cleaned.is_empty() {
        "Sheet1".into()
    } else {
        cleaned
    }
}

/// Width in Excel "characters" of the longest line: East Asian wide characters count 2.
fn display_width(s: &str) -> usize {
    s.lines()
        .map(|line| {
            line.chars()
                .map(|c| if is_wide(c) { 2 } else { 1 })
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD)
}

/// One typed cell of a report workbook ([`write_report`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    /// A text cell: names, and code-like values (credit codes, ID numbers, document numbers,
    /// region codes), which must never become numbers.
    Text(String),
    /// A count: a number cell.
    Int(i64),
    /// A ratio (0.25 for 25%): a number cell formatted `0.0%`.
    Percent(f64),
    /// A goal (0.3 for 30%): a number cell formatted `0%`.
    Goal(f64),
    /// A score (points, 0.5 steps and finer): a number cell formatted `0.0`.
    Points(f64),
    /// A day: a date cell formatted `yyyy-mm-dd`.
    Date(chrono::NaiveDate),
    /// A moment (already in the zone it is shown in): a date cell formatted `yyyy-mm-dd hh:mm`.
    DateTime(chrono::NaiveDateTime),
}

impl Cell {
    pub fn text(s: impl Into<String>) -> Cell {
        Cell::Text(s.into())
    }

    /// `Int(n)`, or `text` (e.g. "—") when there is no number.
    pub fn int_or(n: Option<i64>, text: &str) -> Cell {
        n.map(Cell::Int).unwrap_or_else(|| Cell::text(text))
    }

    fn display_len(&self) -> usize {
        match self {
            Cell::Empty => 0,
            Cell::Text(s) => display_width(s),
            Cell::Int(n) => n.to_string().len(),
            Cell::Percent(_) | Cell::Goal(_) | Cell::Points(_) => 7,
            Cell::Date(_) => 10,
            Cell::DateTime(_) => 16,
        }
    }
}

/// One sheet of a report workbook: a title block (the report's name in bold, then one
/// label–value line each), a blank row, a bold header row (frozen), the data rows and an
/// optional bold totals row.
#[derive(Debug, Clone)]
pub struct ReportSheet {
    pub name: String,
    pub title: String,
    pub info: Vec<(String, Cell)>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    pub totals: Option<Vec<Cell>>,
}

/// The title block's lines every report carries (Chinese labels): region name and code, year,
/// as-of day, when (Beijing time) and by whom it was produced. `extra` lines come after the
/// year.
pub fn title_lines(
    region_name: &str,
    region_code: &str,
    year: Option<i32>,
    extra: Vec<(String, Cell)>,
    as_of: chrono::NaiveDate,
    produced_by: &str,
) -> Vec<(String, Cell)> {
    let mut lines = vec![
        ("区域".to_string(), Cell::text(region_name)),
        ("区域代码".to_string(), Cell::text(region_code)),
    ];
    if let Some(y) = year {
        lines.push(("年度".to_string(), Cell::Int(y.into())));
    }
    lines.extend(extra);
    let produced = chrono::Utc::now().naive_utc() + chrono::Duration::hours(8);
    lines.push(("截至日期".to_string(), Cell::Date(as_of)));
    lines.push(("生成时间（北京时间）".to_string(), Cell::DateTime(produced)));
    lines.push(("生成人".to_string(), Cell::text(produced_by)));
    lines
}

fn excel_datetime(
    t: chrono::NaiveDateTime,
) -> Result<rust_xlsxwriter::ExcelDateTime, TabularError> {
    use chrono::{Datelike, Timelike};
    let bad = |e: rust_xlsxwriter::XlsxError| TabularError::Write(e.to_string());
    let year = u16::try_from(t.year()).map_err(|_| TabularError::Write(format!("year {t}")))?;
    rust_xlsxwriter::ExcelDateTime::from_ymd(year, t.month() as u8, t.day() as u8)
        .map_err(bad)?
        .and_hms(t.hour() as u16, t.minute() as u8, t.second())
        .map_err(bad)
}

/// A report workbook for people: typed cells (counts are numbers, ratios percentages, days
/// dates; code-like values stay text), a title block on every sheet, a frozen header row and
/// a totals row. Sheet names are cleaned as in [`write_xlsx`].
pub fn write_report(sheets: &[ReportSheet]) -> Result<Vec<u8>, TabularError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| TabularError::Write(e.to_string());
    let col_num = |c: usize| {
        u16::try_from(c).map_err(|_| TabularError::Write(format!("too many columns ({c})")))
    };
    let row_num = |r: usize| {
        u32::try_from(r).map_err(|_| TabularError::Write(format!("too many rows ({r})")))
    };
    let formats = |bold: bool| {
        let base = || {
            if bold {
                CellFormat::new().set_bold()
            } else {
                CellFormat::new()
            }
        };
        [
            base().set_num_format("@"),
            base().set_num_format("0"),
            base().set_num_format("0.0%"),
            base().set_num_format("0%"),
            base().set_num_format("yyyy-mm-dd"),
            base().set_num_format("yyyy-mm-dd hh:mm"),
            base().set_num_format("0.0"),
        ]
    };
    let plain = formats(false);
    let bold = formats(true);
    let heading = CellFormat::new().set_bold().set_font_size(14);

    let mut workbook = Workbook::new();
    for s in sheets {
        let sheet = workbook.add_worksheet();
        sheet.set_name(excel_sheet_name(&s.name)).map_err(err)?;
        let columns = s
            .rows
            .iter()
            .chain(s.totals.iter())
            .map(Vec::len)
            .chain([s.headers.len(), 2])
            .max()
            .unwrap_or(0);
        let mut widths = vec![0usize; columns];
        let mut write = |sheet: &mut rust_xlsxwriter::Worksheet,
                         r: usize,
                         c: usize,
                         cell: &Cell,
                         f: &[CellFormat; 7],
                         measure: bool|
         -> Result<(), TabularError> {
            let (row, col) = (row_num(r)?, col_num(c)?);
            match cell {
                Cell::Empty => {}
                Cell::Text(t) if t.is_empty() => {}
                Cell::Text(t) => {
                    sheet
                        .write_string_with_format(row, col, t, &f[0])
                        .map_err(err)?;
                }
                Cell::Int(n) => {
                    sheet
                        .write_number_with_format(row, col, *n as f64, &f[1])
                        .map_err(err)?;
                }
                Cell::Percent(x) => {
                    sheet
                        .write_number_with_format(row, col, *x, &f[2])
                        .map_err(err)?;
                }
                Cell::Goal(x) => {
                    sheet
                        .write_number_with_format(row, col, *x, &f[3])
                        .map_err(err)?;
                }
                Cell::Points(x) => {
                    sheet
                        .write_number_with_format(row, col, *x, &f[6])
                        .map_err(err)?;
                }
                Cell::Date(d) => {
                    let t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
                    sheet
                        .write_datetime_with_format(row, col, excel_datetime(t)?, &f[4])
                        .map_err(err)?;
                }
                Cell::DateTime(t) => {
                    sheet
                        .write_datetime_with_format(row, col, excel_datetime(*t)?, &f[5])
                        .map_err(err)?;
                }
            }
            if measure {
                widths[c] = widths[c].max(cell.display_len());
            }
            Ok(())
        };

        sheet
            .write_string_with_format(0, 0, &s.title, &heading)
            .map_err(err)?;
        let mut r = 1;
        for (label, value) in &s.info {
            write(sheet, r, 0, &Cell::text(label.clone()), &bold, false)?;
            write(sheet, r, 1, value, &plain, false)?;
            r += 1;
        }
        r += 1;
        let header_row = r;
        for (c, h) in s.headers.iter().enumerate() {
            write(sheet, r, c, &Cell::text(h.clone()), &bold, true)?;
        }
        r += 1;
        for row in &s.rows {
            for (c, cell) in row.iter().enumerate() {
                write(sheet, r, c, cell, &plain, true)?;
            }
            r += 1;
        }
        if let Some(totals) = &s.totals {
            for (c, cell) in totals.iter().enumerate() {
                write(sheet, r, c, cell, &bold, true)?;
            }
        }
        for (c, w) in widths.iter().enumerate() {
            sheet
                .set_column_width(col_num(c)?, ((*w).clamp(8, 58) + 2) as f64)
                .map_err(err)?;
        }
        sheet
            .set_freeze_panes(row_num(header_row + 1)?, 0)
            .map_err(err)?;
    }
    workbook.save_to_buffer().map_err(err)
}

/// CSV for download: UTF-8 with a byte-order mark (so Excel opens Chinese text correctly),
/// comma-separated, CRLF line ends, fields quoted when needed (RFC 4180).
///
/// To stop spreadsheet formula injection, a value starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'` (OWASP "CSV injection"); the xlsx writer needs no such
/// guard since it writes text cells. Excel re-interprets long digit strings in CSV files as
/// numbers (an 18-digit code loses its last digits): offer [`write_xlsx`] to people, CSV to
/// programs.
pub fn write_csv(headers: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = UTF8_BOM.to_vec();
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .flexible(true)
            .from_writer(&mut out);
        // Writing to a Vec cannot fail.
        writer
            .write_record(
                headers
                    .iter()
                    .map(|h| neutralise_formula(h).as_bytes().to_vec()),
            )
            .expect("write to memory");
        for row in rows {
            writer
                .write_record(
                    row.iter()
                        .map(|v| neutralise_formula(v).as_bytes().to_vec()),
                )
                .expect("write to memory");
        }
        writer.flush().expect("write to memory");
    }
    out
}

fn neutralise_formula(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn csv(text: &str) -> Result<Table, TabularError> {
        read_table(text.as_bytes(), Format::Csv)
    }

    #[test]
    fn report_cells_are_typed_below_a_title_block_and_codes_stay_text() {
        let day = chrono::NaiveDate::from_ymd_opt(2019, 12, 31).unwrap();
        let sheet = ReportSheet {
            name: "全市合计".into(),
            title: "2019年度目标".into(),
            info: title_lines(
                "通化市",
                "220500",
                Some(2019),
                Vec::new(),
                day,
                "city-bureau",
            ),
            headers: vec![
                "指标".into(),
                "分子".into(),
                "比例".into(),
                "代码".into(),
                "日期".into(),
            ],
            rows: vec![vec![
                Cell::text("覆盖率"),
                Cell::Int(3),
                Cell::Percent(0.75),
                Cell::text("91350100M000100Y43"),
                Cell::Date(day),
            ]],
            totals: Some(vec![Cell::text("合计"), Cell::Int(3)]),
        };
        let bytes = write_report(&[sheet]).unwrap();
        let mut book = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let range = book.worksheet_range("全市合计").unwrap();
        let rows: Vec<Vec<Data>> = range.rows().map(|r| r.to_vec()).collect();
        assert_eq!(rows[0][0], Data::String("2019年度目标".into()));
        assert_eq!(
            rows[1][..2],
            [Data::String("区域".into()), Data::String("通化市".into())]
        );
        assert_eq!(
            rows[2][1],
            Data::String("220500".into()),
            "a region code is text"
        );
        assert_eq!(rows[3][1], Data::Float(2019.0));
        assert!(matches!(rows[4][1], Data::DateTime(d) if d.is_datetime()));
        assert_eq!(rows[6][1], Data::String("city-bureau".into()));
        assert!(rows[7].iter().all(|c| *c == Data::Empty), "a blank row");
        assert_eq!(rows[8][0], Data::String("指标".into()));
        let data = &rows[9];
        assert_eq!(data[1], Data::Float(3.0));
        assert_eq!(data[2], Data::Float(0.75));
        assert_eq!(data[3], Data::String("91350100M000100Y43".into()));
        match &data[4] {
            Data::DateTime(d) => assert_eq!(d.as_f64(), 43830.0),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            rows[10][..2],
            [Data::String("合计".into()), Data::Float(3.0)]
        );
        assert_eq!(rows.len(), 11);
    }

    #[test]
    fn xlsx_round_trip_keeps_chinese_text_and_codes_as_text() {
        let headers = ["主体名称", "主体代码*", "认定文书号（编号）", "备注"];
        let rows = vec![
            strings(&[
                "通化市某某医药有限公司",
                "91350100M000100Y43",
                "通市监罚〔2019〕12号",
                "",
            ]),
            strings(&["张三", "11010519491231002X", "", "第一行\n第二行"]),
            strings(&["李四", "110105194912310020", "007", "1.50"]),
        ];
        let bytes = write_xlsx("红名单", &headers, &rows).unwrap();
        assert!(bytes.starts_with(ZIP_MAGIC));
        assert_eq!(Format::detect(None, None, &bytes), Format::Xlsx);
        let table = read_table(&bytes, Format::Xlsx).unwrap();
        assert_eq!(table.headers, headers);
        assert_eq!(table.rows.len(), 3);
        assert_eq!(table.rows[0].number, 2);
        assert_eq!(table.rows[2].number, 4);
        for (got, want) in table.rows.iter().zip(&rows) {
            assert_eq!(&got.cells, want);
        }
        assert_eq!(table.rows[1].cell(1), "11010519491231002X");
        assert_eq!(table.rows[2].cell(1), "110105194912310020");
        assert_eq!(table.rows[2].cell(2), "007");
        assert_eq!(table.rows[2].cell(99), "");
    }

    #[test]
    fn xlsx_cells_of_other_types_read_as_text() {
        use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Workbook};
        let mut wb = Workbook::new();
        let hidden = wb.add_worksheet();
        hidden.set_name("lists").unwrap();
        hidden.write_string(0, 0, "hidden sheet").unwrap();
        hidden.set_hidden(true);
        let ws = wb.add_worksheet();
        ws.set_active(true);
        let date = CellFormat::new().set_num_format("yyyy-mm-dd");
        let datetime = CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        for (c, h) in ["认定日期", "时间", "整数", "小数", "布尔", "空"]
            .iter()
            .enumerate()
        {
            ws.write_string(2, c as u16, *h).unwrap(); // header in row 3
        }
        ws.write_datetime_with_format(3, 0, ExcelDateTime::from_ymd(2019, 12, 31).unwrap(), &date)
            .unwrap();
        let dt = ExcelDateTime::from_ymd(2020, 2, 29)
            .unwrap()
            .and_hms(8, 30, 5)
            .unwrap();
        ws.write_datetime_with_format(3, 1, dt, &datetime).unwrap();
        ws.write_number(3, 2, 42.0).unwrap();
        ws.write_number(3, 3, 3.25).unwrap();
        ws.write_boolean(3, 4, true).unwrap();
        ws.write_number(4, 2, 0.1).unwrap();
        ws.write_number(4, 3, -7.0).unwrap();
        let bytes = wb.save_to_buffer().unwrap();
        // The hidden first sheet is skipped.
        let table = read_table(&bytes, Format::Xlsx).unwrap();
        assert_eq!(table.headers[0], "认定日期");
        assert_eq!(table.headers.len(), 6);
        assert_eq!(table.rows[0].number, 4);
        assert_eq!(
            table.rows[0].cells,
            strings(&[
                "2019-12-31",
                "2020-02-29 08:30:05",
                "42",
                "3.25",
                "true",
                ""
            ])
        );
        assert_eq!(table.rows[1].number, 5);
        assert_eq!(table.rows[1].cells, strings(&["", "", "0.1", "-7", "", ""]));
    }

    #[test]
    fn float_and_iso_rendering() {
        assert_eq!(float_text(42.0), "42");
        assert_eq!(float_text(-0.0), "0");
        assert_eq!(float_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float_text(1e16), "10000000000000000");
        assert_eq!(iso_datetime_text("2019-12-31T00:00:00"), "2019-12-31");
        assert_eq!(iso_datetime_text("2019-12-31"), "2019-12-31");
        assert_eq!(
            iso_datetime_text("2019-12-31T08:30:00.250"),
            "2019-12-31 08:30:00"
        );
        assert_eq!(iso_datetime_text("08:30:00"), "08:30:00");
    }

    #[test]
    fn csv_utf8_with_bom() {
        let bytes = write_csv(
            &["主体名称", "主体代码"],
            &[strings(&["通化市某某公司", "91350100M000100Y43"])],
        );
        assert!(bytes.starts_with(UTF8_BOM));
        assert_eq!(
            std::str::from_utf8(&bytes[3..]).unwrap(),
            "主体名称,主体代码\r\n通化市某某公司,91350100M000100Y43\r\n"
        );
        let table = read_table(&bytes, Format::Csv).unwrap();
        assert_eq!(table.headers, ["主体名称", "主体代码"]);
        assert_eq!(table.rows[0].cells[0], "通化市某某公司");
        assert_eq!(table.rows[0].number, 2);
    }

    #[test]
    fn csv_in_gb18030_is_decoded() {
        let text = "主体名称,主体代码\n通化市二道江区某某商店,11010519491231002X\n";
        let (encoded, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        assert!(
            std::str::from_utf8(&encoded).is_err(),
            "test needs non-UTF-8"
        );
        let table = read_table(&encoded, Format::Csv).unwrap();
        assert_eq!(table.headers, ["主体名称", "主体代码"]);
        assert_eq!(
            table.rows[0].cells,
            ["通化市二道江区某某商店", "11010519491231002X"]
        );
    }

    #[test]
    fn csv_that_is_neither_utf8_nor_gb18030_is_a_bad_encoding() {
        // 0x80 alone and 0xFF are not valid in GB18030.
        let err = read_table(b"a,b\n\x80\xff,1\n", Format::Csv).unwrap_err();
        assert_eq!(err, TabularError::BadEncoding);
        assert_eq!(err.code(), "bad_encoding");
    }

    #[test]
    fn csv_quoted_fields_with_commas_quotes_and_newlines() {
        let rows = vec![
            strings(&["a, b", "say \"hi\"", "line 1\nline 2"]),
            strings(&["plain", "", "x"]),
        ];
        let bytes = write_csv(&["h1", "h2", "h3"], &rows);
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert!(
            text.contains("\"a, b\",\"say \"\"hi\"\"\",\"line 1\nline 2\""),
            "{text}"
        );
        let table = read_table(&bytes, Format::Csv).unwrap();
        assert_eq!(table.rows[0].cells, rows[0]);
        assert_eq!(table.rows[1].cells, rows[1]);
        // The multi-line value is one spreadsheet row: the next row is row 3.
        assert_eq!(table.rows[0].number, 2);
        assert_eq!(table.rows[1].number, 3);
    }

    /// A reader that hands out its bytes a few at a time, as a slow network or a small buffer
    /// would: every boundary falls somewhere inside a character, a line break or a quote.
    struct Trickle {
        data: std::io::Cursor<Vec<u8>>,
        step: usize,
    }

    impl std::io::Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step);
            self.data.read(&mut buf[..n])
        }
    }

    impl std::io::Seek for Trickle {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.data.seek(to)
        }
    }

    fn stream(bytes: Vec<u8>, step: usize) -> Result<(Vec<String>, Vec<TableRow>), TabularError> {
        let rows = RowStream::open(
            Trickle {
                data: std::io::Cursor::new(bytes),
                step,
            },
            Format::Csv,
            Limits::default(),
        )?;
        let headers = rows.headers().to_vec();
        let rows = rows.collect::<Result<Vec<_>, _>>()?;
        Ok((headers, rows))
    }

    #[test]
    fn streamed_rows_match_the_table_whatever_the_read_sizes() {
        let text = "\r\n名称,代码\r\nA,1\r\n\r\n , \r\nB,2\r\n\"x\r\ny\",3\nC,4\n\n";
        let table = csv(text).unwrap();
        let gbk = encoding_rs::GB18030.encode(text).0.into_owned();
        for bytes in [text.as_bytes().to_vec(), gbk] {
            for step in [1, 2, 3, 7, 4096] {
                let (headers, rows) = stream(bytes.clone(), step).unwrap();
                assert_eq!(headers, table.headers, "step {step}");
                let numbers: Vec<usize> = rows.iter().map(|r| r.number).collect();
                let in_table: Vec<usize> = table.rows.iter().map(|r| r.number).collect();
                assert_eq!(numbers, in_table, "step {step}");
                let got: Vec<(usize, &str, &str)> = rows
                    .iter()
                    .map(|r| (r.number, r.cell(0), r.cell(1)))
                    .collect();
                assert_eq!(
                    got,
                    vec![
                        (3, "A", "1"),
                        (6, "B", "2"),
                        (7, "x\r\ny", "3"),
                        (8, "C", "4")
                    ],
                    "step {step}"
                );
            }
        }
    }

    #[test]
    fn streamed_csv_refuses_what_the_table_refuses() {
        // A GB18030 byte sequence that is not valid, after a valid UTF-8 start.
        let mut bad = "名称\n".repeat(30_000).into_bytes();
        bad.extend_from_slice(b"\xff\xff\n");
        assert_eq!(stream(bad, 4096).unwrap_err(), TabularError::BadEncoding);
        // NUL bytes: binary, or UTF-16.
        let err = stream(b"a,b\n1,\x002\n".to_vec(), 3).unwrap_err();
        assert_eq!(err.code(), "unreadable_file");
        // A quote never closed stops at the row budget, naming the row it began on.
        let mut open = b"h\nok\n\"".to_vec();
        open.extend(std::iter::repeat_n(b'a', MAX_ROW_BYTES + 200_000));
        let err = stream(open, 65_536).unwrap_err();
        assert_eq!(
            err,
            TabularError::RowTooLarge {
                row: 3,
                limit: MAX_ROW_BYTES
            }
        );
        assert_eq!(stream(Vec::new(), 1).unwrap_err(), TabularError::Empty);
        assert_eq!(
            stream(b"\n \n".to_vec(), 1).unwrap_err(),
            TabularError::Empty
        );
    }

    #[test]
    fn a_worksheet_whose_rows_go_back_is_refused() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        let parts: [(&str, &str); 4] = [
            (
                "[Content_Types].xml",
                r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
            ),
            (
                "xl/workbook.xml",
                r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            ),
            (
                "xl/_rels/workbook.xml.rels",
                r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
            ),
        ];
        for (name, xml) in parts {
            zip.start_file(name, opts).unwrap();
            zip.write_all(xml.as_bytes()).unwrap();
        }
        zip.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
        zip.write_all(br#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>h</t></is></c></row><row r="3"><c r="A3" t="inlineStr"><is><t>x</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>y</t></is></c></row></sheetData></worksheet>"#).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let err = read_table(&bytes, Format::Xlsx).unwrap_err();
        assert_eq!(err.code(), "unreadable_file", "{err}");
        assert!(err.to_string().contains("row 2 comes after row 3"), "{err}");
    }

    #[test]
    fn blank_rows_are_skipped_but_keep_their_numbers() {
        let t = csv("\n名称,代码\nA,1\n\n , \nB,2\n\"x\ny\",3\nC,4\n").unwrap();
        assert_eq!(t.headers, ["名称", "代码"]);
        let got: Vec<(usize, &str)> = t.rows.iter().map(|r| (r.number, r.cell(0))).collect();
        assert_eq!(got, vec![(3, "A"), (6, "B"), (7, "x\ny"), (8, "C")]);

        // A blank row 3 in a workbook: the next row is row 4.
        let bytes = write_xlsx(
            "s",
            &["名称", "代码"],
            &[
                strings(&["A", "1"]),
                strings(&["", ""]),
                strings(&["B", "2"]),
            ],
        )
        .unwrap();
        let t = read_table(&bytes, Format::Xlsx).unwrap();
        let got: Vec<(usize, &str)> = t.rows.iter().map(|r| (r.number, r.cell(0))).collect();
        assert_eq!(got, vec![(2, "A"), (4, "B")]);
    }

    #[test]
    fn cells_are_trimmed_and_ragged_rows_padded() {
        let t = csv(" 名称 ,代码 ,备注\n  A ,1\nB,2,x,,,\n,,,\n").unwrap();
        assert_eq!(t.headers, ["名称", "代码", "备注"]);
        assert_eq!(t.rows[0].cells, ["A", "1", ""]);
        assert_eq!(t.rows[1].cells, ["B", "2", "x"]);
        assert_eq!(t.rows.len(), 2);
        // A value beyond the last header gets an empty header.
        let t = csv("a,b\n1,2,3\n").unwrap();
        assert_eq!(t.headers, ["a", "b", ""]);
        assert_eq!(t.rows[0].cells, ["1", "2", "3"]);
        // Only a header: a table without rows.
        let t = csv("a,b\r\n").unwrap();
        assert!(t.rows.is_empty());
    }

    #[test]
    fn empty_files() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b"\n\n", b" , ,\n,\n"] {
            let err = read_table(bytes, Format::Csv).unwrap_err();
            assert_eq!(err.code(), "empty_file", "{bytes:?}");
        }
        let bytes = write_xlsx("s", &[], &[]).unwrap();
        assert_eq!(
            read_table(&bytes, Format::Xlsx).unwrap_err().code(),
            "empty_file"
        );
    }

    #[test]
    fn row_limit() {
        let mut text = String::from("code\n");
        for i in 0..MAX_ROWS {
            text.push_str(&format!("{i}\n"));
        }
        let t = csv(&text).unwrap();
        assert_eq!(t.rows.len(), MAX_ROWS);
        assert_eq!(t.rows.last().unwrap().number, MAX_ROWS + 1);
        text.push_str("one too many\n");
        let err = csv(&text).unwrap_err();
        assert_eq!(err, TabularError::TooManyRows { limit: MAX_ROWS });
        assert_eq!(err.code(), "too_many_rows");
        // Blank rows do not count.
        let small = Limits {
            max_rows: 2,
            max_columns: 5,
            ..Limits::default()
        };
        let ok = read_table_with_limits(b"h\n1\n\n\n2\n", Format::Csv, small).unwrap();
        assert_eq!(ok.rows.len(), 2);
        let err = read_table_with_limits(b"h\n1\n2\n3\n", Format::Csv, small).unwrap_err();
        assert_eq!(err.code(), "too_many_rows");
    }

    #[test]
    fn column_limit() {
        let header: Vec<String> = (1..=MAX_COLUMNS).map(|i| format!("c{i}")).collect();
        let ok = format!("{}\n1\n", header.join(","));
        assert_eq!(csv(&ok).unwrap().headers.len(), MAX_COLUMNS);
        // Trailing empty columns do not count.
        let trailing = format!("{},,,,\n1,,,,,,,,\n", header.join(","));
        assert_eq!(csv(&trailing).unwrap().headers.len(), MAX_COLUMNS);
        let wide = format!("{},extra\n", header.join(","));
        let err = csv(&wide).unwrap_err();
        assert_eq!(
            err,
            TabularError::TooManyColumns {
                row: 1,
                column: MAX_COLUMNS + 1,
                limit: MAX_COLUMNS
            }
        );
        assert_eq!(err.code(), "too_many_columns");
        // In a data row, and in a workbook.
        let mut row = vec![String::new(); MAX_COLUMNS];
        row.push("x".into());
        let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
        let bytes = write_xlsx("s", &hdr, &[strings(&["a"]), row]).unwrap();
        let err = read_table(&bytes, Format::Xlsx).unwrap_err();
        assert!(
            matches!(err, TabularError::TooManyColumns { row: 3, .. }),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_unreadable() {
        let garbage: Vec<u8> = (0..2000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for format in [Format::Xlsx, Format::Csv] {
            let err = read_table(&garbage, format).unwrap_err();
            assert_eq!(err.code(), "unreadable_file", "{format:?}: {err}");
        }
        // A zip that is not a workbook, and a truncated workbook.
        let mut fake_zip = ZIP_MAGIC.to_vec();
        fake_zip.extend_from_slice(&[0u8; 100]);
        assert_eq!(Format::detect(Some("a.csv"), None, &fake_zip), Format::Xlsx);
        let err = read_table(&fake_zip, Format::Xlsx).unwrap_err();
        assert_eq!(err.code(), "unreadable_file");
        let good = write_xlsx("s", &["a"], &[strings(&["1"])]).unwrap();
        let err = read_table(&good[..good.len() / 2], Format::Xlsx).unwrap_err();
        assert_eq!(err.code(), "unreadable_file");
        // An xlsx read as CSV.
        assert_eq!(
            read_table(&good, Format::Csv).unwrap_err().code(),
            "unreadable_file"
        );
        // Legacy .xls gets a message saying what to do.
        let mut xls = OLE_MAGIC.to_vec();
        xls.extend_from_slice(&[0u8; 504]);
        assert_eq!(Format::detect(Some("x.xls"), None, &xls), Format::Xlsx);
        let err = read_table(&xls, Format::Xlsx).unwrap_err();
        assert!(err.to_string().contains("save it as .xlsx"), "{err}");
        assert_eq!(err.code(), "unreadable_file");
    }

    #[test]
    fn format_detection() {
        let xlsx_ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        assert_eq!(
            Format::detect(Some("名单.XLSX"), None, b"a,b"),
            Format::Xlsx
        );
        assert_eq!(
            Format::detect(Some("名单.csv"), Some(xlsx_ct), b"a,b"),
            Format::Csv
        );
        assert_eq!(Format::detect(None, Some(xlsx_ct), b"a,b"), Format::Xlsx);
        assert_eq!(Format::detect(None, Some("text/csv"), b"a,b"), Format::Csv);
        assert_eq!(Format::detect(None, None, b"a,b"), Format::Csv);
        assert_eq!(
            Format::detect(Some("upload"), None, b"PK\x03\x04rest"),
            Format::Xlsx
        );
    }

    #[test]
    fn columns_are_found_by_any_accepted_header() {
        let headers = strings(&[
            " 主体名称 ",
            "主体代码*",
            "认定文书号（编号）",
            "* 有效期至",
            "Subject Code",
        ]);
        let names = ["主体代码", "统一社会信用代码/身份证号", "subject_code"];
        assert_eq!(column_index(&headers, &names), Some(1));
        assert_eq!(column_index(&headers, &["主体名称"]), Some(0));
        assert_eq!(column_index(&headers, &["认定文书号(编号)"]), Some(2));
        assert_eq!(column_index(&headers, &["认定文书号（编号）*"]), Some(2));
        assert_eq!(column_index(&headers, &["有效期至"]), Some(3));
        assert_eq!(column_index(&headers, &["subjectcode"]), Some(4));
        // Names are tried in order: the first accepted name that is present wins.
        assert_eq!(
            column_index(&headers, &["subject code", "主体代码"]),
            Some(4)
        );
        assert_eq!(column_index(&headers, &["不存在", "主体名称"]), Some(0));
        assert_eq!(column_index(&headers, &["不存在"]), None);
        assert_eq!(column_index(&strings(&["", "a"]), &["", "*"]), None);
    }

    #[test]
    fn csv_output_neutralises_formulas() {
        let bytes = write_csv(
            &["h"],
            &[
                strings(&["=HYPERLINK(\"http://x\")"]),
                strings(&["+1"]),
                strings(&["@SUM(A1)"]),
                strings(&["-2"]),
                strings(&["a=b"]),
            ],
        );
        let t = read_table(&bytes, Format::Csv).unwrap();
        let cells: Vec<&str> = t.rows.iter().map(|r| r.cell(0)).collect();
        assert_eq!(
            cells,
            vec![
                "'=HYPERLINK(\"http://x\")",
                "'+1",
                "'@SUM(A1)",
                "'-2",
                "a=b"
            ]
        );
    }

    #[test]
    fn xlsx_sheet_names_and_widths() {
        assert_eq!(excel_sheet_name("红名单[2019]/通化"), "红名单2019通化");
        assert_eq!(excel_sheet_name("  "), "Sheet1");
        assert_eq!(excel_sheet_name(&"长".repeat(40)).chars().count(), 31);
        assert_eq!(display_width("通化ab"), 6);
        assert_eq!(display_width("短\n更长的一行"), 10);
        // A sheet name Excel would refuse still gives a workbook.
        assert!(write_xlsx("a/b?", &["h"], &[]).is_ok());
        // A cell longer than Excel allows is an error, not a panic.
        let err = write_xlsx("s", &["h"], &[vec!["x".repeat(40_000)]]).unwrap_err();
        assert_eq!(err.code(), "write_failed");
    }
}
