import { once } from 'node:events';
import { connect } from 'node:net';
import { containerAppsLifecycle, INGRESS_IDLE_TIMEOUT_SECONDS } from '../../../infra/azure/platform';
import { cloudRunLifecycle, FRONT_END_KEEPALIVE_SECONDS } from '../../../infra/gcp/platform';
import { plainEnvironment } from '../../../infra/pulumi/workload';
import { parseDeploymentSpec } from '../../../infra/spec';
import { loadConfig } from '../../../service/config';
import { serverTimeouts } from '../../../service/http/server-timeouts';
import { createFakeBackend } from '../../support/fake-backend';
import { startTestServer } from '../../support/http-server';

describe('serverTimeouts', () => {
  it('orders keep-alive < headers timeout <= request timeout for any keep-alive', () => {
    for (const seconds of [1, 75, 605, 3600]) {
      const timeouts = serverTimeouts(seconds);
      expect(timeouts.keepAliveMs).toBe(seconds * 1000);
      expect(timeouts.headersMs).toBeGreaterThan(timeouts.keepAliveMs);
      expect(timeouts.requestMs).toBeGreaterThanOrEqual(timeouts.headersMs);
    }
  });

  it.each([
    ['Container Apps', 'azure', containerAppsLifecycle, INGRESS_IDLE_TIMEOUT_SECONDS],
    ['Cloud Run', 'gcp', cloudRunLifecycle, FRONT_END_KEEPALIVE_SECONDS],
  ] as const)('keeps idle connections open longer than the %s front end, from the environment its stack sets', (_name, target, lifecycle, frontEndIdleSeconds) => {
    const spec = parseDeploymentSpec({ name: 'keepalive', target });
    const config = loadConfig(plainEnvironment(spec, lifecycle(spec)));
    const timeouts = serverTimeouts(config.keepAliveTimeoutSeconds);
    expect(timeouts.keepAliveMs).toBeGreaterThan(frontEndIdleSeconds * 1000);
    expect(timeouts.headersMs).toBeGreaterThan(timeouts.keepAliveMs);
  });
});

describe('the HTTP server', () => {
  it('defaults to a 75 s keep-alive, headers just above it, and says so in the Keep-Alive header', async () => {
    const server = await startTestServer(createFakeBackend());
    try {
      expect(server.built.app.server).toMatchObject({ keepAliveTimeout: 75_000, headersTimeout: 76_000, requestTimeout: 136_000 });
      // Past Node's and fastify's 72 s default, which is shorter than most load balancers' idle timeouts.
      expect(server.built.app.server.keepAliveTimeout).toBeGreaterThan(72_000);
      const response = await fetch(`${server.url}/health`);
      expect(response.headers.get('keep-alive')).toBe('timeout=75');
    } finally {
      await server.close();
    }
  });

  it('closes a kept-alive connection once it has been idle for the keep-alive timeout, not before', async () => {
    const server = await startTestServer(createFakeBackend(), { timeouts: { keepAliveMs: 1000, headersMs: 2000, requestMs: 62_000 } });
    try {
      const { port } = new URL(server.url);
      const socket = connect(Number(port), '127.0.0.1');
      await once(socket, 'connect');
      const closed = once(socket, 'close');
      let received = '';
      const responded = new Promise<number>((resolve) => {
        socket.on('data', (chunk: Buffer) => {
          received += chunk.toString('utf8');
          if (received.includes('{"status":"ok"}')) resolve(Date.now());
        });
      });
      socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
      const respondedAt = await responded;
      await closed;
      const idleMs = Date.now() - respondedAt;
      expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received.toLowerCase()).toContain('keep-alive: timeout=1');
      // Node's timers never fire early; the small allowance is for the response's own delivery.
      expect(idleMs).toBeGreaterThanOrEqual(950);
    } finally {
      await server.close();
    }
  });
});
