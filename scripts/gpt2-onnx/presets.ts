// The GPT-2 shapes `model:make` can write: `tiny` for tests, `gpt2` for GPT-2-small-sized benchmarks.

export interface Gpt2Shape {
  readonly nLayer: number;
  readonly nHead: number;
  readonly nEmbd: number;
  readonly nPositions: number;
  readonly vocabSize: number;
  /** Standard deviation of the random weights; 0.3 rather than GPT-2's 0.02 so greedy output varies. */
  readonly initStd: number;
}

export const PRESETS = {
  tiny: { nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 1024, vocabSize: 50257, initStd: 0.3 },
  gpt2: { nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257, initStd: 0.3 },
} as const satisfies Record<string, Gpt2Shape>;

export type PresetName = keyof typeof PRESETS;

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** GPT-2's `<|endoftext|>`: both BOS and EOS. */
export const END_OF_TEXT_ID = 50256;
