/**
 * Making an OpenAI-compatible server serve a new policy after each update. The choice is an
 * explicit config value (`engine.weightReload`), never a silent default:
 *
 * - 'none':   nothing is called. For servers whose weights do not change (evaluation of a
 *             fixed policy), or when an operator reloads them by other means.
 * - 'sglang': POST {server}/update_weights_from_disk {"model_path": <policy HF folder>}, SGLang's
 *             endpoint for RL weight sync; the folder must be readable by the server.
 * - 'vllm':   re-points the symlink the server was started on (`engine.servedPolicyLink`) at the
 *             policy's HF folder (atomically: a new link renamed over the old), then POST
 *             {server}/collective_rpc {"method": "reload_weights"} (enabled by starting vLLM with
 *             VLLM_SERVER_DEV_MODE=1) and POST {server}/reset_prefix_cache. vLLM re-reads the
 *             folder it was started with, hence the link.
 *
 * {server} is baseUrl without its /v1 suffix.
 */
import { rename, rm, symlink } from 'node:fs/promises';
import { ApplicationFailure } from '@temporalio/common';

export type WeightReload = 'none' | 'vllm' | 'sglang';

export function serverRoot(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
}

async function post(url: string, body: object, timeoutS: number): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutS * 1000),
  });
  const text = await response.text();
  if (response.status === 404 || response.status === 405) {
    throw ApplicationFailure.nonRetryable(
      `${url} does not exist on this server (HTTP ${response.status}): ${text.slice(0, 300)}`,
      'WeightReloadUnsupported',
    );
  }
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${text.slice(0, 300)}`);
  // SGLang answers 200 with {"success": false, "message": ...} when loading fails.
  if (text.includes('"success"') && (JSON.parse(text) as { success?: boolean }).success === false) {
    throw new Error(`${url}: ${text.slice(0, 500)}`);
  }
}

/** Makes `link` a symlink to `target` in one rename, so a reader never finds it missing. */
export async function repointLink(link: string, target: string): Promise<void> {
  const fresh = `${link}.tirflow-${process.pid}-${Date.now()}`;
  await symlink(target, fresh);
  try {
    await rename(fresh, link);
  } catch (err) {
    await rm(fresh, { force: true });
    throw err;
  }
}

/** Tells the server to load `modelPath`; resolves when the server reports it loaded. */
export async function reloadWeights(
  kind: WeightReload,
  baseUrl: string,
  modelPath: string,
  timeoutS = 600,
  servedPolicyLink?: string,
): Promise<void> {
  const root = serverRoot(baseUrl);
  switch (kind) {
    case 'none':
      return;
    case 'sglang':
      return post(`${root}/update_weights_from_disk`, { model_path: modelPath }, timeoutS);
    case 'vllm':
      if (servedPolicyLink === undefined) {
        throw ApplicationFailure.nonRetryable(
          'weightReload vllm needs engine.servedPolicyLink, the path the vLLM server was started on',
          'WeightReloadMisconfigured',
        );
      }
      await repointLink(servedPolicyLink, modelPath);
      await post(`${root}/collective_rpc`, { method: 'reload_weights' }, timeoutS);
      await post(`${root}/reset_prefix_cache`, {}, timeoutS);
      return;
  }
}
