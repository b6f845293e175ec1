// Jest environment for tests that run onnxruntime-node: jest gives each test file its own typed-array
// constructors, but the native binding builds output tensors with Node's, which then fail
// onnxruntime-common's `instanceof Float32Array` check ("data must be type of Float32Array").
// Use with a `@jest-environment ./test/support/onnx-environment.js` docblock (or as testEnvironment).
const { TestEnvironment } = require('jest-environment-node');

const SHARED_CONSTRUCTORS = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Float16Array',
];

class OnnxEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED_CONSTRUCTORS) {
      if (name in globalThis) this.global[name] = globalThis[name];
    }
  }
}

module.exports = OnnxEnvironment;
