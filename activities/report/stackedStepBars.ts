/**
 * The report's shared chart style, and its one stacked-bar chart: a quantity per training step
 * split into coloured parts, one panel per run (sandbox outcomes, step timings, update batches).
 */
import type { TopLevelSpec } from 'vega-lite';

export const CHART_WIDTH = 560;
export const CHART_HEIGHT = 240;
/** Fonts tried in order by the SVG viewer and by resvg (which does not read fontconfig aliases). */
export const CHART_FONT = 'Liberation Sans, Arial, Helvetica, DejaVu Sans, sans-serif';
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
export const chartConfig = {
  font: CHART_FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 },
};

export interface StackedStepBars {
  title: string;
  /** One row per bar segment: `step`, `run`, `order` and the value and colour fields below. */
  bars: readonly object[];
  runLabels: readonly string[];
  value: { field: string; title: string };
  colour: { field: string; title: string; parts: ReadonlyArray<{ name: string; color: string }> };
  /** Each run's panel scaled to itself (counts that differ by orders of magnitude). */
  independentY?: boolean;
}

export function stackedStepBars(chart: StackedStepBars): TopLevelSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: chart.title,
    config: chartConfig,
    data: { values: [...chart.bars] },
    facet: { row: { field: 'run', type: 'nominal', title: null, sort: [...chart.runLabels] } },
    ...(chart.independentY ? { resolve: { scale: { y: 'independent' } } } : {}),
    spec: {
      width: CHART_WIDTH,
      height: Math.max(120, Math.round(CHART_HEIGHT / chart.runLabels.length)),
      mark: { type: 'bar' },
      encoding: {
        x: {
          field: 'step',
          type: 'ordinal',
          title: 'training step',
          axis: { labelAngle: 0, labelOverlap: true },
        },
        y: { field: chart.value.field, type: 'quantitative', stack: 'zero', title: chart.value.title },
        color: {
          field: chart.colour.field,
          type: 'nominal',
          title: chart.colour.title,
          scale: {
            domain: chart.colour.parts.map((p) => p.name),
            range: chart.colour.parts.map((p) => p.color),
          },
        },
        order: { field: 'order', type: 'quantitative' },
      },
    },
  } satisfies TopLevelSpec;
}
