/**
 * A trajectory in the state a closed ```python block leaves it: the block's tokens appended as
 * model tokens (mask 1), waiting for `code` to be executed. Test models rarely write code by
 * themselves; tests of executeCode and of the turn after it start from this.
 */
import type { Tokenizer } from '../../common/toolProtocol';
import type { Trajectory } from '../../common/trajectory';

export function awaitingExecution(base: Trajectory, tokenizer: Tokenizer, code: string): Trajectory {
  const block = tokenizer.encode(` \`\`\`python\n${code}\n\`\`\``);
  return {
    ...base,
    responseTokenIds: block,
    actionMask: block.map(() => 1),
    responseText: tokenizer.decode(block),
    phase: 'awaitingExecution',
    stopReason: 'code',
    toolCalls: 1,
    pendingCode: code,
  };
}
