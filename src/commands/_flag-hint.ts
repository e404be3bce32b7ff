/**
 * The hint for an unknown flag (or agent name): the one it most likely meant. Runs only on that error,
 * so it may take its time; what it knows is the words people and models reach for first.
 */

/** Words for a flag that a command may call otherwise, each with the flags it could mean, most likely first. */
const SYNONYMS: Record<string, string[]> = {
  capabilities: ["caps", "cap"],
  capability: ["cap", "caps"],
  skills: ["caps", "cap"],
  skill: ["cap", "caps"],
  message: ["task", "content", "result", "note", "msg-id"],
  prompt: ["task", "content"],
  text: ["task", "content", "result", "note"],
  body: ["task", "content", "result"],
  instructions: ["task"],
  agent: ["to", "as"],
  recipient: ["to"],
  target: ["to"],
  worker: ["to"],
  name: ["to", "as"],
  identity: ["as"],
  id: ["msg-id", "id"],
  "task-id": ["msg-id", "id"],
  taskid: ["msg-id", "id"],
  "message-id": ["msg-id", "id"],
  msgid: ["msg-id", "id"],
  msg: ["msg-id"],
  task: ["msg-id"],
  answer: ["result"],
  response: ["result"],
  output: ["result", "json"],
  format: ["json"],
  file: ["file", "task-file", "result-file", "output"],
  path: ["file", "output", "key"],
  out: ["output"],
  version: ["if-version"],
  lease: ["ttl"],
  expires: ["ttl"],
  timeout: ["wait"],
  "wait-timeout": ["timeout", "wait"],
  url: ["relay"],
  server: ["relay"],
  host: ["relay"],
  state: ["status"],
  status: ["state"],
  limit: ["max"],
  max: ["limit"],
};

/** Edits (insert, delete, replace, swap two neighbours) between two words. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The flag (as typed after `--`, without it) of `known` that `given` most likely meant, if any. */
export function nearestFlag(given: string, known: string[]): string | undefined {
  const word = given.toLowerCase().replace(/_/g, "-");
  if (known.includes(word)) return word;
  for (const candidate of (Object.hasOwn(SYNONYMS, word) && SYNONYMS[word]) || []) if (known.includes(candidate)) return candidate;
  return nearestWord(word, known);
}

/** The word of `known` a slip of the keyboard away from `word`, or that it cuts short (or runs past). */
export function nearestWord(word: string, known: string[]): string | undefined {
  // Two or three letters are one slip from many words (`--js` from `--as`): the word they start is the likelier one.
  if (word.length >= 2 && word.length <= 3) {
    const started = known.find((w) => w.length > word.length && w.startsWith(word));
    if (started) return started;
  }
  let best: string | undefined;
  let bestDistance = word.length <= 4 ? 1 : 2;
  for (const w of known) {
    const d = distance(word, w);
    if (d <= bestDistance && (best === undefined || d < bestDistance)) [best, bestDistance] = [w, d];
  }
  if (best) return best;
  // A word cut short, or one with a word too many: `--idempotency` for `--idempotency-key`.
  if (word.length >= 3) return known.find((w) => w.startsWith(word) || (w.length >= 3 && word.startsWith(w)));
  return undefined;
}
