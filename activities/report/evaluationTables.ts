/**
 * A standalone evaluation's results as Markdown: one table of every set (greedy accuracy or
 * avg@k, pass@k, maj@k, code ratio, code calls, length, truncation), pass@j when sampled, the
 * per-level table of sets with levels (MATH-500), and the tool-budget sweep. Pure.
 */
import type { EvaluationRecord, EvaluationResult } from '../../common/activityContracts';

const pct = (x: number | undefined): string => (x === undefined ? 'n/a' : `${(100 * x).toFixed(1)}%`);
const num = (x: number | undefined, digits = 2): string => (x === undefined ? 'n/a' : x.toFixed(digits));

/** Responses generated for a result: the weight of its per-response statistics in a mean. */
const responses = (r: EvaluationResult): number =>
  (r.summary.prompts - (r.summary.promptsSkipped ?? 0)) * r.summary.samplesPerPrompt;

function weighted(
  results: readonly EvaluationResult[],
  value: (r: EvaluationResult) => number | undefined,
): number {
  let total = 0;
  let weight = 0;
  for (const r of results) {
    const v = value(r);
    if (v === undefined) continue;
    total += v * responses(r);
    weight += responses(r);
  }
  return weight === 0 ? 0 : total / weight;
}

export function describeSettings(record: EvaluationRecord): string {
  const k = record.samplesPerPrompt;
  const sampling = k === 1 ? 'greedy (k = 1)' : `k = ${k} samples at temperature ${record.temperature}`;
  const budgets =
    record.toolBudgets.length > 1
      ? `tool budgets ${record.toolBudgets.join(', ')}`
      : `tool budget ${record.toolBudgets[0]}`;
  const template = record.template === 'tool' ? 'tool (ZeroTIR)' : 'noTool (ZeroRL)';
  return (
    `${record.policy.ref} (policy v${record.policy.version}) | template ${template} | ${sampling} | ${budgets} | ` +
    `${record.maxResponseTokens} response tokens | engine ${record.engine} | config: ${record.configSource}`
  );
}

function mainTable(record: EvaluationRecord): string[] {
  const k = record.samplesPerPrompt;
  const sweep = record.toolBudgets.length > 1;
  const accuracy = k === 1 ? 'accuracy (greedy)' : `avg@${k}`;
  const header = [
    'benchmark',
    ...(sweep ? ['tool budget'] : []),
    'prompts',
    'skipped¹',
    accuracy,
    `pass@${k}`,
    `maj@${k}`,
    'code ratio',
    'code calls / response',
    'response tokens',
    'truncated',
  ];
  const rows = record.results.map((r) => {
    const s = r.summary;
    return [
      r.set,
      ...(sweep ? [String(r.toolBudget)] : []),
      String(s.prompts),
      String(s.promptsSkipped ?? 0),
      pct(s.accuracy),
      pct(s.passAtK),
      pct(s.majAtK),
      pct(s.codeRatio),
      num(s.codeCallsPerResponse),
      s.meanResponseTokens.toFixed(0),
      pct(s.truncationRate),
    ];
  });
  return [row(header), row(header.map(() => '---')), ...rows.map(row)];
}

const row = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;

function passAtTable(record: EvaluationRecord): string[] {
  const ks = Object.keys(record.results[0]?.summary.passAt ?? {});
  if (record.samplesPerPrompt === 1 || ks.length === 0) return [];
  const header = [
    'benchmark',
    ...(record.toolBudgets.length > 1 ? ['tool budget'] : []),
    ...ks.map((j) => `pass@${j}`),
  ];
  return [
    '',
    'Unbiased pass@j (Chen et al. 2021) from the k samples of each prompt:',
    '',
    row(header),
    row(header.map(() => '---')),
    ...record.results.map((r) =>
      row([
        r.set,
        ...(record.toolBudgets.length > 1 ? [String(r.toolBudget)] : []),
        ...ks.map((j) => pct(r.summary.passAt?.[j])),
      ]),
    ),
  ];
}

/** Per-level accuracy of each set that has levels, one column per tool budget. */
function levelTables(record: EvaluationRecord): string[] {
  const lines: string[] = [];
  const sets = [...new Set(record.results.map((r) => r.set))];
  for (const set of sets) {
    const results = record.results.filter((r) => r.set === set);
    const levels = [...new Set(results.flatMap((r) => Object.keys(r.summary.accuracyByLevel)))].sort((a, b) =>
      a.localeCompare(b, 'en', { numeric: true }),
    );
    if (levels.length === 0) continue;
    const sweep = results.length > 1;
    const header = [
      'level',
      'prompts',
      ...results.map((r) => (sweep ? `budget ${r.toolBudget}` : 'accuracy')),
    ];
    lines.push('', `${set} by level:`, '', row(header), row(header.map(() => '---')));
    for (const level of levels)
      lines.push(
        row([
          level,
          String(results[0]!.summary.promptsByLevel?.[level] ?? 'n/a'),
          ...results.map((r) => pct(r.summary.accuracyByLevel[level])),
        ]),
      );
  }
  return lines;
}

export interface SweepPoint {
  toolBudget: number;
  /** Accuracy (avg@k) per set. */
  accuracy: Record<string, number>;
  meanAccuracy: number;
  codeCallsPerResponse: number;
  responseTokens: number;
}

/** The sweep's numbers: per tool budget, accuracy per set and the means over sets. */
export function sweepPoints(record: EvaluationRecord): SweepPoint[] {
  return record.toolBudgets.map((toolBudget) => {
    const results = record.results.filter((r) => r.toolBudget === toolBudget);
    const accuracy = Object.fromEntries(results.map((r) => [r.set, r.summary.accuracy]));
    const values = Object.values(accuracy);
    return {
      toolBudget,
      accuracy,
      meanAccuracy: values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length,
      codeCallsPerResponse: weighted(results, (r) => r.summary.codeCallsPerResponse),
      responseTokens: weighted(results, (r) => r.summary.meanResponseTokens),
    };
  });
}

function sweepTable(record: EvaluationRecord): string[] {
  if (record.toolBudgets.length < 2) return [];
  const sets = [...new Set(record.results.map((r) => r.set))];
  const k = record.samplesPerPrompt;
  const header = [
    'max executions',
    ...sets.map((s) => `${s} ${k === 1 ? 'acc.' : `avg@${k}`}`),
    'mean over benchmarks',
    'code calls / response',
    'response tokens',
  ];
  return [
    '',
    'Tool-budget sweep (the maximum number of code executions per response):',
    '',
    row(header),
    row(header.map(() => '---')),
    ...sweepPoints(record).map((p) =>
      row([
        String(p.toolBudget),
        ...sets.map((s) => pct(p.accuracy[s])),
        pct(p.meanAccuracy),
        num(p.codeCallsPerResponse),
        p.responseTokens.toFixed(0),
      ]),
    ),
  ];
}

/** The whole Markdown of an evaluation, as printed by `tirflow eval` and written to results.md. */
export function evaluationMarkdown(record: EvaluationRecord): string {
  const rule = record.results.find((r) => r.summary.skipRule !== undefined)?.summary.skipRule;
  const lines = [
    `Evaluation ${record.evaluationId}: ${describeSettings(record)}`,
    '',
    ...mainTable(record),
    ...passAtTable(record),
    ...levelTables(record),
    ...sweepTable(record),
    '',
    `¹ Skipped prompts are not generated and count as wrong in every number: ${rule ?? 'none were skipped'}.`,
  ];
  return `${lines.join('\n')}\n`;
}
