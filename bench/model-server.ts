/**
 * A stand-in for a model server for the benchmarks: the OpenAI chat completions protocol over
 * HTTP (POST /v1/chat/completions, streamed as server-sent events with usage), every answer
 * after a fixed delay, as many requests at once as are sent: what bounds a model agent is the
 * wait, not this server.
 */
import { createServer, type Server } from 'node:http';
import { freePort } from '../src/embedded/postgres.js';

export interface ModelServer {
  /** The base URL for MODEL_BASE_URL. */
  url: string;
  /** Requests answered so far, the most answered at once, and when each arrived (epoch ms). */
  stats: { requests: number; peak: number; arrivals: number[] };
  close(): Promise<void>;
}

export async function startModelServer(delayMs: number): Promise<ModelServer> {
  const stats = { requests: 0, peak: 0, arrivals: [] as number[] };
  let open = 0;
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
    req.resume();
    req.on('end', () => {
      stats.arrivals.push(Date.now());
      stats.peak = Math.max(stats.peak, ++open);
      setTimeout(() => {
        open--;
        stats.requests++;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const piece of ['The code ', 'looks fine.']) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece } }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 100, completion_tokens: 4, total_tokens: 104 } })}\n\n`);
        res.end('data: [DONE]\n\n');
      }, delayMs);
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}/v1`, stats, close: () => new Promise((r) => server.close(() => r())) };
}
