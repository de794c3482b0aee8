export type { Advice, NativeIO } from './native-io.js';
export { RealNativeIO, realNativeIO } from './real-native-io.js';
export { errnoError, errnoName } from './errno.js';
