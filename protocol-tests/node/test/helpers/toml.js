// The herald configs the tests write: top-level keys, then one [[apps]] table per app with
// its [[apps.webhooks]]. Values are strings, integers, booleans, arrays and inline tables;
// an undefined value leaves its key out.

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v); // TOML basic strings accept JSON escapes
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`TOML writer: only integers are used, got ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (v && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)} = ${tomlValue(x)}`).join(', ')} }`;
  throw new Error(`TOML writer: unsupported value ${v}`);
}

function keys(lines, table) {
  for (const [k, v] of Object.entries(table)) if (v !== undefined) lines.push(`${k} = ${tomlValue(v)}`);
}

/** `top`'s keys, then each of `apps` (an app's `webhooks` become [[apps.webhooks]] tables). */
export function toToml(top, apps = []) {
  const lines = [];
  keys(lines, top);
  for (const { webhooks = [], ...fields } of apps) {
    lines.push('', '[[apps]]');
    keys(lines, fields);
    for (const hook of webhooks) {
      lines.push('', '[[apps.webhooks]]');
      keys(lines, hook);
    }
  }
  return `${lines.join('\n')}\n`;
}
