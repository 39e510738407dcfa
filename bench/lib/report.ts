/** The results table, the JSON document and the SVG chart. */
import type { Row, Target, Unit } from './scenario'

export function formatNumber (v: number | undefined | null, digits = 0): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return ''
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

export function formatMs (v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return ''
  if (v < 10) return `${v.toFixed(2)} ms`
  if (v < 100) return `${v.toFixed(1)} ms`
  return `${v.toFixed(0)} ms`
}

/** Server CPU time per request: µs below 10 ms, ms above. */
export function formatCpu (us: number | undefined | null): string {
  if (us === undefined || us === null || !Number.isFinite(us)) return ''
  return us < 10_000 ? `${us.toFixed(0)} µs` : `${(us / 1000).toFixed(1)} ms`
}

export function formatFigure (v: number | undefined | null, unit: Unit | undefined): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return ''
  switch (unit) {
    case 'x': return v >= 10 ? `${v.toFixed(1)}×` : `${v.toFixed(3)}×`
    case 'MB': return `${v.toFixed(1)} MB`
    case 's': return `${v.toFixed(2)} s`
    case 'ms': return formatMs(v)
    case '/s': return `${v.toFixed(1)}/s`
    default: return v.toFixed(2)
  }
}

export function formatTarget (t: Target | undefined, unit: Unit | undefined): string {
  if (t === undefined) return ''
  return `${t.op === '>=' ? '≥' : '≤'} ${formatFigure(t.value, unit)}`
}

const COLUMNS = ['scenario', 'measurement', 'req/s', 'p50', 'p99', 'non-2xx', 'RSS', 'CPU/req', 'ratio', 'target', 'result'] as const

export function tableCells (row: Row): string[] {
  return [
    row.scenario,
    row.label,
    formatNumber(row.rps, row.rps !== undefined && row.rps < 100 ? 1 : 0),
    formatMs(row.p50),
    formatMs(row.p99),
    row.non2xx === undefined ? '' : String(row.non2xx),
    row.rssMB === undefined || !Number.isFinite(row.rssMB) ? '' : `${row.rssMB.toFixed(1)} MB`,
    formatCpu(row.cpuUs),
    formatFigure(row.figure, row.unit),
    formatTarget(row.target, row.unit),
    row.pass === undefined ? '' : row.pass ? 'pass' : 'MISS'
  ]
}

/** Plain-text table; numeric columns right-aligned. */
export function renderTable (rows: Row[]): string {
  const cells = rows.map(tableCells)
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...cells.map((r) => [...r[i]].length)))
  const left = new Set([0, 1, 10])
  const pad = (s: string, i: number): string => {
    const fill = ' '.repeat(widths[i] - [...s].length)
    return left.has(i) ? s + fill : fill + s
  }
  const line = (r: readonly string[]): string => r.map(pad).join('  ').trimEnd()
  return [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n')
}

/** Markdown version of the table (for READMEs and CI summaries). */
export function renderMarkdown (rows: Row[]): string {
  const head = `| ${COLUMNS.join(' | ')} |`
  const sep = `|${COLUMNS.map((_, i) => (i >= 2 && i <= 9 ? ' ---: ' : ' --- ')).join('|')}|`
  return [head, sep, ...rows.map((r) => `| ${tableCells(r).join(' | ')} |`)].join('\n')
}

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/**
 * Horizontal bars, one per figure that has a target, each on its own scale (0 to 1.25×
 * the larger of figure and target) with the target drawn as a dashed line.
 */
export function renderSvg (rows: Row[], subtitle: string): string {
  const items = rows.filter((r) => r.target !== undefined && r.figure !== undefined)
  const width = 900
  const labelW = 330
  const barX = labelW + 10
  const barW = 420
  const rowH = 44
  const top = 64
  const height = top + items.length * rowH + 30
  const parts: string[] = []
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`)
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`)
  parts.push(`<text x="16" y="26" font-size="17" font-weight="bold" fill="#222">Warden benchmark: figures vs targets</text>`)
  parts.push(`<text x="16" y="46" font-size="12" fill="#555">${escapeXml(subtitle)}</text>`)
  items.forEach((r, i) => {
    const target = r.target as Target
    const figure = r.figure as number
    const y = top + i * rowH
    const scaleMax = Math.max(Number.isFinite(figure) ? figure : 0, target.value) * 1.25
    const w = Number.isFinite(figure) ? Math.max(1, (figure / scaleMax) * barW) : 0
    const tx = barX + (target.value / scaleMax) * barW
    const colour = r.pass === true ? '#2e8b57' : '#c0392b'
    parts.push(`<text x="16" y="${y + 18}" fill="#222">${escapeXml(`${r.scenario}: ${r.label}`)}</text>`)
    parts.push(`<rect x="${barX}" y="${y + 4}" width="${barW}" height="22" fill="#f0f0f0"/>`)
    parts.push(`<rect x="${barX}" y="${y + 4}" width="${w.toFixed(1)}" height="22" fill="${colour}"/>`)
    parts.push(`<line x1="${tx.toFixed(1)}" y1="${y}" x2="${tx.toFixed(1)}" y2="${y + 30}" stroke="#222" stroke-width="2" stroke-dasharray="4 3"/>`)
    parts.push(`<text x="${barX + barW + 12}" y="${y + 14}" fill="${colour}" font-weight="bold">${escapeXml(formatFigure(figure, r.unit))} ${r.pass === true ? 'pass' : 'miss'}</text>`)
    parts.push(`<text x="${barX + barW + 12}" y="${y + 30}" fill="#555" font-size="11">target ${escapeXml(formatTarget(target, r.unit))}</text>`)
  })
  parts.push(`<text x="16" y="${height - 10}" font-size="11" fill="#777">Each bar on its own scale; dashed line = target. Ratios are medians of per-round ratios to a reference measured in the same round.</text>`)
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
