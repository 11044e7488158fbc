/** The settings two run configs disagree on, by path: "steps: 30 → 5". */
import type { RunConfig } from '../common/config';

function leaves(value: unknown, path: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) leaves(child, path ? `${path}.${key}` : key, out);
    return;
  }
  out.set(path, JSON.stringify(value));
}

export function configDifferences(stored: RunConfig, given: RunConfig): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  leaves(stored, '', a);
  leaves(given, '', b);
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  return paths
    .filter((path) => a.get(path) !== b.get(path))
    .map((path) => `${path}: ${a.get(path) ?? '(unset)'} → ${b.get(path) ?? '(unset)'}`);
}
