/** Loads a recorded history JSON (written by test/histories/record.ts) for Worker.runReplayHistory. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

export function loadRecordedHistory(name: string): ReturnType<typeof historyFromJSON> {
  const path = fileURLToPath(new URL(`../histories/${name}.history.json`, import.meta.url));
  return historyFromJSON(JSON.parse(readFileSync(path, 'utf8')) as unknown);
}

export function workflowsPath(relativeToTestDir: string): string {
  return fileURLToPath(new URL(`../${relativeToTestDir}`, import.meta.url));
}
