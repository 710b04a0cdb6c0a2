/** What edge/test/global-setup.ts hands to the workerd tests and vitest.config.ts through provide/inject. */
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The tiny test student (test/fixtures/tiny-student.ts), base64. */
    tinyStudentB64: string;
    tinyStudentSha256: string;
    /** The tiny tensor student (no featurizer: x float32 [batch, 3] -> probabilities), base64. */
    tinyTensorStudentB64: string;
    /** The tiny mixed-datatype student (INT64, INT32, UINT8, BOOL, FP16 inputs), base64. */
    tinyMixedStudentB64: string;
    /**
     * JSON {stable, shuffled, texts}: the latest real spam release and the shuffled-labels fixture
     * (test/fixtures/models) as {manifest, student, seenIds} (base64), and 40 labelled test-split messages.
     */
    spamRollout: string;
    /** A release made by the import path from generated models (JSON: {manifest, student: base64}). */
    importedRelease: string;
    /** The loopback fake-origin factory (test/node/fake-origins.ts). */
    fakeOriginControl: string;
    /** The Upstash REST bridge in front of a real Redis. */
    upstashUrl: string;
    upstashToken: string;
    /** Print the contract checks' count after each test file (CONTRACT_REPORT=1). */
    contractReport: boolean;
  }
}
