// Waits for a condition that an event will make true (a count dropping to 0, a process exiting) where
// the code under test offers no event to await. The deadline only turns a hang into a message: it is
// far above what a loaded 2-core machine needs, and below jest's 120 s test timeout.
export async function eventually(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
