/**
 * Reads a run config file (YAML or JSON) and validates it. Relative paths in it (model, data, benchmarks)
 * are resolved against the file's folder, or against the project root for the built-in
 * default, so workers started elsewhere find the same files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../activities/projectPaths';
import { ConfigError, parseRunConfig, type RunConfig } from '../common/config';

export function loadRunConfig(path: string | undefined, overrides: Record<string, unknown> = {}): RunConfig {
  let raw: unknown = {};
  let base = projectRoot;
  const source = path ?? '(built-in defaults)';
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(
        [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`],
        path,
      );
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError([`not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`], path);
    }
    base = dirname(resolve(path));
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(['(top level): expected a mapping of settings'], source);
  }
  const config = parseRunConfig({ ...(raw as Record<string, unknown>), ...overrides }, source);
  const absolute = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  return {
    ...config,
    // A model that is not a local folder stays as written (a Hugging Face id); prepareRun says
    // how to fetch it, since the engines read local files.
    model:
      existsSync(absolute(config.model)) || config.model.startsWith('.')
        ? absolute(config.model)
        : config.model,
    data: {
      ...config.data,
      train: absolute(config.data.train),
      validation: absolute(config.data.validation),
    },
    evaluation: {
      ...config.evaluation,
      // A shipped benchmark has no path: each worker finds it in its own checkout.
      benchmarks: config.evaluation.benchmarks.map((set) =>
        set.path === undefined ? set : { ...set, path: absolute(set.path) },
      ),
    },
    engine:
      config.engine.kind === 'openai' && config.engine.servedPolicyLink !== undefined
        ? { ...config.engine, servedPolicyLink: absolute(config.engine.servedPolicyLink) }
        : config.engine,
  };
}
