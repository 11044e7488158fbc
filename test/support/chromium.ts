/**
 * The report page as a browser shows it: headless Chromium loads the page (scripts run), and a
 * probe script measures each chart after layout. Used by the report and demo tests.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';

/** The page's DOM after Chromium loaded it (and ran any script in it). */
export async function dumpDom(htmlPath: string): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'tirflow-chromium-'));
  try {
    const result = await execa(
      process.env.TIRFLOW_CHROMIUM ?? 'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--dump-dom',
        pathToFileURL(htmlPath).href,
      ],
      { reject: false, timeout: 120_000 },
    );
    assert.equal(result.exitCode, 0, `chromium failed: ${String(result.stderr)}`);
    return String(result.stdout);
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/**
 * Measured in the browser after layout: each figure's SVG box and, per Vega mark type (line,
 * rect, symbol, text), how many data-mark elements have a non-empty bounding box.
 */
const MEASURE_SCRIPT = `<script>
const figures = [...document.querySelectorAll('figure')].map((figure) => {
  const svg = figure.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
  const drawn = {};
  for (const group of svg ? svg.querySelectorAll('g.role-mark') : []) {
    const type = [...group.classList].find((c) => c.startsWith('mark-')).slice(5);
    for (const el of group.children) {
      const b = el.getBBox();
      const shape = type === 'line' ? b.width + b.height > 0 : b.width > 0 && b.height > 0;
      if (shape) drawn[type] = (drawn[type] || 0) + 1;
    }
  }
  const text = svg ? svg.textContent : '';
  return { id: figure.id, width: box.width, height: box.height, drawn, text };
});
const out = document.createElement('pre');
out.id = 'measurements';
out.textContent = JSON.stringify(figures);
document.body.appendChild(out);
</script>`;

export interface Measured {
  id: string;
  width: number;
  height: number;
  drawn: Record<string, number>;
  text: string;
}

export async function measureCharts(htmlPath: string, scratch: string): Promise<Measured[]> {
  const probe = join(scratch, 'measure.html');
  await writeFile(probe, (await readFile(htmlPath, 'utf8')).replace('</body>', `${MEASURE_SCRIPT}</body>`));
  const dom = await dumpDom(probe);
  const json = /<pre id="measurements">([^<]*)<\/pre>/.exec(dom);
  assert.ok(json, 'the measuring script ran in Chromium');
  return JSON.parse(json[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as Measured[];
}
