/**
 * A strict reader of the Prometheus text format for tests: every sample must follow a
 * TYPE line of its family; labels are sorted so tests need not know the printed order.
 */
/** Prometheus text → sample name{labels} → value (HELP/TYPE lines checked for every sample). */
export function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      typed.add(t[1] as string);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const name = m[1] as string;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (!typed.has(name) && !typed.has(family)) throw new Error(`sample without TYPE: ${line}`);
    samples.set(`${name}${sortLabels(m[2])}`, Number(m[3]));
  }
  return samples;
}

/** `{b="2",a="1"}` → `{a="1",b="2"}`, so that tests need not know the order labels are printed in. */
function sortLabels(braced: string | undefined): string {
  if (!braced) return '';
  const pairs = braced.slice(1, -1).match(/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"/g) ?? [];
  return `{${pairs.sort().join(',')}}`;
}
