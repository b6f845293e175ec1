// Command-line handling shared by the scripts: `--help` prints the usage; otherwise zod validates the
// parsed flags, and wrong ones print what was wrong plus the usage and set exit code 2.
import type { z } from 'zod';

/** The validated flags, or undefined when the caller should stop (help shown, or flags wrong). */
export function validateFlags<T extends z.ZodType>(schema: T, values: { readonly help?: boolean | undefined }, usage: string): z.output<T> | undefined {
  if (values.help) {
    console.log(usage);
    return undefined;
  }
  const parsed = schema.safeParse(values);
  if (!parsed.success) {
    console.error(`${parsed.error.issues.map((issue) => issue.message).join('\n')}\n\n${usage}`);
    process.exitCode = 2;
    return undefined;
  }
  return parsed.data;
}
