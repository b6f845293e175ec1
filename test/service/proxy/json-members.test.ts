// Finding a JSON object's top-level members in its text and editing one in place: everything else
// stays byte for byte (nested braces and quotes in strings, escapes, spacing, number spellings).
import { editMembers, topLevelMembers } from '../../../service/proxy/json-members';

const edit = (text: string, key: string, value: unknown) => editMembers(text, topLevelMembers(text), [{ key, json: JSON.stringify(value) }]);

describe('topLevelMembers', () => {
  it('finds each top-level key and its value span, skipping braces, brackets and quotes inside strings', () => {
    const text = ' {"a" : "x}\\"{[" , "b":{"model":"inner","c":[1,{"d":"]"}]},"model":"gpt-4o","e":-1.5e3, "f":null}';
    const members = topLevelMembers(text);
    expect(members.map((member) => [member.key, text.slice(member.valueStart, member.valueEnd)])).toEqual([
      ['a', '"x}\\"{["'],
      ['b', '{"model":"inner","c":[1,{"d":"]"}]}'],
      ['model', '"gpt-4o"'],
      ['e', '-1.5e3'],
      ['f', 'null'],
    ]);
  });

  it('decodes escaped keys as JSON.parse does', () => {
    expect(topLevelMembers('{"mod\\u0065l":"m"}').map((member) => member.key)).toEqual(['model']);
  });
});

describe('editMembers', () => {
  it('replaces one value and leaves every other byte as it was', () => {
    const text = '{\n  "model": "default",\n  "seed": 12345678901234567890,\n  "temperature": 1.0,\n  "messages": [{"role":"user","content":"hé \\u00e9"}]\n}';
    expect(edit(text, 'model', 'gpt-4o-mini')).toBe(text.replace('"default"', '"gpt-4o-mini"'));
  });

  it('replaces every occurrence of a duplicated key, so the upstream cannot read another value', () => {
    expect(edit('{"model":"a","x":1,"model":"b"}', 'model', 'c')).toBe('{"model":"c","x":1,"model":"c"}');
  });

  it('appends an absent key at the end, in an empty object too', () => {
    expect(edit('{"stream":true}  ', 'stream_options', { include_usage: true })).toBe('{"stream":true,"stream_options":{"include_usage":true}}  ');
    expect(edit('{ }', 'model', 'm')).toBe('{ "model":"m"}');
  });

  it('produces text that parses to the intended object', () => {
    const text = '{"a":[{"b":"}"}],"stream_options":null,"z":"last"}';
    expect(JSON.parse(edit(text, 'stream_options', { include_usage: true }))).toEqual({ a: [{ b: '}' }], stream_options: { include_usage: true }, z: 'last' });
  });
});
