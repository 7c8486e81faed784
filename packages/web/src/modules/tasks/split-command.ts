/**
 * Splits a command line the way a POSIX shell splits words, without expanding anything: whitespace
 * separates words; single quotes keep everything literally; double quotes keep whitespace and honour
 * `\"`, `\\`, `\$` and `` \` ``; a backslash outside quotes escapes the next character.
 * Throws on an unterminated quote so the form can say so.
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const ch = line[i] as string;
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error('a single quote is not closed');
      current += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i += 1;
      let closed = false;
      while (i < line.length) {
        const c = line[i] as string;
        if (c === '"') {
          closed = true;
          i += 1;
          break;
        }
        if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1] as string)) {
          current += line[i + 1];
          i += 2;
        } else {
          current += c;
          i += 1;
        }
      }
      if (!closed) throw new Error('a double quote is not closed');
      inWord = true;
    } else if (ch === '\\') {
      if (i + 1 < line.length) current += line[i + 1];
      inWord = true;
      i += 2;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
      i += 1;
    } else {
      current += ch;
      inWord = true;
      i += 1;
    }
  }
  if (inWord) words.push(current);
  return words;
}
