/**
 * The report page: one self-contained HTML file (inline SVG charts and CSS, no scripts, nothing
 * fetched), with a headline table, the correlation table, the charts and the per-level table.
 * Pure: summaries and rendered SVGs in, HTML text out.
 */
import type { ChartSpec } from './charts';
import type { RankCorrelationTest } from './correlation';
import { describeSettings } from './evaluationTables';
import { formatPValue } from './scalingLaw';
import { levelsOf, type FirstLast, type RunSummary } from './summary';

export interface RenderedChart {
  chart: ChartSpec;
  svg: string;
  /** File name of the chart's PNG, next to the HTML. */
  pngFile: string;
}

export interface ReportPage {
  title: string;
  artifactRoot: string;
  summaries: RunSummary[];
  charts: RenderedChart[];
}

const CSS = `
body { font-family: 'Liberation Sans', Arial, Helvetica, sans-serif; margin: 2rem auto; max-width: 1100px;
  padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.meta { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
td { white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f3f3; }
td.na { color: #999; }
figure { margin: 1.5rem 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: .9rem; }
code { font-size: .88rem; }
`;

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export const formatShare = (x: number): string => `${(100 * x).toFixed(1)}%`;

/** Three decimals, or n/a when undefined (a constant series, or fewer than two steps). */
export const formatCorrelation = (r: number | null): string => (r === null ? 'n/a' : r.toFixed(3));

function correlationCell(r: number | null): string {
  return r === null
    ? '<td class="na" title="undefined: a constant series or fewer than two steps">n/a</td>'
    : `<td>${formatCorrelation(r)}</td>`;
}

function firstLastCell(range: FirstLast | null, format: (x: number) => string): string {
  if (range === null) return '<td class="na">none</td>';
  return (
    `<td>${format(range.first.value)} → ${format(range.last.value)} ` +
    `<span class="meta">(step ${range.first.step} → ${range.last.step})</span></td>`
  );
}

const templateName = (t: RunSummary['template']): string =>
  t === 'tool' ? 'tool (ZeroTIR)' : t === 'noTool' ? 'no tool (ZeroRL)' : 'unknown';

