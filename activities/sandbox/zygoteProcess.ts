/**
 * One warm sandbox: bwrap running python/tirflow_py/sandbox_zygote.py, serving one execution
 * at a time. Requests go down its stdin as frames ("<byte length>\n<json>"), replies come up
 * its stdout as JSON lines. The zygote enforces each execution's wall clock itself; this side
 * keeps a second, longer deadline and SIGKILLs the whole sandbox (bwrap's pid namespace dies
 * with it) if the zygote itself stops answering.
 */
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import type { SandboxLimits, SandboxResult } from './limits';

export interface ZygoteCommand {
  bwrap: string;
  /** bwrap's arguments up to and including `--`. */
  bwrapArgs: string[];
  /** The interpreter's path inside the sandbox. */
  python: string;
  zygotePath: string;
  config: ZygoteConfig;
}

/** Passed to sandbox_zygote.py as its one argument. */
export interface ZygoteConfig {
  sitePackages: string[];
  preload: string[];
  sandboxUid: number;
  sandboxGid: number;
  /** Runners forked ahead of the requests, so that fork and set-up stay off the latency path. */
  spareRunners: number;
}

interface Pending {
  resolve: (result: SandboxResult) => void;
  timer: NodeJS.Timeout;
  startedAt: number;
}

const STDERR_TAIL_CHARS = 4000;

export class ZygoteProcess {
  /** Host pid of the outer bwrap process. */
  readonly pid: number;
  /** Resolves when the sandbox has exited, for whatever reason. */
  readonly exit: Promise<void>;
  private readonly subprocess: ResultPromise;
  private readonly lines: AsyncIterator<string>;
  private pending: Pending | null = null;
  private stderrTail = '';
  private exited = false;
  private nextId = 1;

  private constructor(subprocess: ResultPromise) {
    if (subprocess.pid === undefined) throw new Error('bwrap did not start');
    this.subprocess = subprocess;
    this.pid = subprocess.pid;
    subprocess.stderr?.setEncoding('utf8');
    subprocess.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    // A write after the sandbox died must not crash the worker: the exit handler reports it.
    subprocess.stdin?.on('error', () => {});
    this.lines = createInterface({ input: subprocess.stdout!, crlfDelay: Infinity })[Symbol.asyncIterator]();
    this.exit = subprocess.then(
      () => this.onExit(),
      () => this.onExit(),
    );
  }

  /** Starts a sandbox and waits until its interpreter has imported everything. */
  static async start(command: ZygoteCommand, startTimeoutMs: number): Promise<ZygoteProcess> {
    const subprocess = execa(
      command.bwrap,
      [
        ...command.bwrapArgs,
        command.python,
        '-I',
        '-S',
        '-B',
        command.zygotePath,
        JSON.stringify(command.config),
      ],
      {
        buffer: false,
        reject: false,
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        extendEnv: false,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      },
    );
    const zygote = new ZygoteProcess(subprocess);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), startTimeoutMs);
    });
    try {
      const first = await Promise.race([zygote.lines.next(), timedOut]);
      if (first === 'timeout') throw new Error(`sandbox not ready after ${startTimeoutMs} ms`);
      if (first.done) {
        await zygote.exit; // so that its stderr is complete
        throw new Error(`sandbox exited while starting: ${zygote.describeStderr()}`);
      }
      const hello = JSON.parse(first.value) as { ready?: boolean };
      if (hello.ready !== true)
        throw new Error(`unexpected first line from the sandbox: ${first.value.slice(0, 200)}`);
    } catch (err) {
      zygote.kill();
      await zygote.exit;
      throw err;
    } finally {
      clearTimeout(timer);
    }
    zygote.readReplies();
    return zygote;
  }

  get usable(): boolean {
    return !this.exited;
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  /**
   * Runs one code block. Always resolves: a sandbox that dies or stops answering becomes the
   * execution's result ('killed' or 'timeout'), and the sandbox is then gone.
   */
  execute(code: string, limits: SandboxLimits, graceMs: number): Promise<SandboxResult> {
    if (this.pending) throw new Error(`sandbox ${this.pid} is busy`);
    if (this.exited) throw new Error(`sandbox ${this.pid} has exited`);
    return new Promise<SandboxResult>((resolve) => {
      const startedAt = performance.now();
      const timer = setTimeout(
        () => {
          this.settle(this.failure('timeout', 'the sandbox stopped answering and was killed'));
          this.kill();
        },
        limits.timeoutS * 1000 + graceMs,
      );
      this.pending = { resolve, timer, startedAt };
      const frame = Buffer.from(JSON.stringify({ id: this.nextId++, code, limits }), 'utf8');
      this.subprocess.stdin?.write(Buffer.concat([Buffer.from(`${frame.length}\n`), frame]));
    });
  }

  kill(): void {
    if (!this.exited) this.subprocess.kill('SIGKILL');
  }

  describeStderr(): string {
    return this.stderrTail.trim() || '(no output on stderr)';
  }

  private readReplies(): void {
    void (async () => {
      for (;;) {
        const next = await this.lines.next();
        if (next.done) return;
        this.onLine(next.value);
      }
    })();
  }

  private onLine(line: string): void {
    if (!this.pending) return; // the reply to an execution already given up on
    let reply: SandboxResult;
    try {
      reply = JSON.parse(line) as SandboxResult;
    } catch {
      this.settle(this.failure('killed', 'the sandbox wrote an unreadable reply and was restarted'));
      this.kill();
      return;
    }
    this.settle({
      status: reply.status,
      stdout: reply.stdout,
      stderr: reply.stderr,
      exitCode: reply.exitCode,
      durationMs: reply.durationMs,
      truncated: reply.truncated,
    });
  }

  private onExit(): void {
    this.exited = true;
    if (this.pending) this.settle(this.failure('killed', 'the sandbox process ended during the execution'));
  }

  private settle(result: SandboxResult): void {
    const pending = this.pending;
    if (!pending) return;
    clearTimeout(pending.timer);
    this.pending = null;
    pending.resolve(result);
  }

  private failure(status: 'timeout' | 'killed', message: string): SandboxResult {
    const durationMs = this.pending ? performance.now() - this.pending.startedAt : 0;
    return { status, stdout: '', stderr: message, exitCode: null, durationMs, truncated: false };
  }
}
