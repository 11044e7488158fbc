/**
 * The search attributes of tirflow workflows: every run, evaluation and shard carries them, so
 * `temporal workflow list -q` and the Web UI's filters find runs by what they are:
 *   TirflowTemplate = 'tool' AND TirflowStep > 10                   ZeroTIR runs past step 10
 *   TirflowRunId = 'X' AND WorkflowType = 'rolloutShard' AND ExecutionStatus = 'Failed'
 * A cluster must have them registered (`tirflow dev` does; `temporal operator search-attribute
 * create` on a self-hosted one). Pure: safe to import from workflows.
 */
import { defineSearchAttributeKey, type SearchAttributePair } from '@temporalio/common';

export const searchAttributeKeys = {
  runId: defineSearchAttributeKey('TirflowRunId', 'KEYWORD'),
  template: defineSearchAttributeKey('TirflowTemplate', 'KEYWORD'),
  algorithm: defineSearchAttributeKey('TirflowAlgorithm', 'KEYWORD'),
  model: defineSearchAttributeKey('TirflowModel', 'KEYWORD'),
  seed: defineSearchAttributeKey('TirflowSeed', 'INT'),
  step: defineSearchAttributeKey('TirflowStep', 'INT'),
  policyVersion: defineSearchAttributeKey('TirflowPolicyVersion', 'INT'),
  phase: defineSearchAttributeKey('TirflowPhase', 'KEYWORD'),
} as const;

/** Name → Temporal type, for registering them (`temporal server start-dev --search-attribute`). */
export const searchAttributeTypes: Readonly<Record<string, 'Keyword' | 'Int'>> = Object.fromEntries(
  Object.values(searchAttributeKeys).map((key) => [key.name, key.type === 'INT' ? 'Int' : 'Keyword']),
);

/** What identifies a run in the attributes (the same on the run and on each of its children). */
export interface RunIdentity {
  runId: string;
  template: string;
  algorithm: string;
  model: string;
  seed: number;
}

export interface RunProgress {
  step: number;
  policyVersion: number;
  phase: string;
}

export function runSearchAttributes(identity: RunIdentity, progress: RunProgress): SearchAttributePair[] {
  const k = searchAttributeKeys;
  return [
    { key: k.runId, value: identity.runId },
    { key: k.template, value: identity.template },
    { key: k.algorithm, value: identity.algorithm },
    // Keyword values are capped (~2 KB); a model path never needs more than its tail.
    { key: k.model, value: identity.model.slice(-200) },
    { key: k.seed, value: identity.seed },
    { key: k.step, value: progress.step },
    { key: k.policyVersion, value: progress.policyVersion },
    { key: k.phase, value: progress.phase },
  ];
}
