// How the proxy checks a rediss:// server's certificate (REDIS_TLS_VERIFY). The chain is always
// verified against Node's trust store and REDIS_CA_FILE's CAs (or NODE_EXTRA_CA_CERTS's). `full` then checks the
// name as Node does, with one case Node refuses: a host given as an IP address also matches a
// certificate that names that address only as its subject CN and lists no IP address at all, which is
// what Memorystore for Redis issues (CN = the instance's IP). `chain` skips the name check.
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';

export type TlsVerify = 'full' | 'chain';

function listsIpAddresses(cert: PeerCertificate): boolean {
  return (cert.subjectaltname ?? '').split(',').some((entry) => entry.trim().startsWith('IP Address:'));
}

/** The `checkServerIdentity` for tls.connect: undefined accepts, an Error refuses. */
export function serverIdentityCheck(verify: TlsVerify): (host: string, cert: PeerCertificate) => Error | undefined {
  if (verify === 'chain') return () => undefined;
  return (host, cert) => {
    const refused = checkServerIdentity(host, cert);
    if (refused === undefined) return undefined;
    if (isIP(host) !== 0 && !listsIpAddresses(cert) && cert.subject?.CN === host) return undefined;
    return refused;
  };
}
