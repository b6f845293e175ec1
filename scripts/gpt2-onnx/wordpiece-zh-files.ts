// A Chinese character vocabulary in BERT's WordPiece format (vocab.txt, tokenizer.json,
// tokenizer_config.json), laid out as the Chinese GPT-2 models built on bert-base-chinese's
// vocabulary ship it (uer/gpt2-chinese-*: BertTokenizer, [CLS]/[SEP], one token per CJK character).
// The characters are the CJK Unified Ideographs block U+4E00..U+9FA5, as in bert-base-chinese.
import type { TokenizerFiles } from './tokenizer-files';

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const CJK_FIRST = 0x4e00;
const CJK_LAST = 0x9fa5;
/** Full-width punctuation of Chinese text, each its own token as BERT's pre-tokenizer splits it. */
const CJK_PUNCTUATION = '，。！？、；：“”‘’（）《》【】…—·';

/** vocab.txt order: specials, ASCII printable, `##` + ASCII letters and digits, Chinese punctuation, the CJK block. */
function vocabulary(): string[] {
  const ascii = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i));
  const continuations = ascii.filter((c) => /[A-Za-z0-9]/.test(c)).map((c) => `##${c}`);
  const cjk = Array.from({ length: CJK_LAST - CJK_FIRST + 1 }, (_, i) => String.fromCharCode(CJK_FIRST + i));
  return [...SPECIAL, ...ascii, ...continuations, ...CJK_PUNCTUATION, ...cjk];
}

export function wordpieceZhTokenizerFiles(modelMaxLength: number): TokenizerFiles {
  const tokens = vocabulary();
  const vocab = Object.fromEntries(tokens.map((token, id) => [token, id]));
  const id = (token: (typeof SPECIAL)[number]) => vocab[token] as number;
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((content) => ({ id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: false },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    // BertTokenizerFast's: the engine encodes user text without it (add_special_tokens false).
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const tokenizerConfig = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: false,
    tokenize_chinese_chars: true,
    strip_accents: null,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    model_max_length: modelMaxLength,
  };
  return {
    files: {
      'vocab.txt': `${tokens.join('\n')}\n`,
      'tokenizer.json': JSON.stringify(tokenizerJson),
      'tokenizer_config.json': JSON.stringify(tokenizerConfig, null, 2),
      'special_tokens_map.json': JSON.stringify({ cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]' }, null, 2),
    },
    vocabSize: tokens.length,
    // config.json names [CLS] as BOS and [SEP] as EOS: a generation ends at [SEP].
    bosTokenId: id('[CLS]'),
    eosTokenId: id('[SEP]'),
  };
}
