/**
 * A reference to one policy version: small enough for any workflow payload. Weights never
 * travel; they are found through these locations.
 */

/** Where a model folder is: the configured base model on disk, or a trained one in the store. */
export type ModelLocation = { store: 'filesystem'; path: string } | { store: 'artifacts'; key: string };

export interface PolicyRef {
  /** 0 = the base model; N = the policy produced by step N's update. Applied exactly once. */
  version: number;
  /** Hugging Face format folder (config.json, model.safetensors, tokenizer files). */
  hfDir: ModelLocation;
  /** Folder with model.onnx (KV-cache signature) + tokenizer files, for the `onnx` engine. */
  onnxDir: ModelLocation | null;
}

export function describePolicy(policy: PolicyRef): string {
  const where = (loc: ModelLocation): string => (loc.store === 'filesystem' ? loc.path : `store:${loc.key}`);
  return `policy v${policy.version} (${where(policy.hfDir)})`;
}
