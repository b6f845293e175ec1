import { maxBatchSize, parseDeploymentSpec, SpecError, TARGET_DEFAULTS } from '../../infra/spec';

describe('parseDeploymentSpec', () => {
  it('fills per-target defaults for GPU type and region', () => {
    const spec = parseDeploymentSpec({ name: 'gpt2-dev', target: 'gcp' });
    expect(spec.compute.gpuType).toBe(TARGET_DEFAULTS.gcp.gpuType);
    expect(spec.region).toBe('europe-west4');
    expect(spec.variant).toBe('inference');
    expect(spec.scaling).toMatchObject({ minReplicas: 1, maxReplicas: 4 });
  });

  it('keeps explicit values over defaults', () => {
    const spec = parseDeploymentSpec({ name: 'gpt2-dev', target: 'aws', region: 'eu-west-1', compute: { gpuType: 'g5.xlarge' } });
    expect(spec.region).toBe('eu-west-1');
    expect(spec.compute.gpuType).toBe('g5.xlarge');
  });

  it('names every wrong field in one error', () => {
    const bad = { name: 'X', target: 'aws', scaling: { minReplicas: 5, maxReplicas: 2 }, unknownField: 1 };
    expect(() => parseDeploymentSpec(bad, 'deploy/bad.json')).toThrow(SpecError);
    try {
      parseDeploymentSpec(bad, 'deploy/bad.json');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('deploy/bad.json');
      expect(message).toContain('name:');
      expect(message).toContain('scaling.maxReplicas: maxReplicas must be >= minReplicas');
      expect(message).toContain('unknownField');
    }
  });

  it('makes endpoints private unless the spec says public, with TLS required and the playground on', () => {
    const spec = parseDeploymentSpec({ name: 'gpt2-dev', target: 'aws' });
    expect(spec.endpoint).toEqual({ public: false, allowHttp: false, playground: true });
    expect(parseDeploymentSpec({ name: 'gpt2-dev', target: 'aws', endpoint: { public: true } }).endpoint.public).toBe(true);
  });

  it('leaves the inference keys to the stack unless the spec names an existing secret', () => {
    expect(parseDeploymentSpec({ name: 'gpt2-dev', target: 'aws' }).auth).toEqual({});
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:gpt2-keys-AbC123';
    expect(parseDeploymentSpec({ name: 'gpt2-dev', target: 'aws', auth: { apiKeysSecret: arn } }).auth.apiKeysSecret).toBe(arn);
    expect(() => parseDeploymentSpec({ name: 'gpt2-dev', target: 'aws', auth: { apiKeysSecret: '' } })).toThrow(/auth\.apiKeysSecret/);
  });

  it('rejects an unknown target', () => {
    expect(() => parseDeploymentSpec({ name: 'gpt2-dev', target: 'heroku' })).toThrow(/target/);
  });
});

describe('auth and batch size', () => {
  it('leaves auth.apiKeysSecret unset unless given, so stacks create the key secret', () => {
    expect(parseDeploymentSpec({ name: 'gpt2-dev', target: 'gcp' }).auth.apiKeysSecret).toBeUndefined();
    const given = parseDeploymentSpec({ name: 'gpt2-dev', target: 'gcp', auth: { apiKeysSecret: 'projects/p/secrets/keys' } });
    expect(given.auth.apiKeysSecret).toBe('projects/p/secrets/keys');
  });

  it('runs as many sequences per replica as the autoscaler targets', () => {
    expect(maxBatchSize(parseDeploymentSpec({ name: 'gpt2-dev', target: 'azure', scaling: { targetConcurrency: 12 } }))).toBe(12);
  });
});
