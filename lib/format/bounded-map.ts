/**
 * A memo with a limit: `remember` inserts, and when the map already holds
 * `entriesMax` entries it first drops the oldest insertion (Map iterates in
 * insertion order). The codec keeps its caches of encoded topics and hosts in
 * these; a cache is never observable except as speed.
 */
export function remember<K, V>(map: Map<K, V>, key: K, value: V, entriesMax: number): V {
  if (map.size >= entriesMax) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
  map.set(key, value);
  return value;
}
