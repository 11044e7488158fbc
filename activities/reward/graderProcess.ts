/**
 * One long-lived math-verify process (python/tirflow_py/grader.py) speaking line-delimited
 * JSON, grading one item at a time. The per-item timeout is enforced here, from outside the
 * process: a comparison that does not answer in time is SIGKILLed, because sympy can spin in
 * C code for minutes (e.g. expanding 9^(9^9)) and no in-process timeout is reliable.
 */
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { GradingStatus } from '../../common/trajectory';
import { pythonProjectDir, requireVenvTool, venvPython } from '../projectPaths';

export interface GradeRequest {
  /** The extracted answer (content of \boxed{}), not a whole response. */
  pred: string;
  /** The reference answer. */
  ref: string;
}

export interface GradeOutcome {
  /** 'correct' | 'incorrect' | 'unparsable' | 'timeout' | 'error' ('format' is decided before grading). */
  status: GradingStatus;
  correct: boolean;
  /** math-verify's reading of the prediction (sympy's str), for humans. */
  predParsed: string | null;
  message: string | null;
  /** The grader process that served the item. */
  pid: number;
  /** Wall-clock window in which the grader process worked on the item (epoch ms). */
  startedAtMs: number;
  finishedAtMs: number;
}

export interface GraderProcessOptions {
  /** Address-space limit of the process, MiB (0 = none). */
  maxMemoryMb: number;
  /** Importing sympy and math-verify takes seconds, longer on a loaded machine. */
  startupTimeoutMs: number;
}

interface Pending {
  resolve: (outcome: GradeOutcome) => void;
  timer: NodeJS.Timeout;
  sentAtMs: number;
}

const STDERR_TAIL_CHARS = 2000;

export class GraderProcess {
  readonly pid: number;
  private readonly subprocess: ResultPromise;
  private readonly lines: AsyncIterator<string>;
  private pending: Pending | null = null;
  private stderrTail = '';
  private exited = false;
  private killed = false;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exit: Promise<void>;

  private constructor(subprocess: ResultPromise) {
    this.subprocess = subprocess;
    if (subprocess.pid === undefined) throw new Error('grader process did not start');
    this.pid = subprocess.pid;
    subprocess.stderr?.setEncoding('utf8');
    subprocess.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    this.lines = createInterface({ input: subprocess.stdout!, crlfDelay: Infinity })[Symbol.asyncIterator]();
    this.exit = subprocess.then(
      () => this.onExit(),
      () => this.onExit(),
    );
  }

  /** Spawns a grader and waits for its ready line. */
  static async spawn(options: GraderProcessOptions): Promise<GraderProcess> {
    const subprocess = execa(
      requireVenvTool(venvPython),
      ['-m', 'tirflow_py.grader', '--max-memory-mb', String(options.maxMemoryMb)],
      { cwd: pythonProjectDir, buffer: false, reject: false, stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' },
    );
    const grader = new GraderProcess(subprocess);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), options.startupTimeoutMs);
    });
    try {
      const first = await Promise.race([grader.lines.next(), timedOut]);
      if (first === 'timeout') {
        throw new Error(`grader process ${grader.pid} not ready after ${options.startupTimeoutMs} ms`);
      }
      if (first.done) {
        await grader.exit; // so that its stderr is complete
        throw new Error(`grader process exited during startup: ${grader.describeStderr()}`);
      }
      const hello = JSON.parse(first.value) as { ready?: boolean };
      if (hello.ready !== true)
        throw new Error(`unexpected first line from grader: ${first.value.slice(0, 200)}`);
    } catch (err) {
      grader.kill();
      await grader.exit;
      throw err;
    } finally {
      clearTimeout(timer);
    }
    grader.readResponses();
    return grader;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  /** False once the process exited or was killed: the pool must replace it. */
  get usable(): boolean {
    return !this.exited && !this.killed;
  }

  /**
   * Grades one item. Always resolves: a timeout or a crash of the process becomes the
   * item's outcome (the process is then dead and the caller replaces it).
   */
  grade(request: GradeRequest, timeoutMs: number): Promise<GradeOutcome> {
    if (this.pending) throw new Error(`grader process ${this.pid} is busy`);
    if (this.exited) throw new Error(`grader process ${this.pid} has exited`);
    return new Promise<GradeOutcome>((resolve) => {
      const sentAtMs = Date.now();
      const timer = setTimeout(() => {
        this.settle(this.failure('timeout', `no answer within ${timeoutMs} ms; grader process killed`));
        this.kill();
      }, timeoutMs);
      this.pending = { resolve, timer, sentAtMs };
      this.subprocess.stdin?.write(
        JSON.stringify({ id: this.pid, pred: request.pred, ref: request.ref }) + '\n',
      );
    });
  }

  kill(): void {
    this.killed = true;
    if (!this.exited) this.subprocess.kill('SIGKILL');
  }

  /** Ends stdin so the process exits on its own; kills it if it does not. */
  async close(graceMs = 2000): Promise<void> {
    if (this.exited) return;
    this.subprocess.stdin?.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exit;
    clearTimeout(timer);
  }

  private readResponses(): void {
    void (async () => {
      for (;;) {
        const next = await this.lines.next();
        if (next.done) return;
        this.onLine(next.value);
      }
    })();
  }

  private onLine(line: string): void {
    if (!this.pending) return; // the answer to an item that already timed out
    let response: Omit<GradeOutcome, 'pid'>;
    try {
      response = JSON.parse(line) as Omit<GradeOutcome, 'pid'>;
    } catch {
      this.settle(this.failure('error', `grader wrote a non-JSON line: ${line.slice(0, 200)}`));
      return;
    }
    this.settle({
      status: response.status,
      correct: response.correct === true,
      predParsed: response.predParsed ?? null,
      message: response.message ?? null,
      pid: this.pid,
      startedAtMs: response.startedAtMs,
      finishedAtMs: response.finishedAtMs,
    });
  }

  private onExit(): void {
    this.exited = true;
    if (this.pending) this.settle(this.failure('error', `grader process exited: ${this.describeStderr()}`));
  }

  private settle(outcome: GradeOutcome): void {
    const pending = this.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pending = null;
    pending.resolve(outcome);
  }

  private failure(status: GradingStatus, message: string): GradeOutcome {
    return {
      status,
      correct: false,
      predParsed: null,
      message,
      pid: this.pid,
      startedAtMs: this.pending?.sentAtMs ?? Date.now(),
      finishedAtMs: Date.now(),
    };
  }

  private describeStderr(): string {
    const tail = this.stderrTail.trim().split('\n').slice(-5).join(' | ');
    return tail === '' ? '(no stderr)' : tail;
  }
}
