/**
 * The code-writing test model with a busy loop for code: every response opens a ```python block
 * holding `while 1:pass`, so every execution runs until the sandbox's timeout and the sandbox
 * worker is busy for seconds at a time, long enough for a SIGKILL to land on executions in
 * flight (`print(6*7)` finishes in milliseconds).
 */
import { codeWritingModel } from '../deploy/codeWritingModel';

// Every token of the cycle must be distinct in the fixture's tokenizer (the script checks).
const BUSY_CODE = '```python\nwhile 1:pass';

/** Hugging Face folder of the model. */
export const busyCodeWriter = (): Promise<string> => codeWritingModel(BUSY_CODE);
