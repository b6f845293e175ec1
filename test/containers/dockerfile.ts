// Reads the Dockerfile into stages of normalized instructions, for the lint and target-diff tests.
import { DockerfileParser } from 'dockerfile-ast';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const DOCKERFILE = join(REPO_ROOT, 'Dockerfile');

export interface Instruction {
  readonly keyword: string;
  /** Flags and arguments, with line continuations folded and whitespace collapsed. */
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  /** The FROM argument with top-level ARG defaults substituted. */
  readonly base: string;
  readonly instructions: Instruction[];
}

export function readDockerfile(path = DOCKERFILE): { globalArgs: Map<string, string>; stages: Stage[]; text: string } {
  const text = readFileSync(path, 'utf8');
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction
      .getTextContent()
      .slice(keyword.length)
      .replace(/\\\r?\n/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
    const line = instruction.getRange().start.line + 1;
    const current = stages.at(-1);
    if (keyword === 'FROM') {
      const [image = '', , name = image] = args.split(' ');
      const base = image.replace(/\$\{(\w+)\}/g, (_, arg: string) => globalArgs.get(arg) ?? `\${${arg}}`);
      stages.push({ name, base, instructions: [] });
    } else if (current === undefined && keyword === 'ARG') {
      const [name = '', value = ''] = args.split('=');
      globalArgs.set(name, value.replace(/^"|"$/g, ''));
    } else if (current !== undefined) {
      current.instructions.push({ keyword, args, line });
    }
  }
  return { globalArgs, stages, text };
}

export function stage(stages: Stage[], name: string): Stage {
  const found = stages.find((candidate) => candidate.name === name);
  if (found === undefined) throw new Error(`the Dockerfile has no stage named ${name} (stages: ${stages.map((s) => s.name).join(', ')})`);
  return found;
}

/** The HEALTHCHECK's command as an argv array (exec form), or undefined when the stage has none. */
export function healthcheckCommand(target: Stage): string[] | undefined {
  const healthcheck = target.instructions.find((instruction) => instruction.keyword === 'HEALTHCHECK');
  const exec = healthcheck?.args.match(/CMD (\[.*\])$/)?.[1];
  return exec === undefined ? undefined : (JSON.parse(exec) as string[]);
}
