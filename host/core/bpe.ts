/**
 * Rank-ordered BPE merging of one word: repeatedly merge the adjacent pair of lowest rank, the leftmost on
 * ties, until no listed pair is adjacent. A binary heap over adjacent pairs and a linked list of symbols make
 * it O(n log n); stale heap entries are skipped by comparing version counters.
 */

/** `rank(a, b)`: the merge rank of the pair, lower merges first; undefined when the pair is not a merge. */
export function mergeByRank<T>(symbols: readonly T[], rank: (a: T, b: T) => number | undefined, join: (a: T, b: T) => T): T[] {
  const n = symbols.length;
  if (n < 2) return symbols.slice();
  const sym = symbols.slice();
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  const version = new Int32Array(n); // bumped when a symbol changes or dies
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  // heap entries: [rank, left position, left version, right version]
  const heap: [number, number, number, number][] = [];
  const less = (x: [number, number, number, number], y: [number, number, number, number]) => x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
  const push = (e: [number, number, number, number]) => {
    heap.push(e);
    for (let i = heap.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!less(heap[i], heap[p])) break;
      [heap[i], heap[p]] = [heap[p], heap[i]];
      i = p;
    }
  };
  const pop = () => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l], heap[m])) m = l;
        if (r < heap.length && less(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  };
  const offer = (i: number) => {
    const j = next[i];
    if (j < 0) return;
    const r = rank(sym[i], sym[j]);
    if (r !== undefined) push([r, i, version[i], version[j]]);
  };
  for (let i = 0; i + 1 < n; i++) offer(i);
  while (heap.length > 0) {
    const [, i, vi, vj] = pop();
    const j = next[i];
    if (version[i] !== vi || j < 0 || version[j] !== vj) continue;
    sym[i] = join(sym[i], sym[j]);
    version[i]++;
    version[j]++;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    next[j] = -1;
    if (prev[i] >= 0) offer(prev[i]);
    offer(i);
  }
  const out: T[] = [];
  for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
  return out;
}
