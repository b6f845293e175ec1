// Runs one tool with an argument array (child_process.spawn, no shell), streaming its output line by line
// with a `[tool]` prefix and keeping it for the caller; also formats commands for people to copy.
import { spawn } from 'node:child_process';
import { PrerequisiteError } from './errors';
import { INSTALL_HINTS, resolveTool, type ToolName } from './tools';

export interface Command {
  readonly tool: ToolName;
  readonly args: readonly string[];
}

export interface RunOptions {
  /** Keep the output to the caller instead of streaming it (machine-readable output, checks, secrets). */
  readonly quiet?: boolean;
  /** Written to the command's stdin (a password for `docker login --password-stdin`); none: stdin is closed. */
  readonly input?: string;
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type CommandRunner = (command: Command, options?: RunOptions) => Promise<CommandResult>;

/** Where progress goes: one call per line. */
export type Output = (line: string) => void;

export interface RunnerSettings {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** A command as a POSIX shell would take it: arguments with spaces or quotes are single-quoted. */
export function formatCommand(command: Command): string {
  const words = [command.tool, ...command.args];
  return words.map((word) => (SAFE_WORD.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** The last line a command wrote (to stderr, usually): what it said when it failed. */
export function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

/** Splits a stream into lines, calling `onLine` for each complete one and once more for the rest at the end. */
function lineSplitter(onLine: (line: string) => void): { push: (chunk: string) => void; end: () => void } {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk;
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    },
    end() {
      if (pending.length > 0) onLine(pending);
      pending = '';
    },
  };
}

export function createRunner(settings: RunnerSettings): CommandRunner {
  return (command, options = {}) => {
    const path = resolveTool(command.tool, settings.env);
    if (path === undefined) {
      return Promise.reject(new PrerequisiteError(`${command.tool} not found: ${INSTALL_HINTS[command.tool]}`));
    }
    return new Promise((done, fail) => {
      const child = spawn(path, [...command.args], { cwd: settings.cwd, env: settings.env, stdio: ['pipe', 'pipe', 'pipe'] });
      // A tool may exit without reading its stdin; the EPIPE that follows is no failure of the command.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
      let stdout = '';
      let stderr = '';
      const show = (line: string) => {
        if (!options.quiet) settings.output(`[${command.tool}] ${line}`);
      };
      const out = lineSplitter(show);
      const err = lineSplitter(show);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        out.push(chunk);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        err.push(chunk);
      });
      child.on('error', (error) => fail(new PrerequisiteError(`${formatCommand(command)} could not start: ${error.message}`)));
      child.on('close', (code, signal) => {
        out.end();
        err.end();
        // A signal (e.g. Ctrl-C) counts as a failure with the conventional 128+n code.
        done({ code: code ?? (signal === null ? 1 : 128 + 15), stdout, stderr });
      });
    });
  };
}
