import { createModelRepository, mlpVersion, rows } from './origin/src/testing/fixtures.ts';
import { startOriginServer } from './origin/src/server.ts';
import { encodeInferRequest, decodeInferResponse } from './shared/protocol/index.ts';
const repo = await createModelRepository([mlpVersion('mlp', '1')]);
const t0 = performance.now();
const { server, url } = await startOriginServer({ modelRepository: repo.root, logLevel: 'info' });
console.log('started in', performance.now() - t0, url);
for (const p of ['/v2/health/ready', '/v2', '/v2/models/mlp', '/v2/models/nope']) {
  const r = await fetch(url + p); console.log(p, r.status, (await r.text()).slice(0, 300));
}
const enc = encodeInferRequest({ inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 1024], data: rows(2, 1024) }], binaryOutput: true });
const r = await fetch(url + '/v2/models/mlp/infer', { method: 'POST', body: enc.body, headers: { 'content-type': enc.contentType, 'inference-header-content-length': String(enc.headerLength) } });
console.log(r.status, [...r.headers]);
const resp = decodeInferResponse(new Uint8Array(await r.arrayBuffer()), r.headers.get('inference-header-content-length'));
console.log(resp.outputs[0]);
const j = await fetch(url + '/v2/models/mlp/infer', { method: 'POST', body: JSON.stringify({inputs:[{name:'input',datatype:'FP32',shape:[1,1024],data:Array.from(rows(1,1024))}]}), headers: { 'content-type': 'application/json' } });
console.log(j.status, await j.text());
const bad = await fetch(url + '/v2/models/mlp/infer', { method: 'POST', body: '{bad', headers: { 'content-type': 'application/json' } });
console.log(bad.status, [...bad.headers], await bad.text());
console.log((await (await fetch(url + '/metrics')).text()).split('\n').filter(l => l.startsWith('nv_')).join('\n'));
await server.stop();
await repo.cleanup();
console.log('stopped');
