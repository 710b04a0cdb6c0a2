/** A small OIP client for tests and tools: binary or JSON inference over fetch. */
import {
  decodeInferResponse,
  encodeInferRequest,
  type InferResponse,
  type Tensor,
} from '../../shared/protocol/index.ts';

export interface InferCall {
  status: number;
  headers: Headers;
  /** Decoded response when 200. */
  response?: InferResponse;
  /** Parsed JSON body otherwise. */
  error?: { error: { code: string; message: string; request_id: string } };
}

/** POSTs an inference request (binary tensors in and out by default) and decodes the answer. */
export async function infer(
  url: string,
  inputs: Tensor[],
  options: {
    binary?: boolean;
    headers?: Record<string, string>;
    path?: string;
    id?: string;
    parameters?: Record<string, unknown>;
  } = {},
): Promise<InferCall> {
  const binary = options.binary ?? true;
  const body = encodeInferRequest({
    inputs,
    binaryInputs: binary,
    binaryOutput: binary,
    ...(options.id === undefined ? {} : { id: options.id }),
    ...(options.parameters === undefined ? {} : { parameters: options.parameters }),
  });
  const headers: Record<string, string> = { 'content-type': body.contentType, ...options.headers };
  if (body.headerLength !== undefined) headers['inference-header-content-length'] = String(body.headerLength);
  const res = await fetch(`${url}${options.path ?? ''}`, {
    method: 'POST',
    body: body.body as BodyInit,
    headers,
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status === 200) {
    return {
      status: 200,
      headers: res.headers,
      response: decodeInferResponse(bytes, res.headers.get('inference-header-content-length')),
    };
  }
  return { status: res.status, headers: res.headers, error: JSON.parse(new TextDecoder().decode(bytes)) };
}
