// Setup of the server_nonfinite test: a random-weight `tiny` checkpoint whose embedding rows are NaN for
// the tokens of one rare word (the marker), so that exactly the requests containing it produce NaN. Writes
// DIR/nonfinite.json: {marker, bad_ids, clean_ids} (clean_ids: the clean chat prompt's ids, none of them
// bad). Made once per build folder (the generator is deterministic).
//
// Usage: node make_nonfinite_model.mjs TACHYON_BIN DIR
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const [bin, dir] = process.argv.slice(2);
if (!bin || !dir) throw new Error('usage: node make_nonfinite_model.mjs TACHYON_BIN DIR');
if (fs.existsSync(path.join(dir, 'nonfinite.json'))) process.exit(0);

const MARKER = 'Zyzzyva';
const CLEAN_CHAT = [{ role: 'user', content: 'Say hello.' }];
const BAD_CHAT = [{ role: 'user', content: `Say ${MARKER}.` }];

const tmp = `${dir}.tmp`;
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.dirname(dir), { recursive: true });
execFileSync(bin, ['make-tiny-model', '--preset', 'tiny', '--seed', '7', '--out', tmp, '--threads', '2'], { stdio: 'ignore' });

function promptIds(messages) {
  const out = execFileSync(bin, ['chat-prompt', '--jsonl', '--tokenizer', tmp], {
    input: JSON.stringify({ request: { messages } }) + '\n',
  });
  return JSON.parse(out.toString()).prompt_ids;
}
const clean = promptIds(CLEAN_CHAT);
const bad = [...new Set(promptIds(BAD_CHAT).filter((id) => !clean.includes(id)))];
if (bad.length === 0) throw new Error(`the marker ${MARKER} shares every token with the clean prompt`);

// The embedding: BF16 [vocab, hidden] in model.safetensors; NaN is 0x7FC0 (little-endian C0 7F).
const file = path.join(tmp, 'model.safetensors');
const fd = fs.openSync(file, 'r+');
const len = Buffer.alloc(8);
fs.readSync(fd, len, 0, 8, 0);
const headerLen = Number(len.readBigUInt64LE(0));
const header = Buffer.alloc(headerLen);
fs.readSync(fd, header, 0, headerLen, 8);
const embed = JSON.parse(header.toString())['embed.weight'];
if (!embed || embed.dtype !== 'BF16') throw new Error('no BF16 embed.weight');
const hidden = embed.shape[1];
const row = Buffer.alloc(hidden * 2);
for (let i = 0; i < hidden; i++) row.writeUInt16LE(0x7fc0, 2 * i);
for (const id of bad) fs.writeSync(fd, row, 0, row.length, 8 + headerLen + embed.data_offsets[0] + id * hidden * 2);
fs.closeSync(fd);

fs.writeFileSync(path.join(tmp, 'nonfinite.json'),
                 JSON.stringify({ marker: MARKER, clean_chat: CLEAN_CHAT, bad_chat: BAD_CHAT, bad_ids: bad, clean_ids: clean }));
fs.rmSync(dir, { recursive: true, force: true });
fs.renameSync(tmp, dir);
