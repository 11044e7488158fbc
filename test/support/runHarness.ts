/**
 * The setup every workflow test file shares: the test Temporal server, an all-roles worker in
 * this process and a model, made once before the file's tests and torn down after them.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { fixtureModel } from '../generation/fixtureModel';
import { startLocalWorker, type LocalWorker } from './localWorker';
import { connectTestTemporal, type TestTemporal } from './temporal';

export interface RunHarness {
  temporal: TestTemporal;
  worker: LocalWorker;
  /** Hugging Face folder of the model runs use. */
  model: string;
}

/** Registers before/after hooks; the returned function gives the harness inside tests. */
export function useRunHarness(
  model: () => Promise<string> = async () => (await fixtureModel()).hfDir,
): () => RunHarness {
  let harness: RunHarness | undefined;
  before(async () => {
    const temporal = await connectTestTemporal();
    harness = { temporal, model: await model(), worker: startLocalWorker(temporal.address) };
  });
  after(async () => {
    await harness?.worker.stop();
    await harness?.temporal.close();
  });
  return () => {
    assert.ok(harness, 'the run harness is set up in before()');
    return harness;
  };
}
