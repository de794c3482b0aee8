/**
 * The HTML page of a bench run: self-contained (inline SVG, no scripts, no
 * server), so it opens from disk in any browser.
 */
export interface BarChart {
  title: string;
  unit: string;
  bars: Array<{ label: string; value: number; note?: string }>;
}

export interface GroupedChart {
  title: string;
  unit: string;
  series: string[];
  groups: Array<{ label: string; values: number[] }>;
}

const COLORS = ['#3b6fb6', '#e07b39', '#4a9c5d', '#b94a7a', '#7a6bb9'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function format(value: number): string {
  if (Number.isInteger(value) && value < 1e6) return value.toLocaleString('en-US');
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value >= 10 ? value.toFixed(0) : value.toFixed(2);
}

/** Horizontal bars, one per row. */
export function barChartSvg(chart: BarChart): string {
  const rowHeight = 26;
  const labelWidth = 300;
  const plotWidth = 520;
  const height = chart.bars.length * rowHeight + 50;
  const max = Math.max(...chart.bars.map((b) => b.value), 1e-9);
  const rows = chart.bars
    .map((bar, index) => {
      const y = 36 + index * rowHeight;
      const width = Math.max(1, (bar.value / max) * plotWidth);
      return `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escape(bar.label)}</text>
<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="${rowHeight - 8}" fill="${COLORS[index % COLORS.length]}"/>
<text x="${labelWidth + width + 6}" y="${y + 15}">${escape(format(bar.value))} ${escape(chart.unit)}${bar.note ? ` (${escape(bar.note)})` : ''}</text>`;
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelWidth + plotWidth + 220}" height="${height}" font-family="sans-serif" font-size="13">
<text x="8" y="20" font-size="15" font-weight="bold">${escape(chart.title)}</text>
${rows}
</svg>`;
}

/** Vertical grouped bars: one group per row, one bar per series (e.g. p50 / p99 / max). */
export function groupedChartSvg(chart: GroupedChart): string {
  const barWidth = 18;
  const groupGap = 26;
  const plotHeight = 240;
  const groupWidth = chart.series.length * barWidth + groupGap;
  const width = Math.max(420, 70 + chart.groups.length * groupWidth + 140); // room for the slanted last labels
  const max = Math.max(...chart.groups.flatMap((g) => g.values), 1e-9);
  const bars = chart.groups
    .map((group, groupIndex) => {
      const x0 = 60 + groupIndex * groupWidth;
      const columns = group.values
        .map((value, seriesIndex) => {
          const h = Math.max(1, (value / max) * plotHeight);
          const x = x0 + seriesIndex * barWidth;
          return `<rect x="${x}" y="${40 + plotHeight - h}" width="${barWidth - 3}" height="${h.toFixed(1)}" fill="${COLORS[seriesIndex % COLORS.length]}"><title>${escape(`${group.label} ${chart.series[seriesIndex]}: ${value.toFixed(3)} ${chart.unit}`)}</title></rect>`;
        })
        .join('\n');
      return `${columns}
<text x="${x0}" y="${40 + plotHeight + 16}" font-size="11" transform="rotate(25 ${x0} ${40 + plotHeight + 16})">${escape(group.label)}</text>`;
    })
    .join('\n');
  const legend = chart.series
    .map((name, index) => `<rect x="${60 + index * 90}" y="${plotHeight + 110}" width="12" height="12" fill="${COLORS[index % COLORS.length]}"/><text x="${76 + index * 90}" y="${plotHeight + 121}">${escape(name)}</text>`)
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${plotHeight + 140}" font-family="sans-serif" font-size="13">
<text x="8" y="20" font-size="15" font-weight="bold">${escape(chart.title)} (${escape(chart.unit)}, max ${escape(max.toFixed(2))})</text>
<line x1="56" y1="40" x2="56" y2="${40 + plotHeight}" stroke="#888"/>
<line x1="56" y1="${40 + plotHeight}" x2="${width - 10}" y2="${40 + plotHeight}" stroke="#888"/>
${bars}
${legend}
</svg>`;
}

export function htmlPage(title: string, sections: Array<{ heading: string; html: string }>): string {
  const body = sections.map((s) => `<section><h2>${escape(s.heading)}</h2>\n${s.html}\n</section>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:1200px}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}section{margin-bottom:32px}</style>
</head><body><h1>${escape(title)}</h1>
${body}
</body></html>
`;
}

export function htmlTable(rows: ReadonlyArray<Record<string, string | number>>): string {
  if (rows.length === 0) return '<p>(no rows)</p>';
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = columns.map((c) => `<th>${escape(c)}</th>`).join('');
  const lines = rows
    .map((row) => `<tr>${columns.map((c) => `<td>${escape(typeof row[c] === 'number' ? format(row[c] as number) : String(row[c] ?? ''))}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${lines}\n</tbody></table>`;
}
