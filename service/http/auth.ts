// Bearer-key authentication: which configured client (by name) a request's key belongs to.
// Keys are held only as sha256 digests and compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientIdentity } from '../backend';

export interface Authenticator {
  /** False when no keys are configured: every request is then anonymous. */
  readonly enabled: boolean;
  /** The client a bearer key belongs to, or undefined for an unknown key. */
  identify(bearerToken: string): ClientIdentity | undefined;
}

/** sha256 of a key as lowercase hex: the form keys are configured and stored in. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

export function createKeyAuthenticator(keys: readonly { name: string; sha256: string }[]): Authenticator {
  const entries = keys.map(({ name, sha256 }) => {
    const digest = sha256.toLowerCase();
    if (!SHA256_HEX.test(digest)) {
      throw new Error(`Key "${name}" has an invalid sha256 (${sha256}): expected 64 hex characters, e.g. from hashKey(key)`);
    }
    return { identity: Object.freeze({ name }), digest: Buffer.from(digest, 'hex') };
  });
  return {
    enabled: entries.length > 0,
    identify(bearerToken: string): ClientIdentity | undefined {
      const presented = createHash('sha256').update(bearerToken, 'utf8').digest();
      // Every entry is compared (no early exit) so the time taken says nothing about which key matched.
      let match: ClientIdentity | undefined;
      for (const entry of entries) {
        if (timingSafeEqual(presented, entry.digest) && match === undefined) match = entry.identity;
      }
      return match;
    },
  };
}

/** Asks `current()` on every request: follows a set of keys that is replaced at runtime (a config reload). */
export function followingAuthenticator(current: () => Authenticator): Authenticator {
  return {
    get enabled() {
      return current().enabled;
    },
    identify: (bearerToken) => current().identify(bearerToken),
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when absent or malformed. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
