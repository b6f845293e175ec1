// Route kinds: API routes are authenticated, gated on readiness and draining, and tracked in flight;
// operational routes (health, readiness, metrics) are always answered.

export interface RouteKind {
  readonly kind: 'api' | 'ops';
}

export const API_ROUTE: RouteKind = { kind: 'api' };
export const OPS_ROUTE: RouteKind = { kind: 'ops' };

export function isApiRoute(config: unknown): boolean {
  return (config as Partial<RouteKind> | undefined)?.kind === 'api';
}