function headlineTable(summaries: readonly RunSummary[]): string {
  const rows = summaries.map(
    (s) =>
      `<tr><td>${escapeHtml(s.label)}</td><td>${templateName(s.template)}</td><td>${s.steps}</td>` +
      firstLastCell(s.codeRatio, formatShare) +
      firstLastCell(s.validationAccuracy, formatShare) +
      correlationCell(s.accuracyVsCodeRatio.spearman) +
      correlationCell(s.accuracyVsResponseLength.spearman) +
      '</tr>',
  );
  return `<table id="headline">
<thead><tr><th>run</th><th>template</th><th>steps</th><th>code ratio</th><th>validation accuracy</th>
<th>Spearman(accuracy, code ratio)</th><th>Spearman(accuracy, length)</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

function correlationTable(summaries: readonly RunSummary[]): string {
  const rows = summaries.map(
    (s) =>
      `<tr><td>${escapeHtml(s.label)}</td><td>${s.accuracyVsCodeRatio.n}</td>` +
      correlationCell(s.accuracyVsCodeRatio.spearman) +
      correlationCell(s.accuracyVsCodeRatio.pearson) +
      correlationCell(s.accuracyVsResponseLength.spearman) +
      correlationCell(s.accuracyVsResponseLength.pearson) +
      '</tr>',
  );
  return `<table id="correlations">
<thead><tr><th rowspan="2">run</th><th rowspan="2">steps</th><th colspan="2">accuracy vs code ratio</th>
<th colspan="2">accuracy vs response length</th></tr>
<tr><th>Spearman</th><th>Pearson</th><th>Spearman</th><th>Pearson</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

function trendCell(test: RankCorrelationTest): string {
  if (test.rho === null) return correlationCell(null);
  return `<td>${formatCorrelation(test.rho)} <span class="meta">(p ${escapeHtml(formatPValue(test.pValue))})</span></td>`;
}

function trendTable(summaries: readonly RunSummary[]): string {
  const rows = summaries.map(
    (s) =>
      `<tr><td>${escapeHtml(s.label)}</td><td>${s.stepTrends.accuracy.n}</td>` +
      trendCell(s.stepTrends.accuracy) +
      trendCell(s.stepTrends.codeRatio) +
      trendCell(s.stepTrends.responseLength) +
      '</tr>',
  );
  return `<table id="trends">
<thead><tr><th>run</th><th>steps</th><th>training accuracy</th><th>code ratio</th><th>response length</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

function benchmarkTable(summaries: readonly RunSummary[]): string {
  const rows = summaries.flatMap((s) =>
    s.benchmarks.map(
      (b) =>
        `<tr><td>${escapeHtml(s.label)}</td><td>${escapeHtml(b.name)}</td><td>${b.prompts}</td><td>${b.skipped}</td>` +
        firstLastCell(b.accuracy, formatShare) +
        '</tr>',
    ),
  );
  if (rows.length === 0)
    return '<p id="benchmarks" class="meta">No benchmarks evaluated in training (evaluation.benchmarks is empty).</p>';
  return `<table id="benchmarks">
<thead><tr><th>run</th><th>benchmark</th><th>prompts</th><th>skipped (too long)</th><th>accuracy</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

function standaloneTable(summaries: readonly RunSummary[]): string {
  const records = summaries.flatMap((s) => s.standaloneEvaluations);
  if (records.length === 0)
    return '<p id="standalone" class="meta">None: <code>tirflow eval --policy RUN:STEP</code> files its results here.</p>';
  const rows = records.flatMap((record) =>
    record.results.map(
      (r) =>
        `<tr><td><code>${escapeHtml(record.evaluationId)}</code></td><td>${escapeHtml(r.unit)}</td>` +
        `<td>${r.summary.prompts}</td><td>${r.summary.promptsSkipped ?? 0}</td><td>${formatShare(r.summary.accuracy)}</td>` +
        `<td>${formatShare(r.summary.passAtK)}</td><td>${r.summary.majAtK === undefined ? 'n/a' : formatShare(r.summary.majAtK)}</td>` +
        `<td>${formatShare(r.summary.codeRatio)}</td><td>${r.summary.meanResponseTokens.toFixed(0)}</td></tr>`,
    ),
  );
  const settings = records
    .map((r) => `<li><code>${escapeHtml(r.evaluationId)}</code>: ${escapeHtml(describeSettings(r))}</li>`)
    .join('\n');
  return `<ul class="meta">
${settings}
</ul>
<table id="standalone">
<thead><tr><th>evaluation</th><th>benchmark</th><th>prompts</th><th>skipped</th><th>accuracy / avg@k</th><th>pass@k</th><th>maj@k</th><th>code ratio</th><th>response tokens</th></tr></thead>
<tbody>
${rows.join('\n')}
</tbody></table>`;
}

function levelTable(summaries: readonly RunSummary[]): string {
  const levels = levelsOf(summaries);
  if (levels.length === 0)
    return '<p id="levels" class="meta">No evaluations: no per-level accuracy to show.</p>';
  const header = summaries
    .map((s) => {
      const at = s.finalLevels === null ? 'no evaluations' : `step ${s.finalLevels.step}`;
      return `<th>${escapeHtml(s.label)}<br><span class="meta">${at}</span></th>`;
    })
    .join('');
  const cell = (s: RunSummary, level: string): string => {
    const accuracy = s.finalLevels?.accuracyByLevel[level];
    return accuracy === undefined ? '<td class="na">—</td>' : `<td>${formatShare(accuracy)}</td>`;
  };
  const rows = levels.map(
    (level) => `<tr><td>${escapeHtml(level)}</td>${summaries.map((s) => cell(s, level)).join('')}</tr>`,
  );
  const overall = summaries
    .map((s) =>
      s.validationAccuracy === null
        ? '<td class="na">—</td>'
        : `<td>${formatShare(s.validationAccuracy.last.value)}</td>`,
    )
    .join('');
  return `<table id="levels">
<thead><tr><th>level</th>${header}</tr></thead>
<tbody>
${rows.join('\n')}
<tr><td><strong>all</strong></td>${overall}</tr>
</tbody></table>`;
}

/** Vega numbers its clip paths and gradients per process; prefix them so inlined charts never clash. */
function scopeSvgIds(svg: string, scope: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, `id="${scope}-$1"`)
    .replace(/url\(#/g, `url(#${scope}-`)
    .replace(/href="#/g, `href="#${scope}-`);
}

function figure({ chart, svg, pngFile }: RenderedChart): string {
  return `<figure id="chart-${chart.id}">
${scopeSvgIds(svg, chart.id)}
<figcaption>${escapeHtml(chart.caption)} PNG: <a href="${encodeURI(pngFile)}">${escapeHtml(pngFile)}</a></figcaption>
</figure>`;
}

export function reportHtml(page: ReportPage): string {
  const runList = page.summaries.map((s) => `<code>${escapeHtml(s.runId)}</code>`).join(', ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(page.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(page.title)}</h1>
<p class="meta">Runs ${runList} from the artifact store <code>${escapeHtml(page.artifactRoot)}</code>.</p>

<h2>Headline</h2>
${headlineTable(page.summaries)}

<h2>Correlation over training steps</h2>
<p>Training accuracy against code ratio and against mean response length, one pair per training
step. Spearman ranks both series (ties share their average rank) and asks whether they rise
together; Pearson measures a linear relation. n/a: a constant series (no code ever run) or fewer
than two steps.</p>
${correlationTable(page.summaries)}

<h2>Trends over training steps</h2>
<p>Spearman's rho of each quantity with the training step, and its two-sided p-value (Student's t
with n - 2 degrees of freedom): the paper finds all three rising with training.</p>
${trendTable(page.summaries)}

<h2>Charts</h2>
${page.charts.map(figure).join('\n')}

<h2>Final validation accuracy by level</h2>
${levelTable(page.summaries)}

<h2>Benchmarks during training</h2>
${benchmarkTable(page.summaries)}

<h2>Standalone evaluations</h2>
${standaloneTable(page.summaries)}
</body>
</html>
`;
}
