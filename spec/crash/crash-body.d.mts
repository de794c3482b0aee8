/** Types of crash-body.mjs (plain JS so the forked child can load it without a TypeScript loader). */
export declare const CRASH_TOPIC: 'crash';
export declare const CRASH_QUEUE_COUNT: number;
export declare const BODY_SIZE_MIN_BYTES: number;
export declare const BODY_SIZE_MAX_BYTES: number;
export declare const SEQ_ROUND_STRIDE: number;
export declare function mulberry32(seed: number): () => number;
export declare function crashBody(seq: number): Buffer;
export declare function crashQueueId(seq: number): number;
export declare function crashMessage(seq: number): { topic: string; queueId: number; body: Buffer; properties: { seq: string } };
