// Bearer-key authentication: which configured client (by name) a request's key belongs to.
// Keys are held only as sha256 digests; a presented key is hashed and its digest looked up.
import { createHash } from 'node:crypto';
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
  // Looked up by digest, not by comparing the presented key with each entry: one hash per request
  // whatever the number of keys, and what a lookup's timing could reveal is about the digest of the
  // caller's own guess, which says nothing about any configured key.
  const byDigest = new Map<string, ClientIdentity>();
  for (const { name, sha256 } of keys) {
    const digest = sha256.toLowerCase();
    if (!SHA256_HEX.test(digest)) {
      throw new Error(`Key "${name}" has an invalid sha256 (${sha256}): expected 64 hex characters, e.g. from hashKey(key)`);
    }
    // Two entries with one digest: the first configured wins.
    if (!byDigest.has(digest)) byDigest.set(digest, Object.freeze({ name }));
  }
  return {
    enabled: byDigest.size > 0,
    identify: (bearerToken: string): ClientIdentity | undefined => byDigest.get(hashKey(bearerToken)),
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
