/**
 * How login events leave Warden: the opaque page cursor and the export formats (NDJSON, CSV).
 * Pure functions, shared by the HTTP routes and the `warden events export` command.
 */

/** A position in a newest-first list: the (at, id) of the last event of a page. */
export interface Cursor {
  at: Date
  id: string
}

const CURSOR = /^(\d{1,15})\.([0-9a-f]{24})$/

/** base64url of `<epoch ms>.<event id>`: opaque to clients, cheap to check. */
export function encodeCursor (cursor: Cursor): string {
  return Buffer.from(`${cursor.at.getTime()}.${cursor.id}`, 'utf8').toString('base64url')
}

/** The cursor `text` stands for, or null when it is not one this service made. */
export function decodeCursor (text: string): Cursor | null {
  if (text.length === 0 || text.length > 64 || !/^[A-Za-z0-9_-]+$/.test(text)) return null
  const match = CURSOR.exec(Buffer.from(text, 'base64url').toString('utf8'))
  if (match === null) return null
  const at = new Date(Number(match[1]))
  if (Number.isNaN(at.getTime())) return null
  return { at, id: match[2] }
}

export const EXPORT_FORMATS = ['ndjson', 'csv'] as const
export type ExportFormat = typeof EXPORT_FORMATS[number]

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  ndjson: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8'
}

/** The columns of a CSV export, in order: the event contract's fields. */
export const CSV_COLUMNS = ['id', 'type', 'outcome', 'reason', 'user_id', 'username', 'ip', 'user_agent', 'at', 'session_id', 'actor_id', 'request_id', 'new_device'] as const

/** Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/
const NEEDS_QUOTES = /[",\r\n]/

/**
 * One CSV cell (RFC 4180): quoted when it holds a quote, comma or line break, quotes doubled;
 * a cell a spreadsheet would run as a formula is prefixed with a single quote first.
 */
export function csvCell (value: unknown): string {
  if (value === null || value === undefined) return ''
  let text = String(value)
  if (FORMULA_START.test(text)) text = `'${text}`
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function csvHeader (): string {
  return CSV_COLUMNS.join(',') + '\r\n'
}

export function csvRow (event: Partial<Record<typeof CSV_COLUMNS[number], unknown>>): string {
  return CSV_COLUMNS.map((column) => csvCell(event[column])).join(',') + '\r\n'
}

export function ndjsonRow (event: unknown): string {
  return JSON.stringify(event) + '\n'
}

/**
 * Export lines, produced as the reader asks for them: memory stays flat whatever the size. Lines
 * are handed on in pieces of about `pieceBytes` (one write per piece rather than per event).
 */
export async function * exportLines (events: AsyncIterable<unknown>, format: ExportFormat, pieceBytes = 0): AsyncGenerator<string> {
  if (format === 'csv') yield csvHeader()
  let piece = ''
  for await (const event of events) {
    piece += format === 'csv' ? csvRow(event as Record<string, unknown>) : ndjsonRow(event)
    if (piece.length >= pieceBytes) {
      yield piece
      piece = ''
    }
  }
  if (piece !== '') yield piece
}
