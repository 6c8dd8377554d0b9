// Status codes shared by the module and the host (host/runtime.ts turns them into sentences).
export const OK: i32 = 0;
export const NOT_INITIALIZED: i32 = 1; // init() has not succeeded
export const PLAN_BAD_MAGIC: i32 = 2; // the plan block does not start with the plan magic
export const PLAN_BAD_VERSION: i32 = 3; // the plan block is of another version
export const PLAN_BAD_DIMS: i32 = 4; // dimensions are zero, negative or inconsistent
export const PLAN_OUT_OF_MEMORY: i32 = 5; // a planned region ends beyond this module's memory
export const STATIC_TOO_LARGE: i32 = 6; // the module's static data overlaps the plan
export const CONTEXT_FULL: i32 = 7; // no cache row left for another token
export const BAD_TOKEN: i32 = 8; // token id outside the vocabulary, or an empty prompt
