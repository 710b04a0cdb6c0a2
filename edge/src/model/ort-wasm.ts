/**
 * onnxruntime-web inside workerd, in one small file (see FACTS.md "onnxruntime-web inside workerd").
 *
 * Workers refuse to compile WebAssembly from bytes at run time and refuse ORT's dynamic `import()` of its glue.
 * So: the `onnxruntime-web/wasm` entry (bundled glue, no dynamic import) plus ORT's .wasm imported as a module,
 * which wrangler's default rule turns into a precompiled `WebAssembly.Module`. ORT has no option that takes a
 * Module: it gets a placeholder `wasmBinary` (so it never looks for a script URL), and while the first session
 * is created a wrapper around `WebAssembly.instantiate` swaps the placeholder for the imported Module.
 *
 * ORT is pinned exactly (package.json); edge/src/model/ort-wasm.test.ts fails if an upgrade breaks this.
 */

import ortWasmModule from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import * as ort from 'onnxruntime-web/wasm';

export type { InferenceSession, Tensor } from 'onnxruntime-web/wasm';
export { ort };

/** The wasm magic number and version: a non-empty stand-in ORT passes through to `WebAssembly.instantiate`. */
const PLACEHOLDER = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

let configured = false;

function configure(): void {
  if (configured) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = PLACEHOLDER;
  ort.env.logLevel = 'error';
  configured = true;
}

const original = WebAssembly.instantiate;
let patchDepth = 0;
/** How long the last instantiation of ORT's module took, ms (the cold-start phase `wasm_instantiate_ms`). */
let instantiateMs: number | undefined;

/** The time of ORT's wasm instantiation since the last call, ms; undefined when none happened. */
export function takeInstantiateMs(): number | undefined {
  const ms = instantiateMs;
  instantiateMs = undefined;
  return ms;
}

/** Answers ORT's placeholder bytes with the precompiled Module, in the `{instance, module}` shape it expects. */
async function instantiatePrecompiled(source: unknown, imports?: WebAssembly.Imports): Promise<unknown> {
  if (source instanceof WebAssembly.Module) return original(source, imports);
  const started = performance.now();
  const instance = await original(ortWasmModule, imports);
  instantiateMs = performance.now() - started;
  return { instance, module: ortWasmModule };
}

/** Runs `create` with `WebAssembly.instantiate` patched; nested or concurrent calls share one patch. */
async function withPrecompiledModule<T>(create: () => Promise<T>): Promise<T> {
  if (patchDepth++ === 0) (WebAssembly as { instantiate: unknown }).instantiate = instantiatePrecompiled;
  try {
    return await create();
  } finally {
    if (--patchDepth === 0) (WebAssembly as { instantiate: unknown }).instantiate = original;
  }
}

/** Creates an ORT-web session (WASM EP, one thread) from model bytes; ORT initializes on the first call. */
export function createOrtSession(model: Uint8Array): Promise<ort.InferenceSession> {
  configure();
  return withPrecompiledModule(() =>
    ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
  );
}
