// Reads a server-sent-events response body into its `data:` payloads (for HTTP tests).

export async function readSseData(response: Response): Promise<{ raw: string; data: string[] }> {
  const raw = await response.text();
  const data = raw
    .split('\n\n')
    .filter((event) => event !== '')
    .map((event) => {
      if (!event.startsWith('data: ')) throw new Error(`Not an SSE data event: ${JSON.stringify(event)}`);
      return event.slice('data: '.length);
    });
  return { raw, data };
}
